package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// escalationCase is a ticket system with two alerts whose executions are
// to be escalated 200ms after they end: open stays open, closed is closed
// meanwhile.
type escalationCase struct {
	feedType     string
	client       ticket.Ticket
	open, closed string
	close        func(id string)
	notes        func(id string) []string
}

// runEscalation runs both executions, closes the closed alert, runs the
// escalation loop until one escalation fired and one was skipped, and
// checks the notes: one escalation note on the open alert, none on the
// closed one. It returns the fixture for the system's own checks.
func runEscalation(t *testing.T, c escalationCase) *fixture {
	t.Helper()
	f := newFixtureWB(t, nil, func(o *writeback.Options) {
		o.Tickets = ticket.Set{}
		o.Tickets.Add(c.feedType, c.client)
	})
	for _, id := range []string{c.open, c.closed} {
		req := request(t, c.feedType, twoTasks, "app01")
		req.Rule.DelayEscalation = "200ms"
		b, _ := json.Marshal(req)
		req, err := action.Decode([]byte(strings.Replace(string(b), `"og-1"`, `"`+id+`"`, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if x := f.run(t, context.Background(), req, "app01"); x.EscalateAt.IsZero() {
			t.Fatalf("no escalation scheduled for %s: %+v", id, x)
		}
	}
	c.close(c.closed)
	before := len(c.notes(c.open))

	w := StartWorkers(WorkerOptions{Store: f.st, Engine: f.eng, PollInterval: 20 * time.Millisecond,
		Log: logging.New(f.logs, "actionhandler", logging.Options{})})
	defer w.Shutdown(time.Second)
	f.waitLog(t, "escalation fired and skipped", func(logs string) bool {
		return strings.Contains(logs, "event=escalation_fired") && strings.Contains(logs, "event=escalation_skipped")
	})
	notes := c.notes(c.open)
	if len(notes) <= before || !slices.ContainsFunc(notes[before:], func(n string) bool {
		return strings.Contains(n, "still open 200ms after remediation")
	}) {
		t.Errorf("notes on the open alert after the escalation: %q", notes[before:])
	}
	if n := strings.Count(f.logs.String(), "event=escalation_fired"); n != 1 {
		t.Errorf("%d escalations fired, want 1", n)
	}
	for _, n := range c.notes(c.closed) {
		if strings.Contains(n, "escalating") {
			t.Errorf("note on the closed alert: %q", n)
		}
	}
	return f
}

// TestEscalation: an OpsGenie alert still open delay_escalation after its
// execution gets the escalation note and the investigation queue; a closed
// one nothing more.
func TestEscalation(t *testing.T) {
	og := opsgenietest.NewT(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(og.APIKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := opsgenie.New(opsgenie.Config{APIURL: og.URL(), APIKeyFile: keyFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	open := og.CreateAlert(opsgenietest.AlertSpec{Message: "still broken"})
	closed := og.CreateAlert(opsgenietest.AlertSpec{Message: "fixed"})
	runEscalation(t, escalationCase{feedType: "OpsGenie", client: client, open: open.ID, closed: closed.ID,
		close: func(id string) { og.CloseAlert(id) }, notes: og.Notes})
	if !slices.Contains(og.Teams(open.ID), "queue_needsinvestigation") {
		t.Errorf("teams of the open alert: %q", og.Teams(open.ID))
	}
	if slices.Contains(og.Teams(closed.ID), "queue_needsinvestigation") {
		t.Errorf("closed alert escalated: teams %q", og.Teams(closed.ID))
	}
}

// TestEscalationDynatrace: the same through the Dynatrace client and the
// local Dynatrace-compatible server: the problem's status decides, the
// escalation note and the routing to the investigation queue are comments.
func TestEscalationDynatrace(t *testing.T) {
	dt, client := dynatraceClient(t, 0)
	open := dt.CreateProblem(dynatracetest.ProblemSpec{Title: "still broken"})
	closed := dt.CreateProblem(dynatracetest.ProblemSpec{Title: "fixed"})
	comments := func(id string) []string { return comments(dt, id) }
	routed := func(id string) bool {
		return slices.ContainsFunc(comments(id), func(c string) bool {
			return strings.Contains(c, "routed this problem to team queue_needsinvestigation")
		})
	}
	runEscalation(t, escalationCase{feedType: "Dynatrace", client: client, open: open.ProblemID, closed: closed.ProblemID,
		close: func(id string) {
			if !dt.Resolve(id) {
				t.Fatalf("no problem %s", id)
			}
		}, notes: comments})
	if !routed(open.ProblemID) {
		t.Errorf("open problem not routed to the investigation queue: %q", comments(open.ProblemID))
	}
	if routed(closed.ProblemID) {
		t.Errorf("closed problem routed: %q", comments(closed.ProblemID))
	}
}
