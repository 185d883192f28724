// Package engine runs executions: a matched rule's tasks, in order, on each
// of its entities, recording every step in the store, then hands the
// outcome to write-back (actionhandler/internal/writeback: notes,
// operations, escalation, retries) and marks it reported. Workers
// (workers.go) feed it executions claimed from the store and drive
// write-back's escalation and retry loops.
//
// Task i runs on every entity it applies to at once (up to Concurrency
// hosts at a time); the task's delay_after is waited before the next task
// that runs anywhere (never after the last). Whether a task applies to a host follows from what happened
// there before (docs/actionhandler.md):
//
//	run_if success (default)  no earlier task failed on the host
//	run_if failure            an earlier task failed on the host
//	run_if always             whatever happened
//	on_failure stop (default) after this task fails on a host, only
//	                          run_if always tasks follow there
//	on_failure continue       later tasks follow their run_if
//
// A host with any failed task failed; an execution with any failed host
// failed. A step refused before it ran (refusal.go: an alert value that
// does not fit its template, ...) is recorded refused and counts as a
// failure with on_failure stop on its host; an execution with a refused
// step is refused, its reason the step's (logged as reason=<word> on its
// execution_finished line, noted on the alert).
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/rs/zerolog"
)

// Defaults for Options fields left zero.
const (
	DefaultConcurrency = 32
	DefaultLease       = 30 * time.Second
	// storeTimeout bounds each store call made while winding down.
	storeTimeout = 15 * time.Second
)

// Store is what the engine records in: an execution's steps, its end,
// its lease, and that it was reported (store.Store is one).
type Store interface {
	Renew(ctx context.Context, id, owner string, lease time.Duration) error
	SaveStep(ctx context.Context, id string, s store.Step) error
	Finish(ctx context.Context, id, owner, status, reason string, steps ...store.Step) error
	Reported(ctx context.Context, id, owner string) error
}

// Options configure an Engine.
type Options struct {
	Store   Store
	Owner   string        // this replica's name in the store
	Lease   time.Duration // renewed every Lease/3 while an execution runs
	Runners map[string]task.Runner
	// Writeback writes every ended execution back (required).
	Writeback   *writeback.Writer
	Concurrency int // hosts at once per task
	// ExecutionTimeout bounds a whole execution (tasks, delays, waits for
	// busy hosts); running commands are killed when it is reached. 0: none.
	ExecutionTimeout time.Duration
	// Development wraps every runner (and a missing one) in task.DryRun:
	// steps are described, noted and logged; nothing runs.
	Development bool
	// Redact masks secrets in everything stored and logged.
	Redact *redact.Redactor
	// Secret resolves {{ secret "name" }} in task templates; nil: none.
	Secret func(name string) (string, error)
	Log    zerolog.Logger
	// Metrics counts executions and actions; nil: none. Wrap write-back's
	// Tickets with Metrics.Tickets to count the write-back calls.
	Metrics *Metrics
	// Sleep waits d or until ctx ends (delay_after); default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Leftovers kills what the remote_ssh steps of an execution taken over
	// from a dead replica left running on their hosts; nil: nothing is
	// killed (the note says to check the host).
	Leftovers LeftoverKiller
	// Outcomes is told how each execution that acted ended (the circuit
	// breaker); nil: nobody.
	Outcomes Outcomes
	// Verify keeps verifications (verify.go); nil: Store, if it is one.
	// Without one, a rule's verify check is not done (its executions end
	// success).
	Verify VerifyStore
	// VerifyLease: how long a claimed verification is held (default
	// DefaultVerifyLease).
	VerifyLease time.Duration
	// decode decodes a stored request (default action.Decode); tests
	// count its calls: the engine decodes once per execution (job).
	decode func([]byte) (*action.Request, error)
}

// Outcomes is told the final outcome of an execution that acted on its
// hosts: once its status is final (success, failure, refused,
// interrupted; remediated or ineffective after verification), never for
// audit, dry-run, skipped, denied or expired ones. r is its rule (nil when
// the stored request cannot be read). It must not block for long.
type Outcomes interface {
	Observe(ctx context.Context, x *store.Execution, r *rule.Rule)
}

// observe tells Outcomes how x ended.
func (e *Engine) observe(ctx context.Context, x *store.Execution, r *rule.Rule) {
	if e.o.Outcomes == nil {
		return
	}
	switch x.Status {
	case store.Success, store.Failure, store.Refused, store.Interrupted, store.Remediated, store.Ineffective:
		e.o.Outcomes.Observe(ctx, x, r)
	}
}

