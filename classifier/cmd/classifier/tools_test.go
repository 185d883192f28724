package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

func TestLintCommand(t *testing.T) {
	rules, _ := filepath.Abs("../../testdata/rules")
	dir := t.TempDir()
	gc, _ := os.ReadFile(filepath.Join(rules, "gc_restart.json"))
	writeFile(t, filepath.Join(dir, "gc.json"), string(gc))
	cfg := writeFile(t, filepath.Join(t.TempDir(), "classifier.yaml"), "rules_dir: "+dir+"\nlisten: x\n")
	tests := []struct {
		name      string
		args      []string
		wantErr   error
		wantLines []string
	}{
		{name: "problems", args: []string{"lint", rules}, wantErr: errProblems, wantLines: []string{
			"bad_regex.json: evaluation_list[0].evaluation.search_text: invalid regular expression: missing closing ): `garbage-(collection`",
			"invalid_json.json: $: not a JSON object",
			"missing_rule_name.json: rule_name: required",
			"lint " + rules + ": 4 rule files: 1 valid, 3 invalid, 0 warnings",
		}},
		{name: "clean", args: []string{"lint", dir}, wantLines: []string{"lint " + dir + ": 1 rule files: 1 valid, 0 invalid, 0 warnings"}},
		{name: "rules_dir from config", args: []string{"lint", "-config", cfg}, wantLines: []string{"lint " + dir + ": 1 rule files"}},
		{name: "json", args: []string{"lint", "-json", dir}, wantLines: []string{`"valid": 1`}},
		{name: "missing directory", args: []string{"lint", filepath.Join(dir, "nope")}, wantErr: errors.New("read rules directory")},
		{name: "two directories", args: []string{"lint", dir, dir}, wantErr: errUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr logtest.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("error %v\n%s", err, stdout.String())
			case tc.wantErr != nil && (err == nil || !errors.Is(err, tc.wantErr) && !strings.Contains(err.Error(), tc.wantErr.Error())):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			for _, want := range tc.wantLines {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestExplainCommand(t *testing.T) {
	rules, _ := filepath.Abs("../../testdata/rules")
	envelope, _ := filepath.Abs("../../testdata/alerts/gc_alert.json")
	bare := writeFile(t, filepath.Join(t.TempDir(), "bare.json"),
		`{"data": {"id": "x1", "tinyId": "7", "description": "Long garbage-collection time", "tags": ["syn.day"], "createdAt": "2026-11-22T11:50:00Z"}}`)
	tests := []struct {
		name      string
		args      []string
		wantErr   string
		wantLines []string
	}{
		{name: "table", args: []string{"explain", "-rules", rules, "-now", "2026-11-22T12:00:00Z", envelope}, wantLines: []string{
			"FILE", "gc_restart.json", "day_duplicator_gc_restart", "matched",
			"bad_regex.json", "invalid", "result: matched (4 rule files: 1 matched, 3 invalid)",
		}},
		{name: "flags after the file", args: []string{"explain", envelope, "-rules", rules}, wantLines: []string{"result: matched"}},
		{name: "OpsGenie answer without alexis", args: []string{"explain", "-rules", rules, bare}, wantLines: []string{
			"evaluation_list[0].evaluation.tags: tags tags_include", `saw ["syn.day"]`, `tag "syn.duplicator" is not on the alert`,
			"result: unmatched",
		}},
		{name: "json", args: []string{"explain", "-json", "-rules", rules, "-now", "2026-11-22T12:00:00Z", envelope}, wantLines: []string{
			`"result": "matched"`, `"unique_value": "42"`, `"status": "invalid"`,
		}},
		{name: "no alert", args: []string{"explain", "-rules", rules}, wantErr: "usage"},
		{name: "bad now", args: []string{"explain", "-rules", rules, "-now", "today", envelope}, wantErr: "-now"},
		{name: "missing alert file", args: []string{"explain", "-rules", rules, "/no/alert.json"}, wantErr: "read alert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr logtest.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			for _, want := range tc.wantLines {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
			if strings.Contains(strings.Join(tc.args, " "), "-json") {
				var v map[string]any
				if err := json.Unmarshal([]byte(stdout.String()), &v); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
		})
	}
}

// A rule file giving a key twice is a lint error naming the file and the
// key's path, and the rule never loads.
func TestLintRefusesDuplicateKeys(t *testing.T) {
	rules, _ := filepath.Abs("../../testdata/rules")
	gc, err := os.ReadFile(filepath.Join(rules, "gc_restart.json"))
	if err != nil {
		t.Fatal(err)
	}
	dup := strings.Replace(string(gc), `"run_command":`, `"run_command": "reboot", "run_command":`, 1)
	if dup == string(gc) {
		t.Fatal("fixture has no run_command")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dup.json"), dup)
	var stdout, stderr logtest.Buffer
	err = run(context.Background(), []string{"lint", dir}, &stdout, &stderr)
	if !errors.Is(err, errProblems) {
		t.Fatalf("error %v, want errProblems\n%s", err, stdout.String())
	}
	for _, want := range []string{"dup.json: task_list[0].task.run_command: duplicate key", "1 rule files: 0 valid, 1 invalid"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}
