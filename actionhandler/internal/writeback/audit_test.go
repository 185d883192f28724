package writeback

import (
	"context"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

// An audit execution is written back with nothing but, with audit_note,
// one note: also when it ended interrupted (its replica died), and its
// rule's delay_escalation schedules nothing (the Store is nil: a call
// would panic).
func TestAuditWritesOnlyItsNote(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string
		note   bool
		notes  int
	}{
		{"audit", store.Audit, false, 0},
		{"audit with audit_note", store.Audit, true, 1},
		{"interrupted audit", store.Interrupted, false, 0},
		{"interrupted audit with audit_note", store.Interrupted, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := strings.Replace(escalationRequest, `"rule_name": "r1",`, `"rule_name": "r1", "mode": "audit",`, 1)
			if tc.note {
				req = strings.Replace(req, `"mode": "audit",`, `"mode": "audit", "audit_note": true,`, 1)
			}
			dec, err := action.Decode([]byte(req))
			if err != nil {
				t.Fatal(err)
			}
			rec := &tickettest.Recorder{}
			tickets := ticket.Set{}
			tickets.Add("OpsGenie", rec)
			w := New(Options{Tickets: tickets, InvestigationQueue: "queue_needsinvestigation", Redact: redact.New(),
				Log: logging.New(&logtest.Buffer{}, "actionhandler", logging.Options{})})
			x := &store.Execution{ID: "exec1", AlertID: "og-1", FeedType: "OpsGenie", FeedName: "incoming", RuleName: "r1",
				Status: tc.status, Mode: store.Audit, Reason: store.AuditAllowed, Entities: []string{"app01"},
				Request: []byte(req), Steps: []store.Step{{TaskIndex: 0, Entity: "app01", Status: store.Audit, TaskType: "remote_ssh", Action: "restart_service",
					Command: "run 'systemctl restart app'"}}}
			w.Report(context.Background(), logging.New(&logtest.Buffer{}, "actionhandler", logging.Options{}), x, dec.Rule)
			calls := rec.Calls()
			if len(calls) != tc.notes {
				t.Fatalf("calls %+v, want %d note(s)", calls, tc.notes)
			}
			if tc.notes == 1 && (calls[0].Op != ticket.KindNote || !strings.Contains(calls[0].Value, "[audit]") ||
				!strings.Contains(calls[0].Value, "would run task 1 (restart_service) on app01: run 'systemctl restart app'") ||
				!strings.Contains(calls[0].Value, store.AuditAllowed)) {
				t.Errorf("note %+v", calls[0])
			}
		})
	}
}
