// Package remotessh is the remote_ssh task type: run the task's
// run_command (rendered from the alert when it is a template) on the
// entity over SSH.
package remotessh

import (
	"context"
	"errors"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/rule"
)

// Name is the task_type this package runs.
const Name = rule.TaskRemoteSSH

// Runner runs commands through an SSH executor.
type Runner struct {
	exec *sshexec.Executor
}

// New returns a Runner; exec may be nil in development mode, where only
// Describe is used.
func New(exec *sshexec.Executor) *Runner { return &Runner{exec: exec} }

// Run runs the task's command on the step's entity.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	cmd, err := s.Task.Command(s.Alert)
	if err != nil {
		return task.Result{Command: s.Task.RunCommand, ExitCode: -1, Err: err}
	}
	if r.exec == nil {
		return task.Result{Command: cmd, ExitCode: -1, Err: errors.New("remote_ssh: no SSH executor configured")}
	}
	req := sshexec.Request{Entity: s.Entity, Command: cmd, Timeout: s.Task.TimeoutDuration(),
		Key: sshexec.StepKey(s.ExecutionID, s.Index, s.Entity)}
	if s.RemoteStarted != nil {
		req.Started = func(p sshexec.Process) { s.RemoteStarted(p.PID, p.Start) }
	}
	res := r.exec.Exec(ctx, req)
	return task.Result{
		Command:   cmd,
		ExitCode:  res.ExitCode,
		Stdout:    res.Stdout.Text,
		Stderr:    res.Stderr.Text,
		Truncated: res.Stdout.Truncated || res.Stderr.Truncated,
		Elapsed:   res.Elapsed,
		Err:       res.Err,
	}
}

// Describe says what Run would do.
func (r *Runner) Describe(s task.Step) (string, error) {
	cmd, err := s.Task.Command(s.Alert)
	if err != nil {
		return "", err
	}
	return "run '" + cmd + "'", nil
}
