package main

import (
	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/actionhandler/internal/task/remotessh"
)

// taskDeps is what task types may need.
type taskDeps struct {
	SSH *sshexec.Executor // nil in development mode
}

// taskRunners is the registry of task types, by the task_type name rules
// use. A new task type is a package under internal/task plus one line here
// (and its name in shared/rule.TaskTypes, so the classifier accepts it).
func taskRunners(d taskDeps) map[string]task.Runner {
	return map[string]task.Runner{
		remotessh.Name: remotessh.New(d.SSH),
	}
}
