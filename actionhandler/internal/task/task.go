// Package task defines what the engine asks of a task type: run one task
// of a rule for one entity. Each task type is a package under task/
// registered by name in cmd/actionhandler/tasks.go (and in
// shared/rule.TaskTypes, so the classifier accepts it).
package task

import (
	"context"
	"strconv"
	"time"

	"github.com/alexis-ops/alexis/shared/rule"
)

// Step is one task of a rule to run for one entity.
type Step struct {
	ExecutionID string
	AlertID     string
	RuleName    string
	Index       int // position in the rule's task_list
	Task        rule.Task
	Entity      string // as resolved from the rule ("app01", "app01:2222")
	// Alert is the alert (the envelope's JSON object) templates read;
	// Request the merged alert+rule (action.Request JSON) plugins read.
	Alert   []byte
	Request []byte
	// Secret returns a configured secret for templates; nil: none.
	Secret func(name string) (string, error)
	// RemoteStarted, if set, is called by task types that start a process
	// on a host (remote_ssh) with its pid and start time, as soon as they
	// are known and before Run returns.
	RemoteStarted func(pid int, start string)
}

// Data is what the step's templates are rendered with.
func (s Step) Data() rule.TemplateData {
	return rule.TemplateData{Alert: s.Alert, Entity: s.Entity, Secret: s.Secret}
}

// Timeout is the task's own timeout, else def.
func (s Step) Timeout(def time.Duration) time.Duration {
	if d := s.Task.TimeoutDuration(); d > 0 {
		return d
	}
	return def
}

// Env is the environment the action handler gives local programs and
// plugins besides PATH and the task's env.
func (s Step) Env() map[string]string {
	return map[string]string{
		"ALEXIS_EXECUTION_ID": s.ExecutionID,
		"ALEXIS_ALERT_ID":     s.AlertID,
		"ALEXIS_RULE_NAME":    s.RuleName,
		"ALEXIS_ENTITY":       s.Entity,
		"ALEXIS_TASK_INDEX":   strconv.Itoa(s.Index),
	}
}

// Result is what a step did.
type Result struct {
	Command    string // what ran: the rendered command line, argv or "METHOD URL"
	ExitCode   int    // -1 when there is none (not run, timed out, http, ...)
	HTTPStatus int    // http: the answer's status code
	Stdout     string // captured output, capped; may hold secrets until redacted: never log it
	Stderr     string
	Truncated  bool // output was cut at the cap
	Elapsed    time.Duration
	Err        error // nil exactly on success; its text is the reason shown to people
}

// Runner runs one task type.
type Runner interface {
	// Run performs the step, honouring ctx (cancellation stops the work:
	// remote commands and processes are killed).
	Run(ctx context.Context, s Step) Result
	// Describe says what Run would do, for development mode ("run
	// 'uptime'"), templates rendered; an error when they do not render.
	Describe(s Step) (string, error)
}
