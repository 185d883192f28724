package main

import (
	"github.com/alexis-ops/alexis/actionhandler/internal/config"
	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/actionhandler/internal/task/httptask"
	"github.com/alexis-ops/alexis/actionhandler/internal/task/local"
	"github.com/alexis-ops/alexis/actionhandler/internal/task/plugin"
	"github.com/alexis-ops/alexis/actionhandler/internal/task/remotessh"
)

// taskDeps is what task types may need.
type taskDeps struct {
	SSH    *sshexec.Executor // nil in development mode
	Config *config.Config    // nil: every type's defaults
}

// taskRunners is the registry of task types, by the task_type name rules
// use. A new task type is a package under internal/task plus one line here
// (and its name in shared/rule.TaskTypes, so the classifier accepts it).
func taskRunners(d taskDeps) (map[string]task.Runner, error) {
	c := d.Config
	if c == nil {
		c = config.Default()
	}
	loc, err := local.New(local.Options{Allowed: c.Local.Allowed, Path: c.Local.Path, Dir: c.Local.Dir,
		Timeout: c.Local.Timeout.D(), OutputLimit: c.SSH.OutputLimit})
	if err != nil {
		return nil, err
	}
	return map[string]task.Runner{
		remotessh.Name: remotessh.New(d.SSH),
		local.Name:     loc,
		plugin.Name: plugin.New(plugin.Options{Dir: c.Plugins.Dir, Path: c.Local.Path,
			Timeout: c.Plugins.Timeout.D(), OutputLimit: c.SSH.OutputLimit}),
		httptask.Name: httptask.New(httptask.Options{AllowedHosts: c.HTTP.AllowedHosts,
			Timeout: c.HTTP.Timeout.D(), OutputLimit: c.SSH.OutputLimit}),
	}, nil
}
