// Package remotessh is the remote_ssh task type: run the task's
// run_command (rendered from the alert when it is a template, every value
// shell-quoted: shared/command) on the entity over SSH.
//
//	{"task_type": "remote_ssh", "run_command": "sudo systemctl restart dup", "timeout": "2m"}
//
// Its only parameter, run_command, is a common field of shared/task.Task
// (template and unsafe_reason apply to it, and shared/rule checks the
// template); this package requires it. The SSH client is the action
// handler's, given as an Executor in Options.
package remotessh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/alexis-ops/alexis/shared/task"
)

// Name is the task_type of this package.
const Name = "remote_ssh"

// Request is one command for one host.
type Request struct {
	Entity  string
	Command string
	Timeout time.Duration // 0: the executor's default
	// ExecutionID and Index name the step (a key for the pid file on the
	// host, so a leftover can be killed later).
	ExecutionID string
	Index       int
	// Started, if set, is called with the remote pid and start time as
	// soon as the host reported them.
	Started func(pid int, start string)
}

// Response is what the command did.
type Response struct {
	ExitCode       int
	Stdout, Stderr string
	Truncated      bool
	Elapsed        time.Duration
	Err            error // nil exactly when it exited 0
}

// Executor runs a command on a host (the action handler's SSH executor,
// adapted).
type Executor interface {
	Exec(ctx context.Context, req Request) Response
}

// Options are what the action handler gives the runner (Env.Options[Name]).
type Options struct {
	Exec Executor // nil in development mode, where only Describe is used
}

// Type is the remote_ssh task type.
type Type struct{}

// Name implements task.Type.
func (Type) Name() string { return Name }

// Fields implements task.Type.
func (Type) Fields() []string { return []string{"run_command"} }

// Decode implements task.Type: run_command is required.
func (Type) Decode(t task.Task, _ json.RawMessage) (any, []task.Problem) {
	if strings.TrimSpace(t.RunCommand) == "" {
		return nil, []task.Problem{{Path: "run_command", Msg: "required for remote_ssh"}}
	}
	return nil, nil
}

// NewRunner implements task.Type.
func (Type) NewRunner(env task.Env) (task.Runner, error) {
	o, err := task.OptionsOf[Options](env, Name)
	if err != nil {
		return nil, err
	}
	return New(o.Exec), nil
}

// Runner runs commands through an Executor.
type Runner struct {
	exec Executor
}

// New returns a Runner; exec may be nil in development mode, where only
// Describe is used.
func New(exec Executor) *Runner { return &Runner{exec: exec} }

// Command returns the command line t runs for an alert (the envelope's
// JSON): run_command as written, or, for a template task, rendered from
// the alert with every value shell-quoted. A value the template needs that
// is missing, null, not a single value or holds a NUL byte is an error: the
// task must then fail, not run something else.
func Command(t task.Task, alertJSON []byte) (string, error) {
	if !t.Template {
		return t.RunCommand, nil
	}
	tmpl, err := command.Parse(t.RunCommand)
	if err != nil {
		return "", fmt.Errorf("run_command: %w", err)
	}
	return tmpl.Render(alertJSON)
}

// Run runs the task's command on the step's entity.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	cmd, err := Command(s.Task, s.Alert)
	if err != nil {
		return task.Result{Command: s.Task.RunCommand, ExitCode: -1, Err: err}
	}
	if r.exec == nil {
		return task.Result{Command: cmd, ExitCode: -1, Err: errors.New("remote_ssh: no SSH executor configured")}
	}
	res := r.exec.Exec(ctx, Request{Entity: s.Entity, Command: cmd, Timeout: s.Task.TimeoutDuration(),
		ExecutionID: s.ExecutionID, Index: s.Index, Started: s.RemoteStarted})
	return task.Result{
		Command:   cmd,
		ExitCode:  res.ExitCode,
		Stdout:    res.Stdout,
		Stderr:    res.Stderr,
		Truncated: res.Truncated,
		Elapsed:   res.Elapsed,
		Err:       res.Err,
	}
}

// Describe says what Run would do.
func (r *Runner) Describe(s task.Step) (string, error) {
	cmd, err := Command(s.Task, s.Alert)
	if err != nil {
		return "", err
	}
	return "run '" + cmd + "'", nil
}
