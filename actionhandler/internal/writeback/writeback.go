// Package writeback writes ended executions back onto their alerts: a
// note per host (Note, SkipNote), then the rule's operations (ticket.Apply);
// it schedules the escalation of an execution whose rule has a
// delay_escalation and escalates alerts still open when it is due
// (escalate.go); operations that failed in a way trying again may cure
// are recorded in the store and tried again by any replica (retry.go).
//
// The engine (actionhandler/internal/engine) hands it each execution it
// ends, with the execution's rule as it decoded it; the workers drive
// its escalation and retry loops (Escalations, RetryWritebacks). Its log
// lines keep the engine's component (component=engine): the log
// vocabulary did not change when write-back left the engine.
package writeback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
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

// Defaults for Options fields left zero.
const (
	DefaultTimeout = 30 * time.Second
	// storeTimeout bounds each store call.
	storeTimeout = 15 * time.Second
)

// Store is what write-back records in: escalation timers and the
// operations to try again (store.Store is one).
type Store interface {
	ScheduleEscalation(ctx context.Context, id, owner string, delay time.Duration) error
	ClaimEscalations(ctx context.Context, lease time.Duration, limit int) ([]*store.Execution, error)
	EscalationDone(ctx context.Context, id string) error

	QueueWritebacks(ctx context.Context, ws []store.Writeback) error
	ClaimWritebacks(ctx context.Context, owner string, lease time.Duration, limit int) ([]store.Writeback, error)
	EndWriteback(ctx context.Context, id, owner string, retryAt time.Time, lastErr string) error
}

// Options configure a Writer.
type Options struct {
	Store   Store
	Owner   string     // this replica's name in the store
	Tickets ticket.Set // write-back, by feed_type
	// Status: the same ticket systems unwrapped (not Metrics.Tickets),
	// asked whether an alert is still open before escalating; nil: Tickets.
	Status             ticket.Set
	InvestigationQueue string // team for alerts a person must look at
	// ConsoleURL is the console's public address (console.public_url, e.g.
	// https://alexis.example.com/console): approval notes link to
	// CONSOLEURL/executions/ID; "": they give the CLI command and the API
	// path only.
	ConsoleURL string
	// Redact masks secrets in everything noted, stored and logged.
	Redact *redact.Redactor
	Log    zerolog.Logger
	// Timeout bounds the write-back of one execution (Bound) and each
	// escalation and retried operation. Write-back happens even when the
	// execution was cancelled (on shutdown).
	Timeout time.Duration
	// Attempts is how many times an operation is tried in all (default
	// DefaultAttempts; 1: never again), the first retry RetryDelay after
	// the failure (default DefaultRetryDelay), each next one twice as
	// late, up to MaxRetryDelay.
	Attempts   int
	RetryDelay time.Duration

	// decode decodes a stored request (default action.Decode); tests
	// count its calls: Escalate decodes once.
	decode func([]byte) (*action.Request, error)
}

// Writer writes executions back. It is safe for concurrent use.
type Writer struct {
	o   Options
	log zerolog.Logger
}

// New returns a Writer.
func New(o Options) *Writer {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.decode == nil {
		o.decode = action.Decode
	}
	return &Writer{o: o, log: o.Log.With().Str(logging.Component, "engine").Logger()}
}

// ExecutionLog scopes log to execution x (the keys every line about an
// execution carries).
func ExecutionLog(log zerolog.Logger, x *store.Execution) zerolog.Logger {
	return log.With().
		Str(logging.ExecutionID, x.ID).
		Str(logging.AlertID, x.AlertID).
		Str(logging.UniqueValue, x.UniqueValue).
		Str(logging.RuleName, x.RuleName).
		Str(logging.Client, x.Client).
		Str(logging.RequestedBy, x.RequestedBy).
		Logger()
}

// Bound returns ctx, not cancelled with it, bounded by Options.Timeout:
// the context to write one execution back in (Report, and marking it
// reported).
func (w *Writer) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), w.o.Timeout)
}

// Report writes an ended execution (x with its steps, owned by this
// replica) back onto its alert, r its rule (nil when the stored request
// cannot be read), and schedules its escalation. Notes first: one per
// host, or one for a skipped execution. Then the rule's operations
// (ticket.Apply; one failing does not stop the rest): rule.SuccessOps when
// it succeeded (default: add route_to_team); rule.FailureOps when it
// failed, was interrupted, refused or skipped (default: add the
// investigation queue); none for a dry run. log is the execution's
// (ExecutionLog); ctx bounds it all (Bound).
func (w *Writer) Report(ctx context.Context, log zerolog.Logger, x *store.Execution, r *rule.Rule) {
	w.writeBack(ctx, log, x, r)
	w.scheduleEscalation(ctx, log, x, r)
}

func (w *Writer) writeBack(ctx context.Context, log zerolog.Logger, x *store.Execution, r *rule.Rule) {
	tk, ok := w.o.Tickets.ForFeed(x.FeedType, x.FeedName)
	if !ok {
		log.Info().Str(logging.Event, "writeback_skipped").Str(logging.FeedType, x.FeedType).Str(logging.FeedName, x.FeedName).
			Msg("no ticket system configured for this feed")
		return
	}
	if x.Status == store.Audit || x.Mode == store.Audit {
		// audit.go; also an audit execution interrupted (its replica died).
		w.auditWriteBack(ctx, log, tk, x, r)
		return
	}
	var notes []string
	switch x.Status {
	case store.Skipped:
		notes = []string{w.SkipNote(x)}
	case store.Remediated, store.Ineffective:
		notes = []string{w.VerifyNote(x, r)} // verify.go
	default:
		for _, ent := range x.Entities {
			notes = append(notes, w.Note(x, r, ent))
		}
	}
	var retry []failedOp
	defer func() { w.queueRetries(ctx, log, x, retry) }()
	for i, n := range notes {
		n = w.o.Redact.String(n)
		if err := tk.AddNote(ctx, x.AlertID, n); err != nil {
			retry = append(retry, failedOp{ticket.Op{Kind: ticket.KindNote, Value: n}, err})
			ev := log.Warn().Str(logging.Event, "writeback_failed").Str(logging.ErrorKey, w.o.Redact.String(err.Error()))
			if x.Status != store.Skipped && x.Status != store.Remediated && x.Status != store.Ineffective { // a note per host
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
		ops = w.failureOps(r)
	case store.Remediated:
		if r != nil {
			ops = r.SuccessOps()
		}
	case store.Ineffective:
		ops = w.ineffectiveOps(x, r) // verify.go
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
		ev.Str(logging.ErrorKey, w.o.Redact.String(err.Error())).Msg(oe.Op.Kind + " failed")
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
			Msg(w.o.Redact.String(logging.Trim(op.String(), 200)))
	}
}

// SkipNote is the note on an alert whose execution the governor refused.
func (w *Writer) SkipNote(x *store.Execution) string {
	return logging.Trim(adHocLine(x)+fmt.Sprintf("Alexis rule %s did not run on %s: %s. Sent to %s for a person to decide.",
		x.RuleName, strings.Join(x.Entities, ", "), x.Reason, w.o.InvestigationQueue), NoteLimit)
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
func (w *Writer) Note(x *store.Execution, r *rule.Rule, entity string) string {
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
				label, entity, st.Error, w.o.InvestigationQueue)
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
	if x.Status == store.Verifying {
		b.WriteString("\n\n" + verifyingLine(x, r))
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
