package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/rule"
	sharedtask "github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/field"
	"github.com/alexis-ops/alexis/shared/task/tasks"
)

// toy is a task type that exists only in this test, added through the
// public seam alone (a shared/task.Type in the list of types): "say" is a
// template rendered for the alert and entity, the step's output.
type toy struct{}

type toyParams struct {
	Say string `json:"say"`
}

func (toy) Name() string     { return "toy" }
func (toy) Fields() []string { return []string{"say"} }

func (toy) Decode(_ sharedtask.Task, raw json.RawMessage) (any, []sharedtask.Problem) {
	var p toyParams
	if probs := sharedtask.DecodeFields(raw, &p); probs != nil {
		return nil, probs
	}
	if strings.TrimSpace(p.Say) == "" {
		return nil, []sharedtask.Problem{{Path: "say", Msg: "required for toy"}}
	}
	if _, err := field.Parse("say", p.Say, field.EscText, false); err != nil {
		return nil, []sharedtask.Problem{{Path: "say", Msg: err.Error()}}
	}
	return &p, nil
}

func (toy) NewRunner(env sharedtask.Env) (sharedtask.Runner, error) {
	prefix, _ := env.Options["toy"].(string)
	return toyRunner{prefix: prefix}, nil
}

type toyRunner struct{ prefix string }

func (r toyRunner) render(s task.Step) (string, error) {
	p, err := sharedtask.ParamsOf[*toyParams](toy{}, s.Task)
	if err != nil {
		return "", err
	}
	tmpl, err := field.Parse("say", p.Say, field.EscText, false)
	if err != nil {
		return "", err
	}
	return field.Render(tmpl, s.Data(), false)
}

func (r toyRunner) Run(_ context.Context, s task.Step) task.Result {
	out, err := r.render(s)
	if err != nil {
		return task.Result{ExitCode: -1, Err: err}
	}
	return task.Result{Command: "say", Stdout: r.prefix + out}
}

func (r toyRunner) Describe(s task.Step) (string, error) {
	out, err := r.render(s)
	return "say " + out, err
}

// toyRule is a rule whose only task is task (a JSON object).
func toyRule(task string) []byte {
	return []byte(`{"enabled": "true", "os_type": "linux", "rule_name": "toy_rule", "alert_feed": "OpsGenie",
		"evaluation_list": [{"evaluation": {"search_key": "description", "search_text": "x"}}],
		"task_list": [{"task": ` + task + `}], "entity_type": "explicit", "entities": ["app01"]}`)
}

// TestToyTaskType: a task type added through shared/task's seam alone (a
// Type in the list given to rule.ParseWith and to the action handler's
// registry) is checked when a rule loads, with its key paths, and an alert
// runs through its runner; without it in the list the same rule is
// refused.
func TestToyTaskType(t *testing.T) {
	types := append(tasks.All(), toy{})
	good := toyRule(`{"task_type": "toy", "say": "hello {{ entity }}: {{ .details.svc }}", "timeout": "5s"}`)

	if _, err := rule.Parse(good); err == nil || !strings.Contains(err.Error(), `task_list[0].task.task_type: unknown task type "toy"`) {
		t.Fatalf("the toy type is known without being registered: %v", err)
	}

	for _, tc := range []struct {
		name  string
		task  string
		paths []string
	}{
		{"bad parameter", `{"task_type": "toy", "say": " "}`, []string{"task_list[0].task.say"}},
		{"bad template", `{"task_type": "toy", "say": "{{ .x "}`, []string{"task_list[0].task.say"}},
		{"wrong JSON type", `{"task_type": "toy", "say": 3}`, []string{"task_list[0].task.say"}},
		{"field of another type", `{"task_type": "toy", "say": "hi", "argv": ["ls"]}`, []string{"task_list[0].task.argv"}},
		{"unknown field", `{"task_type": "toy", "say": "hi", "shout": true}`, []string{"task_list[0].task.shout"}},
		{"toy field on another type", `{"task_type": "local", "argv": ["ls"], "say": "hi"}`, []string{"task_list[0].task.say"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rule.ParseWith(toyRule(tc.task), types)
			var re rule.Errors
			if !errors.As(err, &re) {
				t.Fatalf("accepted: %v", err)
			}
			var got []string
			for _, e := range re {
				got = append(got, e.Path)
			}
			if !slices.Equal(got, tc.paths) {
				t.Errorf("error paths %q, want %q (%v)", got, tc.paths, err)
			}
		})
	}

	r, err := rule.ParseWith(good, types)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Tasks[0].Task.Params.(*toyParams); !ok {
		t.Fatalf("validation left params %T", r.Tasks[0].Task.Params)
	}
	runners, err := taskRunners(taskDeps{Types: types})
	if err != nil {
		t.Fatal(err)
	}
	if runners["toy"] == nil || runners[rule.TaskRemoteSSH] == nil {
		t.Fatalf("registry %v", runners)
	}
	s := task.Step{Task: r.Tasks[0].Task, Entity: "app01", Alert: []byte(`{"details": {"svc": "dup"}}`)}
	if res := runners["toy"].Run(context.Background(), s); res.Err != nil || res.Stdout != "hello app01: dup" {
		t.Errorf("run: %+v", res)
	}
	if d, err := runners["toy"].Describe(s); err != nil || d != "say hello app01: dup" {
		t.Errorf("describe %q %v", d, err)
	}
	// A task that did not pass through validation (decoded from a stored
	// request) is decoded by its type from its JSON.
	var again rule.Rule
	if b, err := json.Marshal(r); err != nil || json.Unmarshal(b, &again) != nil {
		t.Fatalf("round trip: %v", err)
	}
	s.Task = again.Tasks[0].Task
	if res := runners["toy"].Run(context.Background(), s); res.Err != nil || res.Stdout != "hello app01: dup" {
		t.Errorf("run after a round trip: %+v", res)
	}
	if _, err := taskRunners(taskDeps{}); err != nil {
		t.Fatal(err)
	}
	if def, _ := taskRunners(taskDeps{}); def["toy"] != nil {
		t.Error("the toy type is in the default registry")
	}
}
