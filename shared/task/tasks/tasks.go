// Package tasks is the list of task types, used by both services: the
// classifier and the action handler check rules against it (shared/rule)
// and the action handler builds its runners from it. A new task type is
// a package under shared/task plus one line here.
package tasks

import (
	"fmt"

	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/httptask"
	"github.com/alexis-ops/alexis/shared/task/local"
	"github.com/alexis-ops/alexis/shared/task/plugin"
	"github.com/alexis-ops/alexis/shared/task/remotessh"
)

// All returns the task types, in the order messages list them.
func All() []task.Type {
	return []task.Type{
		remotessh.Type{},
		local.Type{},
		plugin.Type{},
		httptask.Type{},
	}
}

// Runners builds the runners of types by their task_type names.
func Runners(types []task.Type, env task.Env) (map[string]task.Runner, error) {
	out := make(map[string]task.Runner, len(types))
	for _, ty := range types {
		r, err := ty.NewRunner(env)
		if err != nil {
			return nil, err
		}
		if _, dup := out[ty.Name()]; dup {
			return nil, fmt.Errorf("task type %s registered twice", ty.Name())
		}
		out[ty.Name()] = r
	}
	return out, nil
}