// Engine runs executions. It is safe for concurrent use.
type Engine struct {
	o   Options
	log zerolog.Logger
	// absent runs a task type without a runner: nil, or in development
	// mode a dry run saying there is none.
	absent task.Runner
}

// New returns an Engine.
func New(o Options) *Engine {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.decode == nil {
		o.decode = action.Decode
	}
	if o.Verify == nil {
		o.Verify, _ = o.Store.(VerifyStore)
	}
	if o.VerifyLease <= 0 {
		o.VerifyLease = DefaultVerifyLease
	}
	e := &Engine{o: o, log: o.Log.With().Str(logging.Component, "engine").Logger()}
	if o.Development {
		e.o.Runners = task.DryRunAll(o.Runners)
		e.absent = task.DryRun(nil)
	}
	return e
}

// runner returns the runner of a task type; ok false when there is none.
func (e *Engine) runner(taskType string) (r task.Runner, ok bool) {
	if r, ok := e.o.Runners[taskType]; ok {
		return r, true
	}
	return e.absent, e.absent != nil
}

// dryRun says whether task type's steps are dry runs (task.DryRun).
func (e *Engine) dryRun(taskType string) bool {
	r, ok := e.runner(taskType)
	return ok && task.IsDryRun(r)
}

func (e *Engine) logFor(x *store.Execution) zerolog.Logger {
	return writeback.ExecutionLog(e.log, x)
}

// errShutdown is the cause of an execution cancelled because the service
// stops (Workers.Shutdown).
var errShutdown = errors.New("the action handler shut down while it ran")

// Execute runs x, claimed by this replica (status running), to its end:
// every step is stored as it starts and ends, the execution finished and
// written back. When ctx ends (shutdown) running commands are killed, the
// execution ends interrupted and is still written back. If another replica
// takes the execution over (this one's lease expired), Execute stops and
// leaves the rest to it.
func (e *Engine) Execute(ctx context.Context, x *store.Execution) {
	log := e.logFor(x)
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if e.o.ExecutionTimeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, e.o.ExecutionTimeout,
			fmt.Errorf("execution_timeout %s reached", e.o.ExecutionTimeout))
		defer stop()
	}
	var lost atomic.Bool
	hbDone := make(chan struct{})
	hbStop := make(chan struct{})
	go func() {
		defer close(hbDone)
		e.heartbeat(x.ID, hbStop, func(err error) { lost.Store(true); cancel(err) })
	}()
	log.Info().Str(logging.Event, "execution_started").Int(logging.Count, len(x.Entities)).Msg("execution started")

	rec := &record{id: x.ID, last: -1, all: map[stepKey]store.Step{}}
	j := e.newJob(x)
	var status, reason, why string
	if x.Mode == store.Audit {
		status, reason = e.audit(ctx, log, j, rec) // audit.go: nothing runs
	} else {
		status, reason, why = e.run(ctx, log, j, rec)
	}
	stopHeartbeat := func() {
		select {
		case <-hbStop:
		default:
			close(hbStop)
		}
		<-hbDone
	}
	defer stopHeartbeat()
	lostLease := func() {
		log.Error().Str(logging.Event, "lease_lost").
			Msg("another replica took this execution over (its lease expired); it reports it")
	}
	if lost.Load() {
		stopHeartbeat()
		lostLease()
		return
	}
	if parent.Err() != nil && status != store.DryRun && status != store.Refused && status != store.Audit {
		status, reason, why = store.Interrupted, errShutdown.Error()+": running commands were killed", ""
	}
	bg := context.WithoutCancel(ctx)
	// Succeeded, with a verify check: verifying until it is due (verify.go).
	var verifyAfter time.Duration
	if e.verifies(j.rule(), status) {
		status, verifyAfter = store.Verifying, j.rule().Verify.AfterDuration()
	}
	// The lease is renewed while the end is recorded: a store that
	// refuses writes for a while (disk full) must not make a finished
	// execution look interrupted.
	err := e.retryStore(bg, log, "record the end of the execution", func(ctx context.Context) error {
		if verifyAfter > 0 {
			return e.o.Verify.FinishVerifying(ctx, x.ID, e.o.Owner, verifyAfter, rec.final()...)
		}
		return e.o.Store.Finish(ctx, x.ID, e.o.Owner, status, reason, rec.final()...)
	})
	stopHeartbeat()
	if errors.Is(err, store.ErrLeaseLost) || lost.Load() {
		lostLease()
		return
	}
	if err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).Msg("cannot record the end of the execution")
		return
	}
	// What the store now holds, from memory: not read back.
	got := *x
	got.Status, got.Reason, got.FinishedAt = status, reason, time.Now()
	got.Steps = rec.steps(x.Entities)
	if status == store.Verifying {
		// Counted, logged execution_finished and told to Outcomes with
		// its verdict (Verify); written back now: "verifying at T".
		got.VerifyAt = got.FinishedAt.Add(verifyAfter)
		log.Info().Str(logging.Event, "verification_scheduled").
			Str(logging.VerifyAt, got.VerifyAt.UTC().Format(time.RFC3339)).
			Int64(logging.DelayMS, verifyAfter.Milliseconds()).
			Int64(logging.ElapsedMS, time.Since(start).Milliseconds()).
			Msg("tasks succeeded: verification scheduled")
		e.report(ctx, log, j.with(&got))
		return
	}
	e.o.Metrics.execution(status, time.Since(start))
	succeeded, failed := hostCounts(&got)
	ev := log.Info()
	if status != store.Success && status != store.DryRun && status != store.Audit {
		ev = log.Warn()
	}
	if why != "" {
		ev = ev.Str(logging.Reason, why).Str(logging.Detail, reason)
	} else if status == store.Audit {
		ev = ev.Str(logging.Detail, reason) // the governor's verdict (audit.go)
	}
	ev.Str(logging.Event, "execution_finished").
		Str(logging.ActionStatus, status).
		Int(logging.Count, len(got.Entities)).
		Int(logging.Succeeded, succeeded).
		Int(logging.Failed, failed).
		Int64(logging.ElapsedMS, time.Since(start).Milliseconds()).
		Msg("execution finished")
	// Counted by the circuit breaker before the write-back, which may
	// take long or be cut short by a crash: the next match sees the
	// count, and a takeover that writes back again does not count twice.
	e.observe(ctx, &got, j.rule())
	e.report(ctx, log, j.with(&got))
}

