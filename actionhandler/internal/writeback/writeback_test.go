package writeback

import (
	"context"
	"strings"
	"sync/atomic"
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

// The store satisfies what write-back declares.
var _ Store = store.Store(nil)

// escalationRequest is a stored request whose rule escalates after 1h.
const escalationRequest = `{"id": "og-1", "tinyId": "42",
 "alexis": {"unique_key": "tinyId", "unique_value": "42", "feed_type": "OpsGenie", "feed_name": "incoming"},
 "rule": {"enabled": "true", "os_type": "linux", "rule_name": "r1", "alert_feed": "OpsGenie",
  "evaluation_list": [{"evaluation": {"tags": ["t"]}}],
  "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "systemctl restart app", "action": "restart_service", "action_reason": "gc"}}],
  "entity_type": "explicit", "entities": ["app01"], "route_to_team": "ops_unix", "delay_escalation": "1h"}}`

// TestEscalateDecodesOnce: escalating an execution decodes its stored
// request once, and applies the rule's escalation (its note).
func TestEscalateDecodesOnce(t *testing.T) {
	if _, err := action.Decode([]byte(escalationRequest)); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	rec := &tickettest.Recorder{}
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", rec)
	logs := &logtest.Buffer{}
	w := New(Options{Tickets: tickets, InvestigationQueue: "queue_needsinvestigation", Redact: redact.New(),
		Log: logging.New(logs, "actionhandler", logging.Options{}),
		decode: func(b []byte) (*action.Request, error) {
			n.Add(1)
			return action.Decode(b)
		}})
	x := &store.Execution{ID: "exec1", AlertID: "og-1", FeedType: "OpsGenie", FeedName: "incoming", RuleName: "r1",
		Status: store.Success, Entities: []string{"app01"}, Request: []byte(escalationRequest)}
	w.Escalate(context.Background(), x)
	if got := n.Load(); got != 1 {
		t.Errorf("Escalate decoded the request %d times, want 1", got)
	}
	var notes []string
	for _, c := range rec.Calls() {
		if c.Op == ticket.KindNote {
			notes = append(notes, c.Value)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "alert still open 1h0m0s after remediation (execution exec1)") {
		t.Errorf("escalation notes %q", notes)
	}
	if !strings.Contains(logs.String(), "event=escalation_fired") || !strings.Contains(logs.String(), "component=engine") {
		t.Errorf("log lacks the engine's escalation_fired line:\n%s", logs.String())
	}
}

func TestRetryDelayDoublesUpToMax(t *testing.T) {
	w := New(Options{RetryDelay: 10 * time.Minute})
	for attempt, want := range map[int]time.Duration{1: 10 * time.Minute, 2: 20 * time.Minute, 3: 30 * time.Minute, 9: 30 * time.Minute} {
		if got := w.retryDelay(attempt); got != want {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want)
		}
	}
}
