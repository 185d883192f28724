package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// Note sizes: command output is trimmed to OutputNoteLimit per step, and a
// whole note to NoteLimit (OpsGenie accepts notes of up to 25000
// characters).
const (
	OutputNoteLimit = 1024
	NoteLimit       = 24000
)

// Report writes an ended execution (x with its steps, owned by this
// replica) back onto its alert and marks it reported. Notes first: one per
// host, or one for a skipped execution. Then the rule's operations
// (ticket.Apply; one failing does not stop the rest): rule.SuccessOps when
// it succeeded (default: add route_to_team); rule.FailureOps when it
// failed, was interrupted, refused or skipped (default: add the
// investigation queue); none for a dry run.
//
// Executions that end here without running (skipped by the governor, or
// taken over as interrupted from a replica that died) get their
// execution_finished log line here, so every execution has one.
func (e *Engine) Report(ctx context.Context, x *store.Execution) {
	log := e.logFor(x)
	switch x.Status {
	case store.Skipped:
		log.Warn().Str(logging.Event, "execution_skipped").Str(logging.Reason, logging.ReasonGovernor).
			Str(logging.Detail, x.Reason).Int(logging.Count, len(x.Entities)).Msg("governor refused the execution")
	case store.Interrupted:
		log.Warn().Str(logging.Event, "execution_interrupted").Str(logging.Reason, x.Reason).
			Msg("execution interrupted; reporting it on the alert")
	}
	if x.Status == store.Skipped {
		e.o.Metrics.skipped(x.Reason)
	}
	if x.Status == store.Skipped || x.Status == store.Interrupted {
		var elapsed time.Duration
		if !x.StartedAt.IsZero() && !x.FinishedAt.IsZero() {
			elapsed = x.FinishedAt.Sub(x.StartedAt)
		}
		e.o.Metrics.execution(x.Status, elapsed)
		succeeded, failed := hostCounts(x)
		ev := log.Warn().Str(logging.Event, "execution_finished").Str(logging.ActionStatus, x.Status).
			Int(logging.Count, len(x.Entities)).Int(logging.Succeeded, succeeded).Int(logging.Failed, failed)
		if x.Status == store.Skipped {
			ev = ev.Str(logging.Reason, logging.ReasonGovernor).Str(logging.Detail, x.Reason)
		}
		if !x.StartedAt.IsZero() && !x.FinishedAt.IsZero() {
			ev = ev.Int64(logging.ElapsedMS, x.FinishedAt.Sub(x.StartedAt).Milliseconds())
		}
		ev.Msg("execution finished")
	}
	e.report(ctx, log, e.newJob(x))
}

// report writes j's execution back and marks it reported.
func (e *Engine) report(ctx context.Context, log zerolog.Logger, j *job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.o.WritebackTimeout)
	defer cancel()
	x := j.x
	e.writeBack(ctx, log, x, j.rule())
	e.scheduleEscalation(ctx, log, j)
	// Tried again while the store refuses: an execution written back but
	// not marked reported would be written back again after a takeover.
	if err := e.retryStore(ctx, log, "mark the execution reported", func(ctx context.Context) error {
		return e.o.Store.Reported(ctx, x.ID, x.Owner)
	}); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot mark the execution reported")
	}
}

func (e *Engine) writeBack(ctx context.Context, log zerolog.Logger, x *store.Execution, r *rule.Rule) {
	tk, ok := e.o.Tickets.ForFeed(x.FeedType, x.FeedName)
	if !ok {
		log.Info().Str(logging.Event, "writeback_skipped").Str(logging.FeedType, x.FeedType).Str(logging.FeedName, x.FeedName).
			Msg("no ticket system configured for this feed")
		return
	}
	var notes []string
	if x.Status == store.Skipped {
		notes = []string{e.SkipNote(x)}
	} else {
		for _, ent := range x.Entities {
			notes = append(notes, e.Note(x, r, ent))
		}
	}
	var retry []failedOp
	defer func() { e.queueRetries(ctx, log, x, retry) }()
	for i, n := range notes {
		n = e.o.Redact.String(n)
		if err := tk.AddNote(ctx, x.AlertID, n); err != nil {
			retry = append(retry, failedOp{ticket.Op{Kind: ticket.KindNote, Value: n}, err})
			ev := log.Warn().Str(logging.Event, "writeback_failed").Str(logging.ErrorKey, e.o.Redact.String(err.Error()))
			if x.Status != store.Skipped {
				ev = ev.Str(logging.Entity, x.Entities[i])
			}
			ev.Msg("add note failed")
		}
	}
	var ops []ticket.Op
	switch x.Status {
	case store.Success:
		if r != nil {
			ops = r.SuccessOps()
		}
	case store.Failure, store.Interrupted, store.Skipped, store.Refused:
		ops = rule.DefaultOnFailure(e.o.InvestigationQueue)
		if r != nil {
			ops = r.FailureOps(e.o.InvestigationQueue)
		}
	}
	failed := map[int]bool{}
	for _, err := range ticket.Apply(ctx, tk, x.AlertID, ops) {
		var oe *ticket.OpError
		if !errors.As(err, &oe) {
			continue
		}
		failed[oe.Index] = true
		retry = append(retry, failedOp{oe.Op, oe.Err})
		ev := log.Warn().Str(logging.Event, "writeback_failed")
		if oe.Op.Kind == ticket.KindAddTeam {
			ev = ev.Str(logging.Team, oe.Op.Value)
		}
		ev.Str(logging.ErrorKey, e.o.Redact.String(err.Error())).Msg(oe.Op.Kind + " failed")
	}
	for i, op := range ops {
		if failed[i] {
			continue
		}
		if op.Kind == ticket.KindAddTeam {
			log.Info().Str(logging.Event, "team_added").Str(logging.Team, op.Value).
				Str(logging.ActionStatus, x.Status).Msg("alert routed")
			continue
		}
		log.Info().Str(logging.Event, "writeback_done").Str(logging.ActionStatus, x.Status).
			Msg(e.o.Redact.String(logging.Trim(op.String(), 200)))
	}
}