// heartbeat renews the lease every Lease/3 until stop closes; a lost lease
// calls lose.
func (e *Engine) heartbeat(id string, stop <-chan struct{}, lose func(error)) {
	t := time.NewTicker(e.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.o.Lease/3)
		err := e.o.Store.Renew(ctx, id, e.o.Owner, e.o.Lease)
		cancel()
		if errors.Is(err, store.ErrLeaseLost) {
			lose(err)
			return
		}
		if err != nil {
			e.log.Warn().Str(logging.Event, "store_error").Str(logging.ExecutionID, id).
				Str(logging.ErrorKey, err.Error()).Msg("cannot renew the execution's lease")
		}
	}
}

// host is where one entity stands in an execution.
type host struct {
	entity  string
	failed  bool // a task failed here
	stopped bool // a task with on_failure stop failed here
	// refused: the reason word and text of the first step refused here
	refused, refusal string
}

// run runs the tasks and returns the execution's status, the reason
// shown to people and, when refused, the reason word. An execution with
// a dry-run task (task.DryRun) is a dry run.
func (e *Engine) run(ctx context.Context, log zerolog.Logger, j *job, rec *record) (status, reason, why string) {
	if j.err != nil {
		return store.Failure, "the stored request cannot be read: " + j.err.Error(), ""
	}
	x := j.x
	hosts := make([]*host, len(x.Entities))
	for i, ent := range x.Entities {
		hosts[i] = &host{entity: ent}
	}
	tasks := j.req.Rule.Tasks
	rec.last = len(tasks) - 1
	dry := false
	var delay time.Duration // of the last task that ran, waited before the next that runs
	for i, ti := range tasks {
		t := ti.Task
		// A dry run neither succeeds nor fails: the task is described on
		// every host, and nothing ran that delay_after would wait for.
		tdry := e.dryRun(t.TaskType)
		dry = dry || tdry
		var on []*host
		for _, h := range hosts {
			if why := skipReason(t, h, tdry); why != "" {
				e.end(ctx, log, rec, store.Step{TaskIndex: i, Entity: h.entity, TaskType: t.TaskType, Action: t.Action,
					Status: store.Skipped, ExitCode: -1, Error: why})
				continue
			}
			on = append(on, h)
		}
		if len(on) == 0 {
			continue
		}
		if delay > 0 && !tdry {
			// A cancelled wait is fine: the task sees ctx and fails as cancelled.
			_ = e.o.Sleep(ctx, delay)
		}
		e.runTask(ctx, log, j, rec, i, t, on)
		delay = 0
		if !tdry {
			delay = t.DelayAfterDuration()
		}
	}
	if dry {
		return store.DryRun, "", ""
	}
	for _, h := range hosts {
		if h.refused != "" {
			return store.Refused, h.refusal, h.refused
		}
	}
	for _, h := range hosts {
		if h.failed {
			return store.Failure, "", ""
		}
	}
	return store.Success, "", ""
}

