package engine

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// audit runs an execution of a rule in audit mode (docs/rollout.md): like
// development mode's dry run, but for this execution only and recorded
// as audit. Every task is described on every host with its templates
// rendered (Runner.Describe, which does no I/O: no SSH connection, no
// process, no HTTP call, no plugin); a step whose templates refuse an
// alert value is recorded refused, as it would be for real, since that is
// what the rule's author wants to learn. The execution ends audit, its
// reason the governor's verdict recorded at claim (store.AuditVerdict),
// the refusals, and the write-back a success would do.
func (e *Engine) audit(ctx context.Context, log zerolog.Logger, j *job, rec *record) (status, reason string) {
	x := j.x
	verdict := x.Reason
	if verdict == "" {
		verdict = store.AuditAllowed
	}
	if j.err != nil {
		return store.Audit, verdict + "; the stored request cannot be read: " + j.err.Error()
	}
	tasks := j.req.Rule.Tasks
	rec.last = len(tasks) - 1
	described, refusals := 0, []string{}
	for _, s := range e.taskSteps(j) {
		if refusal := e.auditStep(ctx, log, rec, s); refusal != "" {
			refusals = append(refusals, refusal)
			continue
		}
		described++
	}
	var b strings.Builder
	b.WriteString(verdict)
	fmt.Fprintf(&b, "; nothing ran: %d step(s) described", described)
	if len(refusals) > 0 {
		fmt.Fprintf(&b, ", %d refused (%s)", len(refusals), strings.Join(refusals, "; "))
	}
	if v := j.req.Rule.Verify; v != nil {
		// Verification (verify.go): what a success would be checked with.
		var what []string
		if v.Task != nil {
			what = append(what, "the verify task "+cmp.Or(v.Task.Action, v.Task.TaskType)+" on every host")
		}
		if v.AlertResolved {
			what = append(what, "the alert resolved at its source")
		}
		fmt.Fprintf(&b, "; on success it would verify after %s (%s)", v.After, strings.Join(what, " and "))
	}
	if ops := j.req.Rule.SuccessOps(); len(ops) > 0 {
		desc := make([]string, len(ops))
		for i, op := range ops {
			desc[i] = op.String()
		}
		b.WriteString("; on success the write-back would: " + strings.Join(desc, ", "))
	}
	return store.Audit, logging.Trim(e.o.Redact.String(b.String()), 4000)
}

// auditStep describes one step and records it: status audit with the
// rendered, redacted command, or refused with why its templates refused
// an alert value (returned, "" when described). Logged action_audit.
func (e *Engine) auditStep(ctx context.Context, log zerolog.Logger, rec *record, s task.Step) (refusal string) {
	log = log.With().
		Str(logging.Entity, s.Entity).
		Str(logging.Action, s.Task.Action).
		Int(logging.TaskIndex, s.Index).
		Str(logging.TaskType, s.Task.TaskType).
		Logger()
	st, err := e.describe(s, store.Audit)
	st.StartedAt = time.Now()
	st.FinishedAt = st.StartedAt
	ev := log.Info()
	if err != nil {
		w, isRefusal := refused(err)
		if !isRefusal {
			w = logging.ReasonValueRefused
		}
		refusal = fmt.Sprintf("task %d on %s: %s", s.Index+1, s.Entity, st.Error)
		ev = log.Warn().Str(logging.Reason, w).Str(logging.ErrorKey, st.Error)
	}
	e.end(ctx, log, rec, st)
	e.o.Metrics.action(s.Task.TaskType, store.Audit, 0)
	ev.Str(logging.Event, "action_audit").
		Str(logging.ActionStatus, st.Status).
		Str(logging.Command, st.Command).
		Msg("audit mode: not running")
	return refusal
}

// taskSteps are j's steps, each task on each of its hosts, in order.
func (e *Engine) taskSteps(j *job) []task.Step {
	x := j.x
	var out []task.Step
	for i, ti := range j.req.Rule.Tasks {
		for _, ent := range x.Entities {
			out = append(out, task.Step{ExecutionID: x.ID, AlertID: x.AlertID, RuleName: x.RuleName, Index: i, Task: ti.Task,
				Entity: ent, Alert: j.alert(), Request: x.Request, Secret: e.o.Secret})
		}
	}
	return out
}

// describe renders step s without running it (Runner.Describe does no
// I/O): a store step with status and its rendered, redacted command, or
// refused with why (also returned) when its templates refuse an alert
// value or its task type has no runner.
func (e *Engine) describe(s task.Step, status string) (store.Step, error) {
	st := store.Step{TaskIndex: s.Index, Entity: s.Entity, TaskType: s.Task.TaskType, Action: s.Task.Action,
		ExitCode: -1, Status: status}
	var desc string
	var err error
	if r, ok := e.runner(s.Task.TaskType); ok {
		desc, err = r.Describe(s)
	} else {
		err = fmt.Errorf("no runner for task type %q", s.Task.TaskType)
	}
	if err != nil {
		st.Status, st.Error = store.Refused, e.o.Redact.String(err.Error())
		return st, err
	}
	st.Command = e.o.Redact.String(desc)
	return st, nil
}
