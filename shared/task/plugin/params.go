package plugin

import (
	"encoding/json"

	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/field"
)

// Params are a plugin task's own fields: the executable's name in the
// plugins directory and extra environment (templates: shared/task/field).
type Params struct {
	Env    map[string]string `json:"env,omitempty"`
	Plugin string            `json:"plugin,omitempty"`
}

// Type is the plugin task type.
type Type struct{}

// Name implements task.Type.
func (Type) Name() string { return Name }

// Fields implements task.Type.
func (Type) Fields() []string { return []string{"plugin", "env"} }

// Decode implements task.Type.
func (Type) Decode(_ task.Task, raw json.RawMessage) (any, []task.Problem) {
	var p Params
	if probs := task.DecodeFields(raw, &p); probs != nil {
		return nil, probs
	}
	probs := field.CheckEnv(p.Env)
	if !name.MatchString(p.Plugin) {
		probs = append(probs, task.Problem{Path: "plugin",
			Msg: "required for plugin: a file name in the plugins directory (letters, digits, . _ -), got \"" + p.Plugin + "\""})
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
	return New(o), nil
}

// params are the step's.
func params(t task.Task) (*Params, error) { return task.ParamsOf[*Params](Type{}, t) }
