package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/field"
)

// Params are a local task's own fields: the program and its arguments
// (no shell) and extra environment, templates both (shared/task/field).
type Params struct {
	Argv []string          `json:"argv,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
}

// Type is the local task type.
type Type struct{}

// Name implements task.Type.
func (Type) Name() string { return Name }

// Fields implements task.Type.
func (Type) Fields() []string { return []string{"argv", "env"} }

// Decode implements task.Type.
func (Type) Decode(_ task.Task, raw json.RawMessage) (any, []task.Problem) {
	var p Params
	if probs := task.DecodeFields(raw, &p); probs != nil {
		return nil, probs
	}
	probs := field.CheckEnv(p.Env)
	add := func(path, format string, args ...any) {
		probs = append(probs, task.Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case len(p.Argv) == 0 || strings.TrimSpace(p.Argv[0]) == "":
		add("argv", "required for local: the program and its arguments, e.g. [\"ansible-playbook\", \"restart.yml\"]")
	case strings.Contains(p.Argv[0], "{{"):
		add("argv[0]", "the program must be written out, not taken from the alert")
	default:
		if _, err := field.ParseArgv(p.Argv); err != nil {
			var ee *command.ElemError
			if errors.As(err, &ee) {
				add(fmt.Sprintf("argv[%d]", ee.Index), "%v", ee.Err)
			} else {
				add("argv", "%v", err)
			}
		}
	}
	return &p, probs
}

// NewRunner implements task.Type.
func (Type) NewRunner(env task.Env) (task.Runner, error) {
	o, err := task.OptionsOf[Options](env, Name)
	if err != nil {
		return nil, err
	}
	if o.OutputLimit == 0 {
		o.OutputLimit = env.OutputLimit
	}
	return New(o)
}

// params are the step's.
func params(t task.Task) (*Params, error) { return task.ParamsOf[*Params](Type{}, t) }
