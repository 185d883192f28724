package lint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

const valid = `{"enabled": "true", "os_type": "linux", "rule_name": "%s", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["db"], "search_key": "description", "search_text": %q}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": %q %s}}],
 "entity_type": "explicit", "entities": ["app01"]}`

func ruleFile(name, searchText, command, extra string) string {
	return fmt.Sprintf(valid, name, searchText, command, extra)
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a_ok.json":        ruleFile("a", "Disk full", "uptime", ""),
		"b_literal.json":   ruleFile("b", "Disk usage (95%)", "uptime", ""),
		"c_braces.json":    ruleFile("c", "x", "restart {{ .details.service }}", ""),
		"d_reason.json":    ruleFile("d", "x", "uptime", `, "template": true, "unsafe_reason": "none"`),
		"e_eval.json":      ruleFile("e", "x", "ssh backup01 kill {{ .details.pid | int }}", `, "template": true`),
		"f_raw.json":       ruleFile("f", "x", "tar {{ .details.flags | raw_unsafe }}", `, "template": true`),
		"g_invalid.json":   `{"enabled": "true", "rule_name": "g", "when": {"all": []}, "task_list": [{"task": {"task_type": "remote_shh"}}]}`,
		"h_notjson.json":   `{"enabled": `,
		"i_duplicate.json": ruleFile("a", "Disk full", "uptime", ""),
		"j_writeback.json": strings.Replace(ruleFile("j", "x", "uptime", ""), `"entity_type"`,
			`"route_to_team": "ops_unix", "on_success": [{"op": "close"}], "on_failure": [{"op": "add_tags", "values": ["failed"]}], "entity_type"`, 1),
		"k_writeback_ok.json": strings.Replace(ruleFile("k", "x", "uptime", ""), `"entity_type"`,
			`"route_to_team": "ops_unix", "on_success": [{"op": "add_team", "value": "ops_unix"}], "on_failure": [{"op": "escalate", "value": "e"}], "entity_type"`, 1),
		"l_writeback_bad.json": strings.Replace(ruleFile("l", "x", "uptime", ""), `"entity_type"`, `"on_failure": [{"op": "note"}], "entity_type"`, 1),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range rep.Problems {
		p.File = Base(dir, p.File)
		lines = append(lines, p.String())
	}
	out := strings.Join(lines, "\n")
	for _, want := range []string{
		`b_literal.json: evaluation_list[0].evaluation.search_text: warning: regular expression "Disk usage (95%)" does not match its own text`,
		`c_braces.json: task_list[0].task.run_command: warning: contains "{{" but "template" is not true`,
		`d_reason.json: task_list[0].task.unsafe_reason: warning: set, but run_command does not use raw_unsafe`,
		`e_eval.json: task_list[0].task.run_command: warning: a value is passed to a command that runs it as shell code again`,
		`f_raw.json: task_list[0].task.unsafe_reason: required: run_command inserts a value unquoted`,
		`g_invalid.json: when.all: empty`,
		`g_invalid.json: task_list[0].task.task_type: unknown task type "remote_shh"`,
		`g_invalid.json: alert_feed: required`,
		`g_invalid.json: entity_type: required`,
		`h_notjson.json: $: not a JSON object`,
		`i_duplicate.json: rule_name: duplicate rule_name "a"`,
		`j_writeback.json: on_failure: warning: no add_team, add_responder or escalate: a failed remediation is routed to no one`,
		`j_writeback.json: route_to_team: warning: not added when on_success is set`,
		`l_writeback_bad.json: on_failure[0].value: the note text is required`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "k_writeback_ok.json") {
		t.Errorf("problems for a rule with good write-back:\n%s", out)
	}
	if strings.Contains(out, "\na_ok.json") || strings.HasPrefix(out, "a_ok.json") {
		t.Errorf("problems for a clean file:\n%s", out)
	}
	if rep.OK() || rep.Files != 12 || rep.Invalid != 5 || rep.Valid != 7 || rep.Warnings != 6 {
		t.Errorf("report %s", rep.Summary())
	}

	clean := t.TempDir()
	os.WriteFile(filepath.Join(clean, "a.json"), []byte(ruleFile("a", "Disk full", "uptime", "")), 0o644)
	rep, err = Dir(context.Background(), clean)
	if err != nil || !rep.OK() || len(rep.Problems) != 0 || rep.Summary() != "1 rule files: 1 valid, 0 invalid, 0 warnings" {
		t.Errorf("clean dir: %+v, %v", rep, err)
	}
	if _, err := Dir(context.Background(), filepath.Join(clean, "nope")); err == nil {
		t.Error("linted a missing directory")
	}
}

