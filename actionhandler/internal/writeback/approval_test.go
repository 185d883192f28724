package writeback

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

func approvalWriter(consoleURL string) *Writer {
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", &tickettest.Recorder{})
	return New(Options{Tickets: tickets, InvestigationQueue: "queue_needsinvestigation", ConsoleURL: consoleURL,
		Redact: redact.New("s3cr3t-value"), Log: logging.New(&logtest.Buffer{}, "actionhandler", logging.Options{})})
}

func ops(t *testing.T, ws []store.Writeback) []ticket.Op {
	t.Helper()
	var out []ticket.Op
	for i, w := range ws {
		var op ticket.Op
		if err := json.Unmarshal(w.Op, &op); err != nil {
			t.Fatal(err)
		}
		if w.ExecutionID != "exec1" || w.AlertID != "og-1" || w.FeedType != "OpsGenie" || w.Attempts != 0 ||
			(i > 0 && !w.NextAt.After(ws[i-1].NextAt)) {
			t.Fatalf("write-back %+v", w)
		}
		out = append(out, op)
	}
	return out
}

func TestApprovalNotes(t *testing.T) {
	x := &store.Execution{ID: "exec1", AlertID: "og-1", FeedType: "OpsGenie", FeedName: "incoming", RuleName: "r1",
		Entities: []string{"app01", "app02"}, ApprovalExpiresAt: time.Date(2026, 12, 3, 6, 10, 0, 0, time.UTC),
		Request: []byte(escalationRequest)}
	steps := []store.Step{
		{TaskIndex: 0, Entity: "app01", Action: "restart_service", Command: "systemctl restart app --token s3cr3t-value"},
		{TaskIndex: 0, Entity: "app02", Action: "restart_service", Status: store.Refused, Error: "value refused"},
	}
	for _, tc := range []struct {
		name, console string
		want          []string
	}{
		{"with the console", "https://alexis.example.com/console/", []string{
			"[approval] Alexis rule r1 would run:",
			"task 1 (restart_service) on app01: systemctl restart app --token <secret>",
			"task 1 (restart_service) on app02: refused (value refused)",
			"It waits for approval until 2026-12-03T06:10:00Z.",
			"Approve: `alexisctl approve exec1 -reason WHY` or https://alexis.example.com/console/executions/exec1",
			"Deny: `alexisctl deny exec1 -reason WHY`"}},
		{"without", "", []string{"or POST /v1/executions/exec1/approve (scope approve)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ops(t, approvalWriter(tc.console).AwaitingWritebacks(x, steps))
			if len(got) != 1 || got[0].Kind != ticket.KindNote {
				t.Fatalf("ops %+v", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0].Value, w) {
					t.Errorf("note lacks %q:\n%s", w, got[0].Value)
				}
			}
			if strings.Contains(got[0].Value, "s3cr3t-value") {
				t.Fatalf("secret in the note:\n%s", got[0].Value)
			}
		})
	}
	w := approvalWriter("")
	if got := ops(t, w.ApprovedWritebacks(x, "alice", "graphs look fine")); len(got) != 1 ||
		!strings.Contains(got[0].Value, "approved by alice: graphs look fine") {
		t.Fatalf("approved %+v", got)
	}
	dec, err := action.Decode([]byte(escalationRequest))
	if err != nil {
		t.Fatal(err)
	}
	got := ops(t, w.DeniedWritebacks(x, dec.Rule, "bob", "not during the sale"))
	if len(got) < 2 || !strings.Contains(got[0].Value, "denied by bob: not during the sale") ||
		!strings.Contains(got[0].Value, "Nothing ran on app01, app02") {
		t.Fatalf("denied %+v", got)
	}
	got = ops(t, w.ExpiredWritebacks(x, nil))
	if len(got) != 2 || !strings.Contains(got[0].Value, "before 2026-12-03T06:10:00Z") ||
		got[1].Kind != ticket.KindAddTeam || got[1].Value != "queue_needsinvestigation" {
		t.Fatalf("expired %+v", got)
	}
	// No ticket system for the feed: nothing to queue.
	y := *x
	y.FeedType = "Dynatrace"
	if ws := w.ExpiredWritebacks(&y, nil); ws != nil {
		t.Fatalf("queued for a feed without a ticket system: %+v", ws)
	}
}