// skipReason says why task t does not run on h, "" when it does; a dry
// run is described on every host.
func skipReason(t rule.Task, h *host, dryRun bool) string {
	runIf := t.RunIfOrDefault()
	switch {
	case dryRun:
		return ""
	case h.stopped && runIf != rule.RunIfAlways:
		return "stopped after an earlier task failed"
	case runIf == rule.RunIfSuccess && h.failed:
		return "an earlier task failed"
	case runIf == rule.RunIfFailure && !h.failed:
		return "run_if failure: no earlier task failed"
	}
	return ""
}

// runTask runs task i on hosts, Concurrency at a time.
func (e *Engine) runTask(ctx context.Context, log zerolog.Logger, j *job, rec *record, i int, t rule.Task, hosts []*host) {
	x := j.x
	sem := make(chan struct{}, e.o.Concurrency)
	var wg sync.WaitGroup
	for _, h := range hosts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s := task.Step{ExecutionID: x.ID, AlertID: x.AlertID, RuleName: x.RuleName, Index: i, Task: t,
				Entity: h.entity, Alert: j.alert(), Request: x.Request, Secret: e.o.Secret}
			status, why, text := e.runStep(ctx, log, rec, s)
			switch status {
			case store.Failure:
				h.failed = true
				if t.OnFailureOrDefault() == rule.OnFailureStop {
					h.stopped = true
				}
			case store.Refused:
				// Whatever on_failure says: an alert value was refused.
				h.failed, h.stopped = true, true
				if h.refused == "" {
					h.refused, h.refusal = why, fmt.Sprintf("task %d on %s refused: %s", i, h.entity, text)
				}
			}
		})
	}
	wg.Wait()
}

