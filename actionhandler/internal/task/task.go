// Package task defines what the engine asks of a task type: run one task
// of a rule on one entity. Each task type is a package under task/
// registered by name in cmd/actionhandler/tasks.go.
package task

import (
	"context"
	"time"

	"github.com/alexis-ops/alexis/shared/rule"
)

// Step is one task of a rule to run on one entity.
type Step struct {
	ExecutionID string
	Index       int // position in the rule's task_list
	Task        rule.Task
	Entity      string // as resolved from the rule ("app01", "app01:2222")
}

// Result is what a step did.
type Result struct {
	ExitCode  int    // -1 when there is none (not run, timed out, ...)
	Stdout    string // captured output, capped; may hold secrets: never log it
	Stderr    string
	Truncated bool // output was cut at the cap
	Elapsed   time.Duration
	Err       error // nil exactly on success; its text is the reason shown to people
}

// Runner runs one task type.
type Runner interface {
	// Run performs the step, honouring ctx (cancellation stops remote work).
	Run(ctx context.Context, s Step) Result
	// Describe says what Run would do, for development mode: "run 'uptime'".
	Describe(t rule.Task) string
}
