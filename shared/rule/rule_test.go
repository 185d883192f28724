package rule

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
)

func TestParseAlexisV1Example(t *testing.T) {
	data, err := os.ReadFile("testdata/alexis_v1_example.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Enabled || r.Name != "day_duplicator_gc_restart" || r.AlertFeed != "OpsGenie" || r.OSType != "linux" {
		t.Fatalf("rule = %+v", r)
	}
	ev := r.Evaluations[0].Evaluation
	if ev.SearchKey != "description" || ev.SearchText != "Long garbage-collection time" || len(ev.Tags) != 2 {
		t.Fatalf("evaluation = %+v", ev)
	}
	task := r.Tasks[0].Task
	if task.RunCommand != "sudo systemctl restart duplicator" || task.DelayAfterDuration() != 30*time.Second {
		t.Fatalf("task = %+v", task)
	}
	// Round trip keeps the v1 shape.
	out, _ := json.Marshal(r)
	if !strings.Contains(string(out), `"enabled":"true"`) {
		t.Fatalf("marshal = %s", out)
	}
	if _, err := Parse(out); err != nil {
		t.Fatalf("re-parse: %v", err)
	}
}

func TestParseErrorsNamePaths(t *testing.T) {
	base := func(mut func(m map[string]any)) []byte {
		data, _ := os.ReadFile("testdata/alexis_v1_example.json")
		var m map[string]any
		json.Unmarshal(data, &m)
		mut(m)
		b, _ := json.Marshal(m)
		return b
	}
	task := func(m map[string]any) map[string]any {
		return m["task_list"].([]any)[0].(map[string]any)["task"].(map[string]any)
	}
	eval := func(m map[string]any) map[string]any {
		return m["evaluation_list"].([]any)[0].(map[string]any)["evaluation"].(map[string]any)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		paths []string
	}{
		{"not json", []byte(`{"enabled":`), []string{"$"}},
		{"enabled not boolean-like", base(func(m map[string]any) { m["enabled"] = "yes" }), []string{"enabled"}},
		{"missing name and feed", base(func(m map[string]any) { delete(m, "rule_name"); delete(m, "alert_feed") }), []string{"rule_name", "alert_feed"}},
		{"unknown top field", base(func(m map[string]any) { m["rule_nmae"] = "x" }), []string{"rule_nmae"}},
		{"unknown task field", base(func(m map[string]any) { task(m)["run_comand"] = "x" }), []string{"task_list[0].task.run_comand"}},
		{"unknown evaluation field", base(func(m map[string]any) { eval(m)["serch_key"] = "x" }), []string{"evaluation_list[0].evaluation.serch_key"}},
		{"empty evaluation list", base(func(m map[string]any) { m["evaluation_list"] = []any{} }), []string{"evaluation_list"}},
		{"empty evaluation", base(func(m map[string]any) { m["evaluation_list"] = []any{map[string]any{"evaluation": map[string]any{}}} }), []string{"evaluation_list[0].evaluation"}},
		{"search_key without text", base(func(m map[string]any) { delete(eval(m), "search_text") }), []string{"evaluation_list[0].evaluation"}},
		{"unknown task type", base(func(m map[string]any) { task(m)["task_type"] = "remote_shh" }), []string{"task_list[0].task.task_type"}},
		{"no command", base(func(m map[string]any) { delete(task(m), "run_command") }), []string{"task_list[0].task.run_command"}},
		{"bad delay", base(func(m map[string]any) { task(m)["delay_after"] = "30 secs" }), []string{"task_list[0].task.delay_after"}},
		{"bad duration", base(func(m map[string]any) { eval(m)["duration"] = "-5m" }), []string{"evaluation_list[0].evaluation.duration"}},
		{"explicit without entities", base(func(m map[string]any) { delete(m, "entities") }), []string{"entities"}},
		{"keyvalue without path", base(func(m map[string]any) { m["entity_type"] = "keyvalue" }), []string{"entity_keyvalue"}},
		{"unknown entity type", base(func(m map[string]any) { m["entity_type"] = "all" }), []string{"entity_type"}},
		{"wrong type", base(func(m map[string]any) { m["entities"] = "app01" }), []string{"entities"}},
		{"rule name with NUL", base(func(m map[string]any) { m["rule_name"] = "gc\x00restart" }), []string{"rule_name"}},
		{"rule name with line separator", base(func(m map[string]any) { m["rule_name"] = "gc\u2028restart" }), []string{"rule_name"}},
		{"rule name too long", base(func(m map[string]any) { m["rule_name"] = strings.Repeat("r", 129) }), []string{"rule_name"}},
		{"explicit entity with NUL", base(func(m map[string]any) { m["entities"] = []any{"app01", "h\x00x"} }), []string{"entities[1]"}},
		{"explicit entity too long", base(func(m map[string]any) { m["entities"] = []any{strings.Repeat("h", 254)} }), []string{"entities[0]"}},
		{"explicit entity option-like", base(func(m map[string]any) { m["entities"] = []any{"-oProxyCommand=x"} }), []string{"entities[0]"}},
		{"every problem at once", base(func(m map[string]any) {
			delete(m, "rule_name")
			task(m)["task_type"] = "nope"
			m["entity_type"] = "nope"
		}), []string{"rule_name", "task_list[0].task.task_type", "entity_type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.data)
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if r != nil {
				t.Fatal("returned a rule with errors")
			}
			var fe Errors
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not Errors", err)
			}
			got := map[string]bool{}
			for _, e := range fe {
				got[e.Path] = true
			}
			for _, p := range tc.paths {
				if !got[p] {
					t.Errorf("no error at %s; got %v", p, err)
				}
			}
		})
	}
}

