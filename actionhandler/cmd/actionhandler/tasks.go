package main

import (
	"context"

	"github.com/alexis-ops/alexis/actionhandler/internal/config"
	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	sharedtask "github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/httptask"
	"github.com/alexis-ops/alexis/shared/task/local"
	"github.com/alexis-ops/alexis/shared/task/plugin"
	"github.com/alexis-ops/alexis/shared/task/remotessh"
	"github.com/alexis-ops/alexis/shared/task/tasks"
)

// taskDeps is what task types may need.
type taskDeps struct {
	SSH    *sshexec.Executor // nil in development mode
	Config *config.Config    // nil: every type's defaults
	// Types are the task types (nil: shared/task/tasks.All()).
	Types []sharedtask.Type
}

// taskRunners builds the runner of every task type (shared/task/tasks,
// the one list of types), giving each its options from the configuration
// by its name. A task type with options of its own adds them here and its
// block to internal/config.
func taskRunners(d taskDeps) (map[string]task.Runner, error) {
	c := d.Config
	if c == nil {
		c = config.Default()
	}
	types := d.Types
	if types == nil {
		types = tasks.All()
	}
	opts := map[string]any{
		local.Name: local.Options{Allowed: c.Local.Allowed, Path: c.Local.Path, Dir: c.Local.Dir,
			Timeout: c.Local.Timeout.D()},
		plugin.Name:   plugin.Options{Dir: c.Plugins.Dir, Path: c.Local.Path, Timeout: c.Plugins.Timeout.D()},
		httptask.Name: httptask.Options{AllowedHosts: c.HTTP.AllowedHosts, Timeout: c.HTTP.Timeout.D()},
	}
	if d.SSH != nil {
		opts[remotessh.Name] = remotessh.Options{Exec: sshRunner{d.SSH}}
	}
	return tasks.Runners(types, sharedtask.Env{Options: opts, OutputLimit: c.SSH.OutputLimit})
}

// sshRunner is the SSH executor as remote_ssh's Executor.
type sshRunner struct{ e *sshexec.Executor }

func (s sshRunner) Exec(ctx context.Context, r remotessh.Request) remotessh.Response {
	req := sshexec.Request{Entity: r.Entity, Command: r.Command, Timeout: r.Timeout,
		Key: sshexec.StepKey(r.ExecutionID, r.Index, r.Entity)}
	if r.Started != nil {
		req.Started = func(p sshexec.Process) { r.Started(p.PID, p.Start) }
	}
	res := s.e.Exec(ctx, req)
	return remotessh.Response{ExitCode: res.ExitCode, Stdout: res.Stdout.Text, Stderr: res.Stderr.Text,
		Truncated: res.Stdout.Truncated || res.Stderr.Truncated, Elapsed: res.Elapsed, Err: res.Err}
}
