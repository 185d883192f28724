package breaker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/rule"
)

func newBreaker(t *testing.T, pauseAfter int) (*Breaker, *store.SQL, *logtest.Buffer) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &logtest.Buffer{}
	return New(Options{Store: st, PauseAfter: pauseAfter, Log: logging.New(logs, "actionhandler", logging.Options{})}), st, logs
}

func exec(id, status string, entities []string, steps ...store.Step) *store.Execution {
	return &store.Execution{ID: id, RuleName: "r1", Status: status, Entities: entities, Steps: steps,
		Request: []byte(`{"rule":{"rule_name":"r1"}}`)}
}

func state(t *testing.T, st *store.SQL) map[string]store.Breaker {
	t.Helper()
	bs, err := st.Breakers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Breaker{}
	for _, b := range bs {
		out[b.Entity] = b
	}
	return out
}

// What counts: failure, refused and ineffective add one; success resets;
// interrupted and audit executions count neither way.
func TestObserveCounts(t *testing.T) {
	b, st, logs := newBreaker(t, 3)
	ctx := context.Background()
	r := &rule.Rule{Name: "r1"}
	b.Observe(ctx, exec("e1", store.Failure, []string{"h1"}), r)
	b.Observe(ctx, exec("e2", store.Interrupted, []string{"h1"}), r)
	audit := exec("e3", store.Failure, []string{"h1"})
	audit.Mode = store.Audit
	b.Observe(ctx, audit, r)
	if got := state(t, st)[""]; got.Failures != 1 || got.LastExecution != "e1" {
		t.Fatalf("after failure, interrupted, audit: %+v", got)
	}
	b.Observe(ctx, exec("e4", store.Success, []string{"h1"}), r)
	if got := state(t, st)[""]; got.Failures != 0 {
		t.Fatalf("success: %+v", got)
	}
	for i, s := range []string{store.Refused, store.Ineffective, store.Failure} {
		b.Observe(ctx, exec("f"+string(rune('0'+i)), s, []string{"h1"}), r)
	}
	if got := state(t, st)[""]; !got.Paused() || got.Failures != 3 {
		t.Fatalf("three failures: %+v", got)
	}
	if n := strings.Count(logs.String(), "event=rule_paused"); n != 1 ||
		!strings.Contains(logs.String(), "rule_name=r1") || !strings.Contains(logs.String(), "failed=3") {
		t.Errorf("rule_paused lines %d:\n%s", n, logs)
	}
}

// The rule's pause_after wins over the default; 0 everywhere: nothing is
// counted. Per entity: a host counts its own steps, ineffective counts
// every host.
func TestObservePerEntityAndDefaults(t *testing.T) {
	b, st, _ := newBreaker(t, 0)
	ctx := context.Background()
	b.Observe(ctx, exec("e0", store.Failure, []string{"h1"}), &rule.Rule{Name: "r1"})
	if len(state(t, st)) != 0 {
		t.Fatalf("counted with the breaker off")
	}
	r := &rule.Rule{Name: "r1", Governor: &rule.Governor{PauseAfter: 2, PausePerEntity: true}}
	bad := store.Step{Entity: "h2", Status: store.Failure}
	good := store.Step{Entity: "h1", Status: store.Success}
	b.Observe(ctx, exec("e1", store.Failure, []string{"h1", "h2"}, good, bad), r)
	s := state(t, st)
	if s["h1"].Failures != 0 || s["h2"].Failures != 1 || len(s) != 2 {
		t.Fatalf("per entity: %+v", s)
	}
	b.Observe(ctx, exec("e2", store.Ineffective, []string{"h1", "h2"}, good, good), r)
	s = state(t, st)
	if s["h1"].Failures != 1 || s["h2"].Failures != 2 || !s["h2"].Paused() || s["h1"].Paused() {
		t.Fatalf("ineffective: %+v", s)
	}
}