// runStep runs one step, records it and returns its status; when refused
// also the reason word and the (redacted) error.
func (e *Engine) runStep(ctx context.Context, log zerolog.Logger, rec *record, s task.Step) (status, why, text string) {
	log = log.With().
		Str(logging.Entity, s.Entity).
		Str(logging.Action, s.Task.Action).
		Str(logging.ActionReason, s.Task.ActionReason).
		Int(logging.TaskIndex, s.Index).
		Str(logging.TaskType, s.Task.TaskType).
		Logger()
	red := e.o.Redact.String
	st := store.Step{TaskIndex: s.Index, Entity: s.Entity, TaskType: s.Task.TaskType, Action: s.Task.Action, ExitCode: -1}
	runner, ok := e.runner(s.Task.TaskType)
	if ok && task.IsDryRun(runner) {
		// Runs nothing: says what would run, or why it could not.
		res := runner.Run(ctx, s)
		st.Status = store.DryRun
		if res.Err != nil {
			st.Error = red(res.Err.Error())
		} else {
			st.Command = red(res.Command)
		}
		e.end(ctx, log, rec, st)
		e.o.Metrics.action(s.Task.TaskType, store.DryRun, 0)
		log.Info().Str(logging.Event, "action_dry_run").
			Str(logging.ActionStatus, store.DryRun).
			Str(logging.Command, st.Command).
			Msg("development mode: not running")
		return store.DryRun, "", ""
	}
	desc, descErr := "", error(nil)
	if ok {
		desc, descErr = runner.Describe(s)
	}
	if ok && descErr != nil {
		// The templates do not render: nothing can run.
		why, isRefusal := refused(descErr)
		if !isRefusal {
			why = logging.ReasonValueRefused
		}
		return e.refuse(ctx, log, rec, st, why, descErr)
	}
	st.Status, st.StartedAt, st.Command = store.Running, time.Now(), red(desc)
	e.put(ctx, log, rec, st)
	log.Info().Str(logging.Event, "action_started").Msg("action started")
	// The remote process, recorded while it runs: if this replica dies, the
	// one taking over kills it (Leftovers).
	var remote struct {
		sync.Mutex
		pid   int
		start string
	}
	s.RemoteStarted = func(pid int, start string) {
		remote.Lock()
		remote.pid, remote.start = pid, start
		remote.Unlock()
		running := st
		running.RemotePID, running.RemoteStart = pid, start
		e.put(ctx, log, rec, running)
	}
	var res task.Result
	switch {
	case !ok:
		res = task.Result{ExitCode: -1, Err: fmt.Errorf("no runner for task type %q", s.Task.TaskType)}
	case ctx.Err() != nil:
		res = task.Result{ExitCode: -1, Err: fmt.Errorf("cancelled: %w", context.Cause(ctx))}
	default:
		res = runner.Run(ctx, s)
	}
	st.FinishedAt = time.Now()
	remote.Lock()
	st.RemotePID, st.RemoteStart = remote.pid, remote.start
	remote.Unlock()
	if res.Command != "" {
		st.Command = red(res.Command)
	}
	st.ExitCode, st.HTTPStatus, st.Truncated = res.ExitCode, res.HTTPStatus, res.Truncated
	st.Stdout, st.Stderr = red(res.Stdout), red(res.Stderr)
	st.Status = store.Success
	ev := log.Info()
	if res.Err != nil {
		st.Status, st.Error = store.Failure, red(res.Err.Error())
		if errors.Is(res.Err, sshexec.ErrNoExitStatus) && st.RemotePID > 1 {
			st.Error += "; " + e.killDropped(ctx, log, s.Entity, sshexec.StepKey(s.ExecutionID, s.Index, s.Entity),
				sshexec.Process{PID: st.RemotePID, Start: st.RemoteStart})
		}
		ev = log.Warn().Str(logging.ErrorKey, st.Error)
		if w, isRefusal := refused(res.Err); isRefusal {
			// The runner refused before acting (e.g. a destination check).
			st.Status, why, text = store.Refused, w, st.Error
		}
	}
	e.end(ctx, log, rec, st)
	e.o.Metrics.action(s.Task.TaskType, st.Status, st.FinishedAt.Sub(st.StartedAt))
	ev.Str(logging.Event, "action_finished").
		Str(logging.ActionStatus, st.Status).
		Int(logging.ExitCode, res.ExitCode).
		Int64(logging.ElapsedMS, res.Elapsed.Milliseconds()).
		Msg("action finished")
	return st.Status, why, text
}

// refuse records step st as refused before it ran and logs it (the reason
// word goes on the execution's execution_finished line, once).
func (e *Engine) refuse(ctx context.Context, log zerolog.Logger, rec *record, st store.Step, why string, err error) (status, reason, text string) {
	now := time.Now()
	st.Status, st.StartedAt, st.FinishedAt = store.Refused, now, now
	st.Error = e.o.Redact.String(err.Error())
	e.end(ctx, log, rec, st)
	e.o.Metrics.action(st.TaskType, store.Refused, 0)
	log.Warn().Str(logging.Event, "action_refused").
		Str(logging.ActionStatus, store.Refused).
		Str(logging.ErrorKey, st.Error).
		Msg("step refused before running: nothing was run on the host")
	return store.Refused, why, st.Error
}

// killDropped kills the command of a step whose SSH connection ended
// while it ran (host-side sshd killed, network cut): without a pty the
// host does not stop it, so it would go on running after the step was
// reported failed. It reconnects (Leftovers) and kills the process if it
// is still the one the host reported, and says what became of it.
func (e *Engine) killDropped(ctx context.Context, log zerolog.Logger, entity, key string, p sshexec.Process) string {
	pid := strconv.Itoa(p.PID)
	if e.o.Leftovers == nil {
		return "its command (pid " + pid + ") may still run: check the host"
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	found, err := e.o.Leftovers.KillLeftover(kctx, entity, key, p)
	switch {
	case err != nil:
		msg := "could not check whether its command (pid " + pid + ") still runs: " + e.o.Redact.String(err.Error())
		log.Error().Str(logging.Event, "remote_command_unknown").Str(logging.ErrorKey, e.o.Redact.String(err.Error())).Msg(msg)
		return msg
	case found.Killed:
		msg := "its command (pid " + pid + ") was still running and was killed"
		log.Warn().Str(logging.Event, "remote_command_killed").Msg(msg)
		return msg
	}
	msg := "its command (pid " + pid + ") had ended"
	log.Info().Str(logging.Event, "remote_command_ended").Msg(msg)
	return msg
}

// save records a step, trying again while the store refuses (retryStore);
// a store failure that lasts is logged (the execution goes on: its end is
// recorded, or it is taken over as interrupted).
func (e *Engine) save(ctx context.Context, log zerolog.Logger, id string, st store.Step) {
	err := e.retryStore(context.WithoutCancel(ctx), log, "record a step", func(ctx context.Context) error {
		return e.o.Store.SaveStep(ctx, id, st)
	})
	if err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).Msg("cannot record a step")
	}
}