// TestTypedValues: lint refuses alert values where the shell (or the
// program) would read them as code, an option, a program or arithmetic,
// issue 10's exploit first, and accepts typed values where they are inert.
func TestTypedValues(t *testing.T) {
	tests := []struct {
		name, command, wantErr string // wantErr "": valid
	}{
		{"issue 10: token in [[ -gt ]]", "if [[ {{ .details.restarts }} -gt 3 ]]; then systemctl restart app; fi", "inside [[ ]]"},
		{"int in [[ -gt ]]", "if [[ {{ .details.restarts | int }} -gt 3 ]]; then systemctl restart app; fi", ""},
		{"variable into arithmetic", "n={{ .details.restarts }}; (( n > 3 )) && systemctl restart app", "evaluates arithmetic"},
		{"let", "let n={{ .details.n }}", "argument of let"},
		{"declare -i", "declare -i n={{ .details.n }}", "argument of declare"},
		{"array subscript", "a[{{ .details.n }}]=1", "array subscript"},
		{"text as an option value", "tar -cf {{ .details.dir | text }} /srv", "not where text is inert"},
		{"text in [[ ]]", "[[ {{ .details.m | text }} == x ]]", "inside [[ ]]"},
		{"text after logger --", "logger -t alexis -- {{ .details.m | text }}", ""},
		{"text after echo", "echo {{ .details.m | text }}", ""},
		{"text piped", "echo {{ .details.m | text }} | sh", "reads code"},
		{"token piped into xargs", "echo {{ .details.m }} | xargs -I{} sh -c {}", "reads code"},
		{"program from the alert", "sudo {{ .details.prog }}", "where sudo reads the program"},
		{"eval", "eval {{ .details.cmd }}", "runs it as code"},
		{"sh -c", "sh -c 'kill $1' _ {{ .details.pid }}", "runs it as code"},
		{"find -exec", "find /tmp -name {{ .details.n }} -exec {{ .details.prog }} {} +", "where find reads the program"},
		{"typed option values", "sudo -u {{ .details.user }} tar -C {{ .details.dir | path }} -cf /backup/{{ .details.host | host }}.tar .", ""},
		{"bad match pattern", `systemctl restart {{ .details.unit | match "(" }}`, "missing closing )"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "r.json"), []byte(ruleFile("r", "x", tc.command, `, "template": true`)), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Dir(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			var errs []string
			for _, p := range rep.Problems {
				if !p.Warning {
					errs = append(errs, p.Path+": "+p.Message)
				}
			}
			if tc.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("%q refused: %v", tc.command, errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0], tc.wantErr) || !strings.HasPrefix(errs[0], "task_list[0].task.run_command: run_command:1: ") {
				t.Fatalf("%q: problems %v, want one on task_list[0].task.run_command containing %q", tc.command, errs, tc.wantErr)
			}
		})
	}
}

func TestLiteralMistake(t *testing.T) {
	tests := []struct {
		expr string
		warn bool
	}{
		{"Disk full", false},
		{`Disk usage \(95%\)`, false},
		{"Disk usage (95%)", true},
		{"time (12.5 s)", true},
		{"a.b", false}, // matches itself
		{"^Disk (full|empty)$", false},
		{"host[0-9]+", false},
		{"app01.example.com", false},
		{"what?", false}, // matches "what"
		{"[ERROR] disk", true},
		{"^[ERROR] disk", false}, // anchored: written as a regular expression
	}
	for _, tc := range tests {
		if got := literalMistake(tc.expr) != ""; got != tc.warn {
			t.Errorf("literalMistake(%q) = %v, want %v", tc.expr, got, tc.warn)
		}
	}
}

// With the service's ticket systems, a write-back operation the feed's
// system cannot do makes the rule invalid, as when the classifier loads it.
func TestDirChecked(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"close.json": strings.Replace(ruleFile("close", "x", "uptime", ""), `"entity_type"`,
			`"on_success": [{"op": "note", "value": "done"}, {"op": "close"}], "entity_type"`, 1),
		"plain.json": ruleFile("plain", "x", "uptime", ""),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set := ticket.Set{}
	set.Add("OpsGenie", &tickettest.Recorder{Unsupported: []string{ticket.KindClose}})
	rep, err := DirChecked(context.Background(), dir, func(r *rule.Rule) rule.Errors { return r.CheckWriteback(set) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Valid != 1 || rep.Invalid != 1 || len(rep.Problems) != 1 ||
		rep.Problems[0].Path != "on_success[1].op" || !strings.Contains(rep.Problems[0].Message, `cannot do "close"`) {
		t.Errorf("report %+v", rep)
	}
	// Without them, only the rule itself is checked.
	if rep, err := Dir(context.Background(), dir); err != nil || rep.Invalid != 0 {
		t.Errorf("unchecked: %+v, %v", rep, err)
	}
}
