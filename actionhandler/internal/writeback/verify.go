package writeback

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// Verification's write-back (docs/rollout.md). An execution of a rule
// with a verify check is written back twice:
//
//   - verifying (its tasks succeeded): the notes of its tasks, each ending
//     with "Fix applied; verifying at T" (verifyingLine), and no
//     operation: on_success waits for the verdict, and so does the
//     escalation timer;
//   - remediated: one "[verified]" note (VerifyNote), then on_success,
//     and delay_escalation's timer as after any success;
//   - ineffective: one "[ineffective]" note saying why, then
//     on_ineffective (default: the investigation queue) and, when the rule
//     escalates (delay_escalation or on_escalation), its escalation at
//     once: the alert is known not to be fixed, there is nothing to wait
//     for.

// verifyingLine closes the task notes of an execution whose verification
// is due: when, and what is checked.
func verifyingLine(x *store.Execution, r *rule.Rule) string {
	at := "later"
	if !x.VerifyAt.IsZero() {
		at = "at " + x.VerifyAt.UTC().Format(time.RFC3339)
	}
	what := "the rule's verify check"
	if r != nil && r.Verify != nil {
		var parts []string
		if t := r.Verify.Task; t != nil {
			label := t.Action
			if label == "" {
				label = t.TaskType
			}
			parts = append(parts, "the verify task "+label+" on every host")
		}
		if r.Verify.AlertResolved {
			parts = append(parts, "that the alert is closed at its source")
		}
		if len(parts) > 0 {
			what = strings.Join(parts, " and ")
		}
	}
	return fmt.Sprintf("Fix applied; verifying %s (%s). The outcome follows in another note.", at, what)
}

// VerifyNote is the one note of a verification's verdict: remediated or
// ineffective, why (the execution's reason), and each verify step.
//
//	[verified] Alexis rule restart_app: the fix worked (execution 0cee28…): the verify task succeeded on web-07.
//	verify check_app on web-07: success (exit 0, 0.1s)
func (w *Writer) VerifyNote(x *store.Execution, r *rule.Rule) string {
	var b strings.Builder
	if x.Status == store.Remediated {
		fmt.Fprintf(&b, "[verified] Alexis rule %s: the fix worked (execution %s)", x.RuleName, x.ID)
	} else {
		fmt.Fprintf(&b, "[ineffective] Alexis rule %s: the fix did not work (execution %s)", x.RuleName, x.ID)
	}
	if x.Reason != "" {
		b.WriteString(": " + x.Reason)
	}
	b.WriteString(".")
	for _, st := range x.Steps {
		if !store.IsVerifyStep(st) {
			continue
		}
		label := st.Action
		if label == "" {
			label = st.TaskType
		}
		switch st.Status {
		case store.Refused:
			fmt.Fprintf(&b, "\nverify %s on %s: refused, nothing was run (%s)", label, st.Entity, st.Error)
		default:
			fmt.Fprintf(&b, "\nverify %s on %s: %s (%s, %s)", label, st.Entity, st.Status, detail(st), seconds(st))
			if out := output(st); out != "" {
				b.WriteString("\n" + out)
			}
		}
	}
	if x.Status == store.Ineffective {
		fmt.Fprintf(&b, "\nA person should look at the alert: the problem is still there after the fix.")
	}
	return logging.Trim(adHocLine(x)+b.String(), NoteLimit)
}

// ineffectiveOps are the operations after an ineffective verification:
// on_ineffective (default: the investigation queue), then the rule's
// escalation when it has one (its operations not already there).
func (w *Writer) ineffectiveOps(x *store.Execution, r *rule.Rule) []ticket.Op {
	if r == nil {
		return rule.DefaultOnIneffective(w.o.InvestigationQueue)
	}
	ops := r.IneffectiveOps(w.o.InvestigationQueue)
	if r.EscalationDelay() > 0 || r.OnEscalation != nil {
		note := fmt.Sprintf("Alexis: the fix did not work (execution %s); escalating.", x.ID)
		ops = slices.Clone(ops)
		for _, op := range r.EscalationOps(note, w.o.InvestigationQueue) {
			if !slices.ContainsFunc(ops, func(o ticket.Op) bool { return reflect.DeepEqual(o, op) }) {
				// the default escalation's team is often the default on_ineffective's
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// AlertResolved says whether x's alert is closed or resolved at its
// source, and how that is known or why it is not: only a ticket system
// that can read an alert's status (ticket.StatusReader: OpsGenie,
// Dynatrace, ...) can say so; one that cannot (the webhook) never
// satisfies alert_resolved.
func (w *Writer) AlertResolved(ctx context.Context, x *store.Execution) (resolved bool, why string) {
	tk, ok := w.o.Tickets.ForFeed(x.FeedType, x.FeedName)
	if !ok {
		return false, fmt.Sprintf("alert_resolved cannot be checked: no ticket system is configured for feed %s", x.FeedType)
	}
	raw, _ := w.o.Status.ForFeed(x.FeedType, x.FeedName)
	if raw == nil {
		raw = tk
	}
	sr, ok := statusOf(raw)
	if !ok {
		return false, fmt.Sprintf("alert_resolved cannot be checked: the ticket system of feed %s cannot read an alert's status", x.FeedType)
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	open, err := sr.IsOpen(ctx, x.AlertID)
	if err != nil {
		return false, "alert_resolved: cannot read the alert's status: " + w.o.Redact.String(err.Error())
	}
	if open {
		return false, "the alert is still open at its source"
	}
	return true, "the alert is closed at its source"
}
