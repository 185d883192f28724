package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// outcomes records what Outcomes is told.
type outcomes struct {
	mu       sync.Mutex
	statuses []string
}

func (o *outcomes) Observe(_ context.Context, x *store.Execution, _ *rule.Rule) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.statuses = append(o.statuses, x.Status)
}

func (o *outcomes) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.statuses)
}

// A verification a shutdown cuts short records nothing and is done again
// after the restart; the circuit breaker (Outcomes) hears of the verdict
// only, and on_success waits for it.
func TestVerificationCutShortByShutdownIsDoneAgain(t *testing.T) {
	obs := &outcomes{}
	f := newFixture(t, func(o *Options) { o.Outcomes = obs })
	req := request(t, "OpsGenie", twoTasks, "app01")
	req.Rule.Verify = &rule.Verify{After: "1ms", Task: &rule.Task{TaskType: "remote_ssh", RunCommand: "systemctl is-active dup", Action: "check"}}
	x := f.run(t, context.Background(), req, "app01")
	if x.Status != store.Verifying || x.ReportedAt.IsZero() || x.VerifyAt.IsZero() {
		t.Fatalf("after the tasks: %+v", x)
	}
	if n := calls(f.rec, "note"); len(n) != 1 || !strings.Contains(n[0], "Fix applied; verifying at ") {
		t.Errorf("notes %q", n)
	}
	if teams := calls(f.rec, "team"); len(teams) != 0 {
		t.Errorf("on_success before the verdict: %q", teams)
	}
	if s := obs.seen(); len(s) != 0 {
		t.Errorf("outcomes told %q before the verdict", s)
	}

	block := make(chan struct{})
	f.runner.mu.Lock()
	f.runner.block = block
	f.runner.mu.Unlock()
	log := logging.New(f.logs, "actionhandler", logging.Options{})
	w := StartWorkers(WorkerOptions{Store: f.st, Engine: f.eng, PollInterval: 10 * time.Millisecond, Log: log})
	f.waitLog(t, "verification_started", func(logs string) bool { return strings.Contains(logs, "event=verification_started") })
	w.Shutdown(time.Millisecond)
	if !strings.Contains(f.logs.String(), "event=verification_interrupted") || strings.Contains(f.logs.String(), "event=verification_finished") {
		t.Fatalf("logs:\n%s", f.logs)
	}
	if y, _ := f.st.Get(context.Background(), x.ID); y.Status != store.Verifying || !y.VerifiedAt.IsZero() {
		t.Fatalf("after the shutdown: %s %v", y.Status, y.VerifiedAt)
	}

	// The restart of the same replica takes its verification back at once.
	close(block)
	if err := f.st.ExpireLeases(context.Background(), "rep1"); err != nil {
		t.Fatal(err)
	}
	w = StartWorkers(WorkerOptions{Store: f.st, Engine: f.eng, PollInterval: 10 * time.Millisecond, Log: log})
	defer w.Shutdown(time.Second)
	f.waitLog(t, "verification_finished", func(logs string) bool { return strings.Contains(logs, "event=verification_finished") })
	var y *store.Execution
	waitUntil(t, "written back", func() bool {
		y, _ = f.st.Get(context.Background(), x.ID)
		return y.Status == store.Remediated && !y.ReportedAt.IsZero()
	})
	if len(y.Steps) != 3 || !store.IsVerifyStep(y.Steps[2]) || y.Steps[2].Status != store.Success {
		t.Errorf("steps %+v", y.Steps)
	}
	waitUntil(t, "on_success", func() bool { return slices.Contains(calls(f.rec, "team"), "ops_unix") })
	if n := calls(f.rec, ticket.KindNote); len(n) != 2 || !strings.Contains(n[1], "[verified]") {
		t.Errorf("notes %q", n)
	}
	waitUntil(t, "outcome", func() bool { return len(obs.seen()) > 0 })
	if s := obs.seen(); !slices.Equal(s, []string{store.Remediated}) {
		t.Errorf("outcomes told %q, want remediated once", s)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
