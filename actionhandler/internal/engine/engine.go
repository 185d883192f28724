// Package engine runs an execution: a matched rule's tasks, in order, on
// each of its entities, then writes the outcome back onto the alert.
//
// Task i runs on every entity still in the running at once (up to
// Concurrency hosts at a time), then the engine waits the task's
// delay_after before task i+1 (not after the last task). A host whose task
// failed gets no further tasks; the others carry on.
package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// Defaults for Options fields left zero.
const (
	DefaultConcurrency      = 32
	DefaultWritebackTimeout = 30 * time.Second
)

// Options configure an Engine.
type Options struct {
	Runners            map[string]task.Runner // by task_type
	Tickets            ticket.Set             // write-back, by feed_type
	InvestigationQueue string                 // team for alerts with a failed host
	Concurrency        int                    // hosts at once per task
	Development        bool                   // describe, note and log; run nothing
	Log                zerolog.Logger
	// Sleep waits d or until ctx ends (delay_after); default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// WritebackTimeout bounds the write-back of one execution. Write-back
	// happens even when the execution was cancelled (on shutdown).
	WritebackTimeout time.Duration
}

// Engine runs executions. It is safe for concurrent use.
type Engine struct {
	o   Options
	log zerolog.Logger
}

// New returns an Engine.
func New(o Options) *Engine {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.WritebackTimeout <= 0 {
		o.WritebackTimeout = DefaultWritebackTimeout
	}
	return &Engine{o: o, log: o.Log.With().Str(logging.Component, "engine").Logger()}
}

// Execution is one accepted action request.
type Execution struct {
	ID       string
	Request  *action.Request
	Entities []string // resolved from the rule for the alert
	Client   string   // who asked
}

// Report is what an execution did.
type Report struct {
	ID      string
	Status  string // logging.StatusSuccess, StatusFailure or StatusDryRun
	Hosts   []*HostReport
	Elapsed time.Duration
}

// HostReport is what happened on one entity.
type HostReport struct {
	Entity string
	Status string // success, failure or dry_run
	Steps  []Step
}

// Step is one task on one host.
type Step struct {
	Index       int
	Task        rule.Task
	Status      string // success, failure, skipped or dry_run
	Result      task.Result
	Description string // dry runs: what would have run
}

// Run runs x to its end and writes the outcome back. When ctx ends,
// running commands are killed and the tasks left fail as cancelled; the
// write-back still happens.
func (e *Engine) Run(ctx context.Context, x Execution) *Report {
	start := time.Now()
	r := x.Request.Rule
	log := e.log.With().
		Str(logging.ExecutionID, x.ID).
		Str(logging.AlertID, x.Request.Alert.ID()).
		Str(logging.UniqueValue, x.Request.Alert.Meta.UniqueValue).
		Str(logging.RuleName, r.Name).
		Str(logging.Client, x.Client).
		Logger()
	rep := &Report{ID: x.ID}
	live := make([]*HostReport, 0, len(x.Entities))
	for _, ent := range x.Entities {
		h := &HostReport{Entity: ent, Status: logging.StatusSuccess}
		if e.o.Development {
			h.Status = logging.StatusDryRun
		}
		rep.Hosts = append(rep.Hosts, h)
		live = append(live, h)
	}
	for i, ti := range r.Tasks {
		t := ti.Task
		if i > 0 && !e.o.Development {
			if d := r.Tasks[i-1].Task.DelayAfterDuration(); d > 0 && len(live) > 0 {
				// A cancelled wait is fine: the next task sees ctx and fails as cancelled.
				_ = e.o.Sleep(ctx, d)
			}
		}
		e.runTask(ctx, log, x.ID, i, t, live)
		next := live[:0]
		for _, h := range live {
			if h.Status != logging.StatusFailure {
				next = append(next, h)
			}
		}
		live = next
	}
	// Hosts that failed early get their remaining tasks listed as skipped.
	for _, h := range rep.Hosts {
		for i := len(h.Steps); i < len(r.Tasks); i++ {
			h.Steps = append(h.Steps, Step{Index: i, Task: r.Tasks[i].Task, Status: logging.StatusSkipped})
		}
	}

	rep.Status = logging.StatusSuccess
	succeeded, failed := 0, 0
	for _, h := range rep.Hosts {
		switch h.Status {
		case logging.StatusFailure:
			failed++
			rep.Status = logging.StatusFailure
		default:
			succeeded++
		}
	}
	if e.o.Development {
		rep.Status = logging.StatusDryRun
	}
	e.writeBack(ctx, log, x, rep)
	rep.Elapsed = time.Since(start)
	ev := log.Info()
	if rep.Status == logging.StatusFailure {
		ev = log.Warn()
	}
	ev.Str(logging.Event, "execution_finished").
		Str(logging.ActionStatus, rep.Status).
		Int(logging.Count, len(rep.Hosts)).
		Int(logging.Succeeded, succeeded).
		Int(logging.Failed, failed).
		Int64(logging.ElapsedMS, rep.Elapsed.Milliseconds()).
		Msg("execution finished")
	return rep
}

// runTask runs task i on every live host, Concurrency at a time.
func (e *Engine) runTask(ctx context.Context, log zerolog.Logger, id string, i int, t rule.Task, hosts []*HostReport) {
	sem := make(chan struct{}, e.o.Concurrency)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st := e.runStep(ctx, log, task.Step{ExecutionID: id, Index: i, Task: t, Entity: h.Entity})
			h.Steps = append(h.Steps, st)
			if st.Status == logging.StatusFailure {
				h.Status = logging.StatusFailure
			}
		}()
	}
	wg.Wait()
}

func (e *Engine) runStep(ctx context.Context, log zerolog.Logger, s task.Step) Step {
	log = log.With().
		Str(logging.Entity, s.Entity).
		Str(logging.Action, s.Task.Action).
		Str(logging.ActionReason, s.Task.ActionReason).
		Int(logging.TaskIndex, s.Index).
		Str(logging.TaskType, s.Task.TaskType).
		Logger()
	st := Step{Index: s.Index, Task: s.Task}
	runner, ok := e.o.Runners[s.Task.TaskType]
	if e.o.Development {
		st.Status = logging.StatusDryRun
		st.Result.ExitCode = -1
		if ok {
			st.Description = runner.Describe(s.Task)
		} else {
			st.Description = "run unknown task type " + s.Task.TaskType
		}
		log.Info().Str(logging.Event, "action_dry_run").
			Str(logging.ActionStatus, logging.StatusDryRun).
			Str(logging.Command, s.Task.RunCommand).
			Msg("development mode: not running")
		return st
	}
	log.Info().Str(logging.Event, "action_started").Msg("action started")
	switch {
	case !ok:
		st.Result = task.Result{ExitCode: -1, Err: fmt.Errorf("no runner for task type %q", s.Task.TaskType)}
	case ctx.Err() != nil:
		st.Result = task.Result{ExitCode: -1, Err: fmt.Errorf("cancelled: %w", context.Cause(ctx))}
	default:
		st.Result = runner.Run(ctx, s)
	}
	st.Status = logging.StatusSuccess
	ev := log.Info()
	if st.Result.Err != nil {
		st.Status = logging.StatusFailure
		ev = log.Warn().Str(logging.ErrorKey, st.Result.Err.Error())
	}
	ev.Str(logging.Event, "action_finished").
		Str(logging.ActionStatus, st.Status).
		Int(logging.ExitCode, st.Result.ExitCode).
		Int64(logging.ElapsedMS, st.Result.Elapsed.Milliseconds()).
		Msg("action finished")
	return st
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
