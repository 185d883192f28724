package writeback

import (
	"context"
	"fmt"
	"strings"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// auditWriteBack writes back an execution of a rule in audit mode
// (docs/rollout.md): nothing on the ticket, unless the rule sets
// "audit_note": true; then one note (AuditNote) and no other operation:
// no team, no close, no escalation (escalationDelay is zero for audit).
func (w *Writer) auditWriteBack(ctx context.Context, log zerolog.Logger, tk ticket.Ticket, x *store.Execution, r *rule.Rule) {
	if r == nil || !r.AuditNote {
		log.Info().Str(logging.Event, "writeback_skipped").Str(logging.ActionStatus, x.Status).
			Msg("audit mode: nothing written on the alert (audit_note is not set)")
		return
	}
	n := w.o.Redact.String(w.AuditNote(x))
	if err := tk.AddNote(ctx, x.AlertID, n); err != nil {
		w.queueRetries(ctx, log, x, []failedOp{{ticket.Op{Kind: ticket.KindNote, Value: n}, err}})
		log.Warn().Str(logging.Event, "writeback_failed").Str(logging.ErrorKey, w.o.Redact.String(err.Error())).
			Msg("add note failed")
		return
	}
	log.Info().Str(logging.Event, "writeback_done").Str(logging.ActionStatus, x.Status).Msg("audit note added")
}

// AuditNote is the one note of an audit execution whose rule sets
// audit_note: that it is an audit and nothing ran, what would have run
// where (or been refused), the governor's verdict and the write-back that
// would follow a success (both in the execution's reason).
//
//	[audit] Alexis rule day_gc is in audit mode: nothing ran.
//	would run on app01: run 'systemctl restart app' (restart_service)
//	the governor would allow it; nothing ran: 1 step(s) described; on success the write-back would: add_team ops_unix
func (w *Writer) AuditNote(x *store.Execution) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[audit] Alexis rule %s is in audit mode: nothing ran.", x.RuleName)
	for _, st := range x.Steps {
		label := st.Action
		if label == "" {
			label = st.TaskType
		}
		if st.Status == store.Refused {
			fmt.Fprintf(&b, "\nwould refuse task %d (%s) on %s: %s", st.TaskIndex+1, label, st.Entity, st.Error)
			continue
		}
		fmt.Fprintf(&b, "\nwould run task %d (%s) on %s: %s", st.TaskIndex+1, label, st.Entity, st.Command)
	}
	if x.Reason != "" {
		b.WriteString("\n" + x.Reason)
	}
	return logging.Trim(adHocLine(x)+b.String(), NoteLimit)
}