func TestResolveEntities(t *testing.T) {
	env := func(details string) *alert.Envelope {
		e, err := alert.Decode([]byte(`{"details":` + details + `,"alexis":{"feed_type":"OpsGenie","unique_value":"1"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	kv := &Rule{EntityType: EntityKeyValue, EntityKeyValue: []string{"details", "host"}}
	for _, tc := range []struct {
		name    string
		rule    *Rule
		details string
		want    string
		wantErr string
	}{
		{"explicit", &Rule{EntityType: EntityExplicit, Entities: []string{"a", "b:2222", "a"}}, `{}`, "a,b:2222", ""},
		{"keyvalue string", kv, `{"host":"app01"}`, "app01", ""},
		{"keyvalue array", kv, `{"host":["app01","app02"]}`, "app01,app02", ""},
		{"keyvalue missing", kv, `{}`, "", "not found"},
		{"keyvalue number", kv, `{"host":5}`, "", "want a string"},
		{"keyvalue empty", kv, `{"host":""}`, "", "no entities"},
		{"hostile host", kv, `{"host":"a;reboot"}`, "", "not a host name"},
		{"option-like host", kv, `{"host":"-oProxyCommand=x"}`, "", "not a host name"},
		{"NUL in host", kv, `{"host":"h\u0000x"}`, "", `entity "h\x00x": control character U+0000`},
		{"NUL in one of several", kv, `{"host":["app01","h\u0000x"]}`, "", "control character U+0000"},
		{"newline after host", kv, `{"host":"app01\n"}`, "", "control character U+000A"},
		{"DEL", kv, `{"host":"h\u007fx"}`, "", "control character U+007F"},
		{"C1", kv, `{"host":"h\u0085x"}`, "", "control character U+0085"},
		{"line separator", kv, `{"host":"h\u2028x"}`, "", "control character U+2028"},
		{"longest host", kv, `{"host":"` + strings.Repeat("h", 253) + `"}`, strings.Repeat("h", 253), ""},
		{"host too long", kv, `{"host":"` + strings.Repeat("h", 254) + `"}`, "", "longer than 253 bytes"},
		{"NUL dropped by the filter is still refused", &Rule{EntityType: EntityKeyValue, EntityKeyValue: []string{"details", "host"}, EntityFilter: "^app"},
			`{"host":["app01","h\u0000x"]}`, "", "control character U+0000"},
		{"dotted key escaped", &Rule{EntityType: EntityKeyValue, EntityKeyValue: []string{"details", "host.name"}}, `{"host.name":"app03"}`, "app03", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rule.ResolveEntities(env(tc.details))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

// A key given twice in a rule file is refused, naming where: which copy
// counts would depend on the reader.
func TestParseRefusesDuplicateKeys(t *testing.T) {
	data, err := os.ReadFile("testdata/alexis_v1_example.json")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, tc := range []struct{ name, doc, path string }{
		{"top level", strings.Replace(s, `"rule_name":`, `"rule_name": "other", "rule_name":`, 1), "rule_name"},
		{"in a task", strings.Replace(s, `"run_command":`, `"run_command": "reboot", "run_command":`, 1), "task_list[0].task.run_command"},
		{"escaped spelling", strings.Replace(s, `"entities":`, `"entit\u0069es": ["db01"], "entities":`, 1), "entities"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.doc == s {
				t.Fatal("fixture not edited")
			}
			_, err := Parse([]byte(tc.doc))
			var fe Errors
			if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != tc.path || !strings.Contains(fe[0].Msg, "duplicate key") {
				t.Fatalf("err = %v, want a duplicate key at %s", err, tc.path)
			}
		})
	}
}

func FuzzLoadRule(f *testing.F) {
	data, _ := os.ReadFile("testdata/alexis_v1_example.json")
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"evaluation_list":[{"evaluation":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if r != nil {
				t.Fatal("rule returned with error")
			}
			return
		}
		if len(r.Evaluations) == 0 || len(r.Tasks) == 0 || r.Name == "" {
			t.Fatalf("accepted an incomplete rule: %s", data)
		}
	})
}