// SkipNote is the note on an alert whose execution the governor refused.
func (e *Engine) SkipNote(x *store.Execution) string {
	return logging.Trim(adHocLine(x)+fmt.Sprintf("Alexis rule %s did not run on %s: %s. Sent to %s for a person to decide.",
		x.RuleName, strings.Join(x.Entities, ", "), x.Reason, e.o.InvestigationQueue), NoteLimit)
}

// adHocLine opens the note of an ad-hoc execution (a rule the action
// handler could not verify, posted by a token with scope adhoc).
func adHocLine(x *store.Execution) string {
	if !x.AdHoc {
		return ""
	}
	return fmt.Sprintf("[ad-hoc] Alexis rule %s was posted by %s, not forwarded by the classifier from the deployed rules.\n\n",
		x.RuleName, x.Client)
}

// Note is the text written on the alert for one host: a line per task,
// each followed by the trimmed output of the command.
//
//	Alexis rule day_gc: restart_service on app01: success (exit 0, 1.2s)
//	stdout...
func (e *Engine) Note(x *store.Execution, r *rule.Rule, entity string) string {
	var b strings.Builder
	if x.Status == store.Interrupted {
		fmt.Fprintf(&b, "Alexis rule %s: execution %s was interrupted (%s). What ran on %s may be incomplete: check it.",
			x.RuleName, x.ID, x.Reason, entity)
	}
	steps := map[int]store.Step{}
	last := -1
	for _, st := range x.Steps {
		if st.Entity == entity {
			steps[st.TaskIndex] = st
			last = max(last, st.TaskIndex)
		}
	}
	n := last + 1
	if r != nil && x.Status == store.Interrupted {
		n = len(r.Tasks) // list the tasks that never started too
	}
	for i := 0; i < n; i++ {
		st, ok := steps[i]
		if !ok {
			if r == nil || i >= len(r.Tasks) {
				continue
			}
			t := r.Tasks[i].Task
			st = store.Step{TaskIndex: i, Entity: entity, TaskType: t.TaskType, Action: t.Action, Status: store.StepNotRun}
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		label := st.Action
		if label == "" {
			label = fmt.Sprintf("task %d (%s)", st.TaskIndex+1, st.TaskType)
		}
		fmt.Fprintf(&b, "Alexis rule %s: ", x.RuleName)
		switch st.Status {
		case store.DryRun:
			if st.Error != "" {
				fmt.Fprintf(&b, "[development mode] %s on %s would fail: %s", label, entity, st.Error)
			} else {
				fmt.Fprintf(&b, "[development mode] would %s on %s", st.Command, entity)
			}
		case store.Skipped:
			fmt.Fprintf(&b, "%s on %s: skipped (%s)", label, entity, st.Error)
		case store.StepNotRun:
			fmt.Fprintf(&b, "%s on %s: not run", label, entity)
		case store.Refused:
			fmt.Fprintf(&b, "%s on %s: refused, nothing was run (%s). Sent to %s for a person to decide.",
				label, entity, st.Error, e.o.InvestigationQueue)
		case store.Interrupted, store.Running:
			fmt.Fprintf(&b, "%s on %s: interrupted while running, outcome unknown", label, entity)
			if st.Error != "" && st.Error != store.InterruptedStepError {
				b.WriteString("; " + st.Error) // what became of its command (KillLeftovers)
			}
		default:
			fmt.Fprintf(&b, "%s on %s: %s (%s, %s)", label, entity, st.Status, detail(st), seconds(st))
			if out := output(st); out != "" {
				b.WriteString("\n" + out)
			}
		}
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "Alexis rule %s on %s: %s", x.RuleName, entity, x.Status)
		if x.Reason != "" {
			b.WriteString(" (" + x.Reason + ")")
		}
	}
	return logging.Trim(adHocLine(x)+b.String(), NoteLimit)
}

func detail(st store.Step) string {
	switch {
	case st.HTTPStatus > 0 && st.Error == "":
		return fmt.Sprintf("HTTP %d", st.HTTPStatus)
	case st.ExitCode >= 0:
		return fmt.Sprintf("exit %d", st.ExitCode)
	case st.Error != "":
		return st.Error
	}
	return "no exit status"
}

func output(st store.Step) string {
	out := strings.TrimSpace(st.Stdout)
	if errOut := strings.TrimSpace(st.Stderr); errOut != "" {
		if out != "" {
			out += "\n"
		}
		out += "stderr:\n" + errOut
	}
	if out == "" {
		return ""
	}
	out = logging.Trim(out, OutputNoteLimit)
	if st.Truncated && !strings.HasSuffix(out, "[trimmed]") {
		out += "…[trimmed]"
	}
	return out
}

func seconds(st store.Step) string {
	var d time.Duration
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
		d = st.FinishedAt.Sub(st.StartedAt)
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