// record holds what an execution's steps will record with its end: the
// results of the last task's steps, which land in the store with the
// execution's status (Store.Finish), in one transaction. Every step that
// runs a command is still saved as running before it starts (a replica
// taking over kills what it left running).
//
// It also keeps every step as last recorded, for the write-back: the
// engine does not read back what it wrote.
type record struct {
	id      string
	last    int // index of the last task; -1 until known
	mu      sync.Mutex
	pending []store.Step
	all     map[stepKey]store.Step
}

type stepKey struct {
	task   int
	entity string
}

// steps returns every step recorded, in the store's order: by task, then
// entity in the order of entities.
func (r *record) steps(entities []string) []store.Step {
	pos := make(map[string]int, len(entities))
	for i, ent := range entities {
		pos[ent] = i
	}
	r.mu.Lock()
	out := make([]store.Step, 0, len(r.all))
	for _, st := range r.all {
		out = append(out, st)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b store.Step) int {
		if a.TaskIndex != b.TaskIndex {
			return a.TaskIndex - b.TaskIndex
		}
		return pos[a.Entity] - pos[b.Entity]
	})
	return out
}

// put records step st at once.
func (e *Engine) put(ctx context.Context, log zerolog.Logger, rec *record, st store.Step) {
	rec.mu.Lock()
	rec.all[stepKey{st.TaskIndex, st.Entity}] = st
	rec.mu.Unlock()
	e.save(ctx, log, rec.id, st)
}

// final returns the steps to record with the execution's end.
func (r *record) final() []store.Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// end records the result of step st: with the execution's end when it is
// of the last task, at once otherwise.
func (e *Engine) end(ctx context.Context, log zerolog.Logger, rec *record, st store.Step) {
	if st.TaskIndex != rec.last {
		e.put(ctx, log, rec, st)
		return
	}
	rec.mu.Lock()
	rec.all[stepKey{st.TaskIndex, st.Entity}] = st
	rec.pending = append(rec.pending, st)
	rec.mu.Unlock()
}

// Store retries: the first after storeRetryFirst, each next twice as late
// up to storeRetryMax, for at most the engine's lease in all.
const (
	storeRetryFirst = 100 * time.Millisecond
	storeRetryMax   = 2 * time.Second
)

// retryStore calls f (each call bounded by storeTimeout) until it
// succeeds, fails for good (not store.Unavailable: a lost lease, a
// constraint), or the lease has passed since the first try: a store that refuses writes for a while (a full disk, a
// database restarting) loses no outcome. The first failure is logged
// (event=store_error, level warn); the last error is returned.
func (e *Engine) retryStore(ctx context.Context, log zerolog.Logger, what string, f func(context.Context) error) error {
	deadline := time.Now().Add(e.o.Lease)
	wait := storeRetryFirst
	for try := 0; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err := f(cctx)
		cancel()
		if !store.Unavailable(err) {
			return err // done, or a failure that trying again cannot mend
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return err
		}
		if try == 0 {
			log.Warn().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
				Int64(logging.DelayMS, wait.Milliseconds()).Msg("cannot " + what + "; trying again")
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, storeRetryMax)
	}
}

// hostCounts counts hosts with and without a failed step.
func hostCounts(x *store.Execution) (succeeded, failed int) {
	bad := map[string]bool{}
	for _, st := range x.Steps {
		if st.Status == store.Failure || st.Status == store.Interrupted || st.Status == store.Refused {
			bad[st.Entity] = true
		}
	}
	return len(x.Entities) - len(bad), len(bad)
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
