package lint

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretLeaksRefused: the findings (a secret hex-encoded with
// printf, cut with slice, or in a url) make the file invalid, the problem
// naming the file and the field.
func TestSecretLeaksRefused(t *testing.T) {
	dir := t.TempDir()
	files := map[string]struct {
		task map[string]any
		want string
	}{
		"printf.json": {map[string]any{"task_type": "http", "url": "https://lb.example.com/x",
			"headers": map[string]string{"X-Token": `{{ printf "%x" (secret "lb_token") }}`}},
			"printf.json: task_list[0].task.headers.X-Token: "},
		"slice.json": {map[string]any{"task_type": "http", "url": "https://lb.example.com/x",
			"body": `{"a": "{{ slice (secret "lb_token") 0 4 }}", "b": "{{ slice (secret "lb_token") 4 }}"}`},
			"slice.json: task_list[0].task.body: "},
		"url.json": {map[string]any{"task_type": "http", "url": `https://lb.example.com/x?token={{ secret "lb_token" }}`},
			"url.json: task_list[0].task.url: "},
		"env.json": {map[string]any{"task_type": "local", "argv": []string{"true"}, "env": map[string]string{"T": `{{ secret "lb_token" | len }}`}},
			"env.json: task_list[0].task.env.T: "},
		"ok.json": {map[string]any{"task_type": "http", "url": "https://lb.example.com/x",
			"headers": map[string]string{"Authorization": `Bearer {{ secret "lb_token" }}`}}, ""},
	}
	for name, f := range files {
		var r map[string]any
		if err := json.Unmarshal([]byte(ruleFile(strings.TrimSuffix(name, ".json"), "x", "uptime", "")), &r); err != nil {
			t.Fatal(err)
		}
		r["task_list"] = []any{map[string]any{"task": f.task}}
		data, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
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
	for name, f := range files {
		if f.want == "" {
			if strings.Contains(out, name) {
				t.Errorf("problems for %s:\n%s", name, out)
			}
			continue
		}
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(l, f.want) && strings.Contains(l, "secret"))
		}
		if !found {
			t.Errorf("no line %q…secret in:\n%s", f.want, out)
		}
	}
	if rep.Invalid != 4 || rep.Valid != 1 {
		t.Errorf("report %s", rep.Summary())
	}
}
