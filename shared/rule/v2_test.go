package rule

import (
	"encoding/json"
	"errors"
	"github.com/alexis-ops/alexis/shared/command"
	"github.com/alexis-ops/alexis/shared/task/remotessh"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
)

func TestParseV2Example(t *testing.T) {
	data, err := os.ReadFile("testdata/v2_example.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.When == nil || r.When.Kind() != KindAll || len(r.When.All) != 5 || len(r.Evaluations) != 0 {
		t.Fatalf("when = %+v", r.When)
	}
	anyLeaf := r.When.All[4]
	if anyLeaf.Op != OpAnyElement || anyLeaf.Cond == nil || anyLeaf.Cond.Op != OpStartsWith {
		t.Errorf("any leaf = %+v", anyLeaf)
	}
	if r.Wait() != 5*time.Minute || !r.Tasks[0].Task.Template || r.EntityPath() != "details.hosts" {
		t.Errorf("rule = %+v", r)
	}
	// The action handler re-parses what the classifier sends.
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse %s: %v", out, err)
	}
	out2, _ := json.Marshal(r2)
	if string(out) != string(out2) {
		t.Errorf("round trip changed:\n%s\n%s", out, out2)
	}
}

// v2rule returns a valid v2 rule with "when" set to when (raw JSON) and
// top-level edits applied (nil deletes).
func v2rule(when string, edits map[string]any) []byte {
	m := map[string]any{
		"enabled": "true", "os_type": "linux", "rule_name": "r", "alert_feed": "OpsGenie",
		"when":        json.RawMessage(when),
		"task_list":   []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "run_command": "uptime"}}},
		"entity_type": "explicit", "entities": []string{"app01"},
	}
	if when == "" {
		delete(m, "when")
	}
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseConditions(t *testing.T) {
	leaf := `{"path": "message", "op": "contains", "value": "x"}`
	tests := []struct {
		name  string
		when  string
		edits map[string]any
		paths []string // error paths; none: valid
	}{
		{name: "leaf", when: leaf},
		{name: "all", when: `{"all": [` + leaf + `, ` + leaf + `]}`},
		{name: "any", when: `{"any": [` + leaf + `]}`},
		{name: "not", when: `{"not": ` + leaf + `}`},
		{name: "every operator", when: `{"all": [
			{"path": "a", "op": "equals", "value": "x"}, {"path": "a", "op": "equals", "value": 5},
			{"path": "a", "op": "equals", "value": true}, {"path": "a", "op": "equals", "value": null},
			{"path": "a", "op": "not_equals", "value": "x"}, {"path": "a", "op": "iequals", "value": "X"},
			{"path": "a", "op": "contains", "value": "x"}, {"path": "a", "op": "icontains", "value": "Ü"},
			{"path": "a", "op": "starts_with", "value": "x"}, {"path": "a", "op": "ends_with", "value": "x"},
			{"path": "a", "op": "regex", "value": "^x+$"}, {"path": "a", "op": "iregex", "value": "x"},
			{"path": "a", "op": "exists"}, {"path": "a", "op": "not_exists"},
			{"path": "a", "op": "gt", "value": 1.5}, {"path": "a", "op": "gte", "value": -3},
			{"path": "a", "op": "lt", "value": "2026-01-02T03:04:05Z"}, {"path": "a", "op": "lte", "value": "2026-01-02T03:04:05.5+01:00"},
			{"path": "a", "op": "in", "value": ["x", 1, false, null]}, {"path": "a", "op": "not_in", "value": ["x"]},
			{"path": "tags", "op": "tags_include", "value": ["a", "b"]},
			{"path": "tags", "op": "any", "cond": {"path": "", "op": "starts_with", "value": "db"}},
			{"path": "items", "op": "any", "cond": {"all": [{"path": "@this.k", "op": "equals", "value": 1}, {"path": "v", "op": "exists"}]}}]}`},
		{name: "when beside evaluation_list", when: leaf, edits: map[string]any{"evaluation_list": []any{
			map[string]any{"evaluation": map[string]any{"tags": []string{"a"}}}}}},

		{name: "neither when nor evaluation_list", paths: []string{"evaluation_list"}},
		{name: "empty object", when: `{}`, paths: []string{"when"}},
		{name: "empty all", when: `{"all": []}`, paths: []string{"when.all"}},
		{name: "empty any", when: `{"all": [` + leaf + `, {"any": []}]}`, paths: []string{"when.all[1].any"}},
		{name: "null all", when: `{"all": null}`, paths: []string{"when.all"}},
		{name: "all not an array", when: `{"all": ` + leaf + `}`, paths: []string{"when.all"}},
		{name: "not an object", when: `[` + leaf + `]`, paths: []string{"when"}},
		{name: "null when", when: `null`, paths: []string{"when"}},
		{name: "mixed kinds", when: `{"all": [` + leaf + `], "path": "a", "op": "exists"}`, paths: []string{"when"}},
		{name: "unknown field", when: `{"path": "a", "op": "exists", "vaule": 1}`, paths: []string{"when.vaule"}},
		{name: "unknown field only", when: `{"alll": []}`, paths: []string{"when.alll"}},
		{name: "unknown operator", when: `{"all": [` + leaf + `, {"path": "a", "op": "matches", "value": "x"}]}`, paths: []string{"when.all[1].op"}},
		{name: "missing op", when: `{"path": "a", "value": "x"}`, paths: []string{"when.op"}},
		{name: "missing path", when: `{"op": "exists"}`, paths: []string{"when.path"}},
		{name: "empty path", when: `{"path": "", "op": "exists"}`, paths: []string{"when.path"}},
		{name: "path not a string", when: `{"path": 5, "op": "exists"}`, paths: []string{"when.path"}},
		{name: "missing value", when: `{"path": "a", "op": "equals"}`, paths: []string{"when.value"}},
		{name: "value for exists", when: `{"path": "a", "op": "exists", "value": true}`, paths: []string{"when.value"}},
		{name: "bad regex", when: `{"any": [` + leaf + `, {"path": "a", "op": "regex", "value": "(x"}]}`, paths: []string{"when.any[1].value"}},
		{name: "bad iregex", when: `{"path": "a", "op": "iregex", "value": "\\k"}`, paths: []string{"when.value"}},
		{name: "empty contains", when: `{"path": "a", "op": "contains", "value": ""}`, paths: []string{"when.value"}},
		{name: "object for equals", when: `{"path": "a", "op": "equals", "value": {"x": 1}}`, paths: []string{"when.value"}},
		{name: "number for contains", when: `{"path": "a", "op": "contains", "value": 5}`, paths: []string{"when.value"}},
		{name: "bad time for gt", when: `{"path": "a", "op": "gt", "value": "yesterday"}`, paths: []string{"when.value"}},
		{name: "boolean for gt", when: `{"path": "a", "op": "gt", "value": true}`, paths: []string{"when.value"}},
		{name: "scalar for in", when: `{"path": "a", "op": "in", "value": "x"}`, paths: []string{"when.value"}},
		{name: "empty in", when: `{"path": "a", "op": "in", "value": []}`, paths: []string{"when.value"}},
		{name: "object in in", when: `{"path": "a", "op": "in", "value": ["x", {}]}`, paths: []string{"when.value"}},
		{name: "number in tags_include", when: `{"path": "tags", "op": "tags_include", "value": ["a", 1]}`, paths: []string{"when.value"}},
		{name: "any without cond", when: `{"path": "tags", "op": "any"}`, paths: []string{"when.cond"}},
		{name: "any with value", when: `{"path": "tags", "op": "any", "value": "x", "cond": {"path": "", "op": "exists"}}`, paths: []string{"when.value"}},
		{name: "cond on another op", when: `{"path": "a", "op": "equals", "value": "x", "cond": ` + leaf + `}`, paths: []string{"when.cond"}},
		{name: "bad nested cond", when: `{"path": "tags", "op": "any", "cond": {"path": "", "op": "nope"}}`, paths: []string{"when.cond.op"}},
		{name: "element path outside any", when: `{"path": "@this", "op": "exists"}`, paths: []string{"when.path"}},
		{name: "too deep", when: strings.Repeat(`{"not": `, MaxCondDepth+2) + leaf + strings.Repeat(`}`, MaxCondDepth+2), paths: []string{"when." + strings.TrimSuffix(strings.Repeat("not.", MaxCondDepth+1), ".")}},
		{name: "every problem at once", when: `{"all": [{"path": "a", "op": "nope"}, {"path": "b", "op": "regex", "value": "("}, {"any": []}]}`,
			edits: map[string]any{"min_age": "soon", "rule_name": nil},
			paths: []string{"when.all[0].op", "when.all[1].value", "when.all[2].any", "min_age", "rule_name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(v2rule(tc.when, tc.edits))
			if len(tc.paths) == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				out, _ := json.Marshal(r)
				if _, err := Parse(out); err != nil {
					t.Fatalf("re-parse of %s: %v", out, err)
				}
				return
			}
			if err == nil || r != nil {
				t.Fatalf("accepted: %+v", r)
			}
			var fe Errors
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not Errors", err)
			}
			got := map[string]bool{}
			for _, e := range fe {
				got[e.Path] = true
				if e.Msg == "" {
					t.Errorf("empty message at %s", e.Path)
				}
			}
			for _, p := range tc.paths {
				if !got[p] {
					t.Errorf("no error at %s; got %v", p, err)
				}
			}
		})
	}
}

