package writeback

// Approvals (docs/rollout.md#approvals): the notes of an execution that
// waits for approval, was approved, denied or expired. They are not
// written here but returned as write-backs for the store to queue in the
// transaction that changes the execution (store.Create, Approve, Deny,
// ExpireApprovals): due at once, tried by any replica's retry loop
// (RetryWritebacks), again after a failure, and never lost to a crash
// between the decision and the ticket.

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// AwaitingNote is the note on the alert of an execution that waits for
// approval: what would run where (steps: each task on each host,
// described and redacted, or refused), until when it waits, and how to
// approve or deny it.
//
//	[approval] Alexis rule restart_app would run: task 1 (restart_app) on web01: systemctl restart app.
//	It waits for approval until 2026-12-03T06:10:00Z.
//	Approve: `alexisctl approve 0cee28… -reason WHY` or https://alexis.example.com/console/executions/0cee28…
//	Deny: `alexisctl deny 0cee28… -reason WHY`
func (w *Writer) AwaitingNote(x *store.Execution, steps []store.Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[approval] Alexis rule %s would run:", x.RuleName)
	for _, st := range steps {
		label := st.Action
		if label == "" {
			label = st.TaskType
		}
		if st.Status == store.Refused {
			fmt.Fprintf(&b, "\ntask %d (%s) on %s: refused (%s)", st.TaskIndex+1, label, st.Entity, st.Error)
			continue
		}
		fmt.Fprintf(&b, "\ntask %d (%s) on %s: %s", st.TaskIndex+1, label, st.Entity, st.Command)
	}
	if len(steps) == 0 {
		fmt.Fprintf(&b, " its tasks on %s.", strings.Join(x.Entities, ", "))
	}
	fmt.Fprintf(&b, "\nIt waits for approval until %s.", x.ApprovalExpiresAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "\nApprove: `alexisctl approve %s -reason WHY`", x.ID)
	if w.o.ConsoleURL != "" {
		fmt.Fprintf(&b, " or %s/executions/%s", strings.TrimRight(w.o.ConsoleURL, "/"), x.ID)
	} else {
		fmt.Fprintf(&b, " or POST /v1/executions/%s/approve (scope approve)", x.ID)
	}
	fmt.Fprintf(&b, "\nDeny: `alexisctl deny %s -reason WHY`", x.ID)
	return logging.Trim(adHocLine(x)+b.String(), NoteLimit)
}

// AwaitingWritebacks is the note of an execution created awaiting
// approval (AwaitingNote), for store.Create.
func (w *Writer) AwaitingWritebacks(x *store.Execution, steps []store.Step) []store.Writeback {
	return w.Queued(x, []ticket.Op{{Kind: ticket.KindNote, Value: w.AwaitingNote(x, steps)}})
}

// ApprovedWritebacks is the note saying who approved x and why.
func (w *Writer) ApprovedWritebacks(x *store.Execution, by, reason string) []store.Writeback {
	n := fmt.Sprintf("[approval] Alexis rule %s was approved by %s: %s\nIt runs on %s once its hosts are free and the governor allows it.",
		x.RuleName, by, reason, strings.Join(x.Entities, ", "))
	return w.Queued(x, []ticket.Op{{Kind: ticket.KindNote, Value: n}})
}

// DeniedWritebacks are the note saying who denied x and why, then the
// rule's on_failure operations (default: the investigation queue), r
// being its rule (nil: unreadable).
func (w *Writer) DeniedWritebacks(x *store.Execution, r *rule.Rule, by, reason string) []store.Writeback {
	n := fmt.Sprintf("[approval] Alexis rule %s was denied by %s: %s\nNothing ran on %s. Sent to %s for a person to decide.",
		x.RuleName, by, reason, strings.Join(x.Entities, ", "), w.o.InvestigationQueue)
	return w.Queued(x, append([]ticket.Op{{Kind: ticket.KindNote, Value: n}}, w.failureOps(r)...))
}

// ExpiredWritebacks are the note saying nobody decided x in time, then
// the rule's on_failure operations (default: the investigation queue).
func (w *Writer) ExpiredWritebacks(x *store.Execution, r *rule.Rule) []store.Writeback {
	n := fmt.Sprintf("[approval] Alexis rule %s was neither approved nor denied before %s: its approval expired.\nNothing ran on %s. Sent to %s for a person to decide.",
		x.RuleName, x.ApprovalExpiresAt.UTC().Format(time.RFC3339), strings.Join(x.Entities, ", "), w.o.InvestigationQueue)
	return w.Queued(x, append([]ticket.Op{{Kind: ticket.KindNote, Value: n}}, w.failureOps(r)...))
}

// failureOps are rule r's on_failure operations, the default (the
// investigation queue) when r is nil (its request unreadable).
func (w *Writer) failureOps(r *rule.Rule) []ticket.Op {
	if r == nil {
		return rule.DefaultOnFailure(w.o.InvestigationQueue)
	}
	return r.FailureOps(w.o.InvestigationQueue)
}

// Queued turns ops on x's alert into write-backs due now, in order (one
// microsecond apart: the retry loop takes them oldest first), notes
// redacted. None when x's feed has no ticket system.
func (w *Writer) Queued(x *store.Execution, ops []ticket.Op) []store.Writeback {
	if _, ok := w.o.Tickets.ForFeed(x.FeedType, x.FeedName); !ok {
		return nil
	}
	now := time.Now()
	var out []store.Writeback
	for i, op := range ops {
		if op.Kind == ticket.KindNote {
			op.Value = w.o.Redact.String(op.Value)
		}
		b, err := json.Marshal(op)
		if err != nil {
			continue
		}
		out = append(out, store.Writeback{ID: rand.Text(), ExecutionID: x.ID, FeedType: x.FeedType, FeedName: x.FeedName,
			AlertID: x.AlertID, Op: b, NextAt: now.Add(time.Duration(i) * time.Microsecond)})
	}
	return out
}
