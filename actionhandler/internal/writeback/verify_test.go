package writeback

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
	"github.com/alexis-ops/alexis/shared/ticket/webhook"
)

// statusTicket is a Recorder whose system reads an alert's status.
type statusTicket struct {
	*tickettest.Recorder
	open bool
	err  error
}

func (s statusTicket) IsOpen(context.Context, string) (bool, error) {
	return s.open || s.err != nil, s.err
}

// escalationStore records scheduled escalations.
type escalationStore struct {
	Store
	scheduled []string
}

func (s *escalationStore) ScheduleEscalation(_ context.Context, id, _ string, _ time.Duration) error {
	s.scheduled = append(s.scheduled, id)
	return nil
}

// verifyRule is escalationRequest's rule with a verify check and extra
// fields.
func verifyRule(t *testing.T, extra string) *rule.Rule {
	t.Helper()
	req := strings.Replace(escalationRequest, `"delay_escalation": "1h"`,
		`"delay_escalation": "1h", "verify": {"after": "2m", "task": {"task_type": "remote_ssh", "run_command": "systemctl is-active app", "action": "check_app"}}`+extra, 1)
	dec, err := action.Decode([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	return dec.Rule
}

func newVerifyWriter(tk ticket.Ticket, st Store) *Writer {
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", tk)
	return New(Options{Store: st, Tickets: tickets, InvestigationQueue: "queue_needsinvestigation", Redact: redact.New(),
		Log: logging.New(&logtest.Buffer{}, "actionhandler", logging.Options{})})
}

// The write-back of each stage of a verified execution: verifying notes
// the tasks and when the check is due and applies nothing; remediated one
// [verified] note and on_success, and schedules the escalation;
// ineffective one [ineffective] note, on_ineffective and the escalation at
// once, nothing scheduled.
func TestVerificationWriteBack(t *testing.T) {
	due := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	task := store.Step{TaskIndex: 0, Entity: "app01", TaskType: "remote_ssh", Action: "restart_service", Status: store.Success}
	check := store.Step{TaskIndex: store.VerifyTaskIndex, Entity: "app01", TaskType: "remote_ssh", Action: "check_app",
		Status: store.Failure, ExitCode: 3, Stdout: "inactive"}
	for _, tc := range []struct {
		name, status, reason, extra string
		steps                       []store.Step
		notes                       []string // parts of the one note, in order
		ops                         []string // "op value" of the operations after the note
		escalated                   bool
	}{
		{name: "verifying", status: store.Verifying, steps: []store.Step{task},
			notes: []string{"restart_service on app01: success", "Fix applied; verifying at 2026-12-03T05:00:00Z (the verify task check_app on every host)"}},
		{name: "remediated", status: store.Remediated, reason: "the verify task succeeded on app01",
			steps: []store.Step{task, {TaskIndex: store.VerifyTaskIndex, Entity: "app01", TaskType: "remote_ssh", Action: "check_app", Status: store.Success}},
			notes: []string{"[verified] Alexis rule r1: the fix worked (execution exec1): the verify task succeeded on app01.", "verify check_app on app01: success (exit 0"},
			ops:   []string{"add_team ops_unix"}, escalated: true},
		{name: "ineffective", status: store.Ineffective, reason: "the verify task failed on app01 (exit 3)", steps: []store.Step{task, check},
			notes: []string{"[ineffective] Alexis rule r1: the fix did not work (execution exec1): the verify task failed on app01 (exit 3).",
				"verify check_app on app01: failure (exit 3", "inactive"},
			ops: []string{"add_team queue_needsinvestigation", "note Alexis: the fix did not work (execution exec1); escalating."}},
		{name: "ineffective with on_ineffective and on_escalation", status: store.Ineffective, reason: "r", steps: []store.Step{task, check},
			extra: `, "on_ineffective": [{"op": "add_team", "value": "db_oncall"}], "on_escalation": [{"op": "escalate", "value": "db-escalation"}]`,
			notes: []string{"[ineffective]"}, ops: []string{"add_team db_oncall", "escalate db-escalation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyRule(t, tc.extra)
			rec := &tickettest.Recorder{}
			st := &escalationStore{}
			w := newVerifyWriter(rec, st)
			x := &store.Execution{ID: "exec1", AlertID: "og-1", FeedType: "OpsGenie", FeedName: "incoming", RuleName: "r1",
				Status: tc.status, Reason: tc.reason, Entities: []string{"app01"}, VerifyAt: due, Steps: tc.steps,
				StartedAt: due.Add(-3 * time.Minute), FinishedAt: due.Add(-2 * time.Minute)}
			w.Report(context.Background(), w.log, x, r)
			calls := rec.Calls()
			if len(calls) != 1+len(tc.ops) || calls[0].Op != ticket.KindNote {
				t.Fatalf("calls %+v: want one note and %q", calls, tc.ops)
			}
			rest := calls[0].Value
			for _, part := range tc.notes {
				i := strings.Index(rest, part)
				if i < 0 {
					t.Fatalf("note lacks %q (in order):\n%s", part, calls[0].Value)
				}
				rest = rest[i+len(part):]
			}
			if tc.status != store.Verifying && strings.Contains(calls[0].Value, "restart_service") {
				t.Errorf("the verdict's note repeats the tasks:\n%s", calls[0].Value)
			}
			for i, want := range tc.ops {
				if got := calls[1+i].Op + " " + calls[1+i].Value; got != want {
					t.Errorf("op %d: %q, want %q", i, got, want)
				}
			}
			if escalated := len(st.scheduled) > 0; escalated != tc.escalated {
				t.Errorf("escalation scheduled %v, want %v", escalated, tc.escalated)
			}
		})
	}
}

// alert_resolved: only a ticket system that reads an alert's status can
// satisfy it; one that cannot (the webhook) never does, and says so.
func TestAlertResolved(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	wh, err := webhook.New(webhook.Config{Name: "chat", URL: hook.URL, FeedTypes: []string{"*"}}, "OpsGenie")
	if err != nil {
		t.Fatal(err)
	}
	rec := &tickettest.Recorder{}
	for _, tc := range []struct {
		name     string
		tk       ticket.Ticket
		resolved bool
		why      string
	}{
		{"closed", statusTicket{Recorder: rec}, true, "the alert is closed at its source"},
		{"open", statusTicket{Recorder: rec, open: true}, false, "the alert is still open at its source"},
		{"status unknown", statusTicket{Recorder: rec, err: errors.New("opsgenie: status 503")}, false,
			"alert_resolved: cannot read the alert's status: opsgenie: status 503"},
		{"webhook", wh, false, "alert_resolved cannot be checked: the ticket system of feed OpsGenie cannot read an alert's status"},
		{"no ticket system", nil, false, "alert_resolved cannot be checked: no ticket system is configured for feed OpsGenie"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tickets := ticket.Set{}
			if tc.tk != nil {
				tickets.Add("OpsGenie", tc.tk)
			}
			w := New(Options{Tickets: tickets, Redact: redact.New()})
			x := &store.Execution{ID: "exec1", AlertID: "og-1", FeedType: "OpsGenie"}
			resolved, why := w.AlertResolved(context.Background(), x)
			if resolved != tc.resolved || why != tc.why {
				t.Errorf("got %v %q, want %v %q", resolved, why, tc.resolved, tc.why)
			}
		})
	}
}