func TestParseV2Fields(t *testing.T) {
	leaf := `{"path": "message", "op": "exists"}`
	task := func(fields map[string]any) map[string]any {
		f := map[string]any{"task_type": "remote_ssh", "run_command": "uptime"}
		for k, v := range fields {
			f[k] = v
		}
		return map[string]any{"task_list": []any{map[string]any{"task": f}}}
	}
	merge := func(ms ...map[string]any) map[string]any {
		out := map[string]any{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	tests := []struct {
		name  string
		edits map[string]any
		path  string // "" when valid
	}{
		{name: "min_age", edits: map[string]any{"min_age": "90s"}},
		{name: "bad min_age", edits: map[string]any{"min_age": "5 minutes"}, path: "min_age"},
		{name: "negative min_age", edits: map[string]any{"min_age": "-5m"}, path: "min_age"},
		{name: "entity path", edits: map[string]any{"entity_type": "path", "entity_path": "details.hosts", "entities": nil}},
		{name: "entity path missing", edits: map[string]any{"entity_type": "path", "entities": nil}, path: "entity_path"},
		{name: "entity path with explicit", edits: map[string]any{"entity_path": "details.hosts"}, path: "entity_path"},
		{name: "entity filter", edits: map[string]any{"entity_filter": "^app"}},
		{name: "bad entity filter", edits: map[string]any{"entity_filter": "app("}, path: "entity_filter"},
		{name: "unknown entity type", edits: map[string]any{"entity_type": "paths"}, path: "entity_type"},
		{name: "template", edits: task(map[string]any{"template": true, "run_command": "systemctl restart {{ .details.service }}"})},
		{name: "template syntax error", edits: task(map[string]any{"template": true, "run_command": "restart {{ .details.service"}), path: "task_list[0].task.run_command"},
		{name: "template quoted action", edits: task(map[string]any{"template": true, "run_command": "restart '{{ .x }}'"}), path: "task_list[0].task.run_command"},
		{name: "raw without reason", edits: task(map[string]any{"template": true, "run_command": "tar {{ .x | raw_unsafe }}"}), path: "task_list[0].task.unsafe_reason"},
		{name: "raw with reason", edits: task(map[string]any{"template": true, "run_command": "tar {{ .x | raw_unsafe }}", "unsafe_reason": "flags come from our own monitoring config"})},
		{name: "braces without template run literally", edits: task(map[string]any{"run_command": "docker inspect -f '{{.State.Running}}' app"})},
		{name: "template not a boolean", edits: task(map[string]any{"template": "yes"}), path: "task_list.task.template"},
		{name: "unknown task field", edits: task(map[string]any{"templat": true}), path: "task_list[0].task.templat"},
		{name: "v2 fields together", edits: merge(task(map[string]any{"template": true, "run_command": "ping -c1 {{ alert \"details.ip\" }}"}),
			map[string]any{"min_age": "1m", "entity_type": "path", "entity_path": "details.host", "entity_filter": ".", "entities": nil})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(v2rule(leaf, tc.edits))
			if tc.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				out, _ := json.Marshal(r)
				if _, err := Parse(out); err != nil {
					t.Fatalf("re-parse: %v", err)
				}
				return
			}
			var fe Errors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want Errors", err)
			}
			for _, e := range fe {
				if e.Path == tc.path {
					return
				}
			}
			t.Errorf("no error at %s: %v", tc.path, err)
		})
	}
}

