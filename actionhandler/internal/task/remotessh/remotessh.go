// Package remotessh is the remote_ssh task type: run the task's
// run_command on the entity over SSH.
package remotessh

import (
	"context"
	"errors"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/rule"
)

// Name is the task_type this package runs.
const Name = "remote_ssh"

// Runner runs commands through an SSH executor.
type Runner struct {
	exec *sshexec.Executor
}

// New returns a Runner; exec may be nil in development mode, where only
// Describe is used.
func New(exec *sshexec.Executor) *Runner { return &Runner{exec: exec} }

// Run runs t.RunCommand on the step's entity.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	if r.exec == nil {
		return task.Result{ExitCode: -1, Err: errors.New("remote_ssh: no SSH executor configured")}
	}
	res := r.exec.Run(ctx, s.Entity, s.Task.RunCommand)
	return task.Result{
		ExitCode:  res.ExitCode,
		Stdout:    res.Stdout.Text,
		Stderr:    res.Stderr.Text,
		Truncated: res.Stdout.Truncated || res.Stderr.Truncated,
		Elapsed:   res.Elapsed,
		Err:       res.Err,
	}
}

// Describe says what Run would do.
func (r *Runner) Describe(t rule.Task) string { return "run '" + t.RunCommand + "'" }
