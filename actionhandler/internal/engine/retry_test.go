package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/dynatrace"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// retryFixture: an engine writing back to the local Dynatrace-compatible
// server through the real client (its own retries off), failed write-backs
// tried again every 30ms, at most 3 tries in all.
func retryFixture(t *testing.T) (*fixture, *dynatracetest.Server) {
	t.Helper()
	dt, client := dynatraceClient(t, -1)
	f := newFixtureWB(t, nil, func(o *writeback.Options) {
		o.Tickets = ticket.Set{}
		o.Tickets.Add("Dynatrace", client)
		o.Attempts = 3
		o.RetryDelay = 30 * time.Millisecond
	})
	return f, dt
}

// runOn runs an execution for problem id (its write-back fails while dt is
// told to fail), then starts the workers (until the test ends) and waits
// until the log has want.
func runOn(t *testing.T, f *fixture, id string, want string) {
	t.Helper()
	req := request(t, "Dynatrace", twoTasks, "app01")
	b, _ := json.Marshal(req)
	req, err := action.Decode([]byte(strings.Replace(string(b), `"og-1"`, `"`+id+`"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	f.run(t, context.Background(), req, "app01")
	w := StartWorkers(WorkerOptions{Store: f.st, Engine: f.eng, PollInterval: 10 * time.Millisecond,
		Log: logging.New(f.logs, "actionhandler", logging.Options{})})
	t.Cleanup(func() { w.Shutdown(time.Second) })
	f.waitLog(t, want, func(logs string) bool { return strings.Contains(logs, want) })
}

// waitLog waits up to 20s until done says the log is as wanted.
func (f *fixture) waitLog(t *testing.T, what string, done func(logs string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !done(f.logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s; logs:\n%s", what, f.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dynatraceClient is the real Dynatrace client (retries: its retries
// setting) on a local Dynatrace-compatible server.
func dynatraceClient(t *testing.T, retries int) (*dynatracetest.Server, *dynatrace.Client) {
	t.Helper()
	dt := dynatracetest.NewT(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(dt.Token()), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := dynatrace.New(dynatrace.Config{APIURL: dt.URL(), APITokenFile: tokenFile, Retries: retries}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return dt, client
}

func comments(dt *dynatracetest.Server, id string) []string {
	var out []string
	for _, c := range dt.Comments(id) {
		out = append(out, c.Content)
	}
	return out
}

// The ticket system is down during the write-back: the note and the
// routing are recorded and land once it is back, each once.
func TestWritebackRetriedUntilItLands(t *testing.T) {
	f, dt := retryFixture(t)
	p := dt.CreateProblem(dynatracetest.ProblemSpec{Title: "disk full"})
	dt.FailNext(2, http.StatusServiceUnavailable) // the note and the routing
	runOn(t, f, p.ProblemID, "event=writeback_retry_scheduled")
	f.waitLog(t, "two write-backs tried again", func(logs string) bool { return strings.Count(logs, "(tried again)") >= 2 })
	got := comments(dt, p.ProblemID)
	var notes, routed int
	for _, c := range got {
		if strings.HasPrefix(c, "Alexis rule r1: restart_service on app01: success") {
			notes++
		}
		if strings.Contains(c, "routed this problem to team") {
			routed++
		}
	}
	if notes != 1 || routed != 1 {
		t.Errorf("comments %q: want the note and the routing once each", got)
	}
	if !strings.Contains(f.logs.String(), "event=writeback_retry_scheduled") || !strings.Contains(f.logs.String(), "count=2") {
		t.Errorf("want one writeback_retry_scheduled count=2 line:\n%s", f.logs)
	}
	if ws, _ := f.st.ClaimWritebacks(context.Background(), "check", time.Minute, 10); len(ws) != 0 {
		t.Errorf("%d write-backs left in the store", len(ws))
	}
}

// A ticket system that stays down: given up after 3 tries in all, logged,
// removed from the store.
func TestWritebackAbandonedAfterAttempts(t *testing.T) {
	f, dt := retryFixture(t)
	p := dt.CreateProblem(dynatracetest.ProblemSpec{Title: "disk full"})
	dt.FailNext(1000, http.StatusBadGateway)
	runOn(t, f, p.ProblemID, "event=writeback_abandoned")
	f.waitLog(t, "two write-backs abandoned", func(logs string) bool { return strings.Count(logs, "event=writeback_abandoned") >= 2 })
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, "event=writeback_abandoned") && !strings.Contains(line, "count=3") {
			t.Errorf("abandoned after other than 3 tries: %s", line)
		}
	}
	if ws, _ := f.st.ClaimWritebacks(context.Background(), "check", time.Minute, 10); len(ws) != 0 {
		t.Errorf("%d write-backs left in the store", len(ws))
	}
}

// An answer that would be the same next time (a problem that does not
// exist) is not tried again.
func TestWritebackNotRetriedOnPermanentError(t *testing.T) {
	f, _ := retryFixture(t)
	runOn(t, f, "-1234567890_1700000000000V2", "event=writeback_failed")
	// Execute queues a retry before it returns (runOn waits for it): none
	// is in the store, none was scheduled, so none can run.
	if ws, err := f.st.ClaimWritebacks(context.Background(), "check", time.Minute, 10); err != nil || len(ws) != 0 {
		t.Errorf("%d write-backs queued for another try (%v)", len(ws), err)
	}
	if s := f.logs.String(); strings.Contains(s, "writeback_retry_scheduled") || strings.Contains(s, "tried again") {
		t.Errorf("retried a 404:\n%s", s)
	}
}
