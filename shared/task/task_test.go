package task_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/local"
	"github.com/alexis-ops/alexis/shared/task/tasks"
)

// A task keeps its type's fields through decoding and encoding, whether
// they come from its JSON (Raw) or from decoded parameters (Params).
func TestTaskJSONRoundTrip(t *testing.T) {
	in := `{"task_type": "local", "argv": ["ls", "{{ entity }}"], "env": {"A": "b"}, "timeout": "5s", "action": "list"}`
	var tk task.Task
	if err := json.Unmarshal([]byte(in), &tk); err != nil {
		t.Fatal(err)
	}
	if tk.TaskType != "local" || tk.Timeout != "5s" || tk.Params != nil {
		t.Fatalf("decoded %+v", tk)
	}
	out, err := json.Marshal(tk)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	_ = json.Unmarshal([]byte(in), &a)
	_ = json.Unmarshal(out, &b)
	if ja, jb := mustJSON(a), mustJSON(b); ja != jb {
		t.Errorf("from Raw: %s, want %s", jb, ja)
	}
	p, probs := local.Type{}.Decode(tk, tk.Raw)
	if probs != nil {
		t.Fatal(probs)
	}
	tk.Params, tk.Raw = p, nil
	tk.Action = "changed"
	out, _ = json.Marshal(tk)
	if !strings.Contains(string(out), `"argv":["ls","{{ entity }}"]`) || !strings.Contains(string(out), `"action":"changed"`) {
		t.Errorf("from Params: %s", out)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestOptionsWiring(t *testing.T) {
	env := task.Env{Options: map[string]any{local.Name: "not local.Options"}}
	if _, err := tasks.Runners(tasks.All(), env); err == nil {
		t.Error("options of the wrong type accepted")
	}
	if _, err := tasks.Runners(append(tasks.All(), local.Type{}), task.Env{}); err == nil {
		t.Error("a type registered twice accepted")
	}
	runners, err := tasks.Runners(tasks.All(), task.Env{})
	if err != nil || len(runners) != len(tasks.All()) {
		t.Fatalf("%v %v", runners, err)
	}
}
