package lint

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

// File finds what Dir finds for the same file alone in a directory.
func TestFileAsDir(t *testing.T) {
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", &tickettest.Recorder{})
	check := func(def *rule.Rule) rule.Errors { return def.CheckWriteback(tickets) }
	for name, data := range map[string]string{
		"ok.json":      ruleFile("a", "Disk full", "uptime", ""),
		"literal.json": ruleFile("b", "Disk usage (95%)", "uptime", ""),
		"braces.json":  ruleFile("c", "x", "restart {{ .details.service }}", ""),
		"invalid.json": `{"enabled": "true", "rule_name": "g", "when": {"all": []}, "task_list": [{"task": {"task_type": "remote_shh"}}]}`,
		"notjson.json": `{"enabled": `,
		"writeback.json": strings.Replace(ruleFile("l", "x", "uptime", ""), `"entity_type"`,
			`"on_success": [{"op": "frobnicate"}], "entity_type"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := DirChecked(context.Background(), dir, check)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, p := range rep.Problems {
				p.File = Base(dir, p.File)
				want = append(want, p.String())
			}
			var got []string
			problems := File(name, []byte(data), check, nil)
			for _, p := range problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, want) {
				t.Errorf("File:\n%s\nDir:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if Invalid(problems) != !rep.OK() {
				t.Errorf("Invalid = %v, Dir OK = %v", Invalid(problems), rep.OK())
			}
		})
	}
}

// A rule_name another loaded file defines is an error, unless it is the
// same file; names the classifier would not load are errors.
func TestFileNameAndDuplicates(t *testing.T) {
	others := []rules.File{{Path: "/etc/alexis/rules/disk.json", RuleName: "a", Status: rules.StatusOK}}
	data := []byte(ruleFile("a", "Disk full", "uptime", ""))
	if ps := File("disk.json", data, nil, others); len(ps) != 0 {
		t.Errorf("editing the same file: %v", ps)
	}
	ps := File("other.json", data, nil, others)
	if len(ps) != 1 || ps[0].Path != "rule_name" || !strings.Contains(ps[0].Message, `duplicate rule_name "a", already defined in disk.json`) {
		t.Errorf("duplicate: %v", ps)
	}
	for _, name := range []string{"rule.yaml", ".hidden.json", "../x.json"} {
		if ps := File(name, data, nil, nil); !Invalid(ps) || ps[0].Path != "$" {
			t.Errorf("%s: %v", name, ps)
		}
	}
}