func TestResolveEntitiesV2(t *testing.T) {
	env, err := alert.Decode([]byte(`{"details": {"hosts": ["app01.example.com", "db01.example.com", "app02.example.com"], "one": "app03.example.com"},
		"alexis": {"feed_type": "OpsGenie", "unique_value": "1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rule    Rule
		want    string
		wantErr string
	}{
		{"path array", Rule{EntityType: EntityPathType, EntityJSONPath: "details.hosts"}, "app01.example.com,db01.example.com,app02.example.com", ""},
		{"path element", Rule{EntityType: EntityPathType, EntityJSONPath: "details.hosts.1"}, "db01.example.com", ""},
		{"path string", Rule{EntityType: EntityPathType, EntityJSONPath: "details.one"}, "app03.example.com", ""},
		{"path filtered", Rule{EntityType: EntityPathType, EntityJSONPath: "details.hosts", EntityFilter: `^app\d+\.`}, "app01.example.com,app02.example.com", ""},
		{"explicit filtered", Rule{EntityType: EntityExplicit, Entities: []string{"a1", "b1"}, EntityFilter: "^b"}, "b1", ""},
		{"filter leaves none", Rule{EntityType: EntityPathType, EntityJSONPath: "details.hosts", EntityFilter: "^web"}, "", `entity_filter "^web" left no hosts of 3`},
		{"path missing", Rule{EntityType: EntityPathType, EntityJSONPath: "details.nope"}, "", "entity_path details.nope: not found"},
		{"path object", Rule{EntityType: EntityPathType, EntityJSONPath: "details"}, "", "want a string or an array of strings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rule.ResolveEntities(env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestTaskCommand(t *testing.T) {
	alertJSON := []byte(`{"details": {"service": "dup; reboot", "unit": "duplicator"}}`)
	tests := []struct {
		name    string
		task    Task
		want    string
		wantErr string
	}{
		{"literal", Task{RunCommand: "docker inspect -f '{{.State.Running}}' app"}, "docker inspect -f '{{.State.Running}}' app", ""},
		{"template", Task{Template: true, RunCommand: "systemctl restart {{ .details.unit }}"}, "systemctl restart 'duplicator'", ""},
		{"value refused", Task{Template: true, RunCommand: "systemctl restart {{ .details.service }}"}, "", `value of details.service refused by type token: holds ';'`},
		{"missing value", Task{Template: true, RunCommand: "systemctl restart {{ .details.nope }}"}, "", `no entry for key "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := remotessh.Command(tc.task, alertJSON)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(tc.wantErr, "refused") && !errors.Is(err, command.ErrValueRefused) {
					t.Errorf("not a value refusal: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzParseRoundTrip: whatever Parse accepts marshals to a file Parse
// accepts again, unchanged (the classifier sends the rule it parsed to the
// action handler, which parses it again), and has conditions and tasks.
func FuzzParseRoundTrip(f *testing.F) {
	for _, p := range []string{"testdata/alexis_v1_example.json", "testdata/v2_example.json"} {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add(v2rule(`{"path": "tags", "op": "any", "cond": {"path": "", "op": "regex", "value": "^a"}}`, nil))
	f.Add(v2rule(`{"all": []}`, nil))
	f.Add(v2rule(`{"not": {"path": "a", "op": "in", "value": [1, "1", null]}}`, map[string]any{"min_age": "1h"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if r != nil {
				t.Fatal("rule returned with an error")
			}
			return
		}
		if len(r.Evaluations) == 0 && r.When == nil || len(r.Tasks) == 0 || r.Name == "" {
			t.Fatalf("accepted a rule without conditions, tasks or name: %s", data)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		out2, _ := json.Marshal(r2)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed:\n%s\n%s", out, out2)
		}
	})
}
