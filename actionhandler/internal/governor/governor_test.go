package governor

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/rule"
)

// fixture runs executions through a real (SQLite) store on a fake clock.
type fixture struct {
	t   *testing.T
	s   store.Store
	now time.Time
	g   *Governor
	n   int
}

func newFixture(t *testing.T, o Options) *fixture {
	f := &fixture{t: t, now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "g.db"), store.Options{Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.s = s
	o.Now = func() time.Time { return f.now }
	f.g = New(o)
	return f
}

// run creates and claims an execution of ruleName on entities, and says
// whether the governor let it run (and why not).
func (f *fixture) run(ruleName string, gov *rule.Governor, entities ...string) string {
	f.t.Helper()
	f.n++
	req, _ := json.Marshal(map[string]any{"rule": map[string]any{"rule_name": ruleName, "governor": gov}})
	if gov == nil {
		req, _ = json.Marshal(map[string]any{"rule": map[string]any{"rule_name": ruleName}})
	}
	id := ruleName + "-" + strings.Repeat("x", f.n)
	x := &store.Execution{ID: id, AlertID: id, FeedType: "OpsGenie", RuleName: ruleName, Request: req, Entities: entities}
	if _, _, err := f.s.Create(context.Background(), x, time.Hour); err != nil {
		f.t.Fatal(err)
	}
	got, err := f.s.Claim(context.Background(), "rep", time.Minute, f.g.Admit)
	if err != nil || got == nil {
		f.t.Fatalf("claim: %v %v", got, err)
	}
	if got.Status == store.Running {
		// Ended, so its hosts are free for the next step (still counted).
		if err := f.s.Finish(context.Background(), got.ID, "rep", store.Success, ""); err != nil {
			f.t.Fatal(err)
		}
	}
	return got.Reason
}

// step is one execution: after advance, on entities; skip is part of the
// governor's reason, "" when it runs.
type step struct {
	advance  time.Duration
	entities []string
	skip     string
}

func TestRuleLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gov   *rule.Governor
		steps []step
	}{
		{name: "max_executions over the window", gov: &rule.Governor{MaxExecutions: 2, Window: "1h"},
			steps: []step{
				{0, []string{"h1"}, ""},
				{10 * time.Minute, []string{"h2"}, ""},
				{10 * time.Minute, []string{"h3"}, "already ran 2 times in the last 1h (max_executions 2)"},
				{41 * time.Minute, []string{"h3"}, ""}, // the first left the window
			}},
		{name: "max_executions_per_entity", gov: &rule.Governor{MaxExecutionsPerEntity: 1},
			steps: []step{
				{0, []string{"h1", "h2"}, ""},
				{time.Minute, []string{"h3"}, ""},
				{time.Minute, []string{"h3", "h2"}, "already acted on h3 1 times in the last 1h (max_executions_per_entity 1)"},
				{time.Hour, []string{"h2"}, ""},
			}},
		{name: "cooldown", gov: &rule.Governor{Cooldown: "10m"},
			steps: []step{
				{0, []string{"h1"}, ""},
				{4 * time.Minute, []string{"h1"}, "acted on h1 4m ago (cooldown 10m)"},
				{4 * time.Minute, []string{"h2"}, ""},
				{7 * time.Minute, []string{"h1"}, ""},
			}},
		{name: "no governor", steps: []step{{0, []string{"h1"}, ""}, {0, []string{"h1"}, ""}, {0, []string{"h1"}, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			for i, st := range tc.steps {
				f.now = f.now.Add(st.advance)
				got := f.run("restart", tc.gov, st.entities...)
				if st.skip == "" && got != "" || st.skip != "" && !strings.Contains(got, st.skip) {
					t.Errorf("step %d: reason %q, want %q", i, got, st.skip)
				}
			}
			// Other rules are not limited by this one's runs.
			if got := f.run("other", tc.gov, "h1"); got != "" {
				t.Errorf("another rule: %q", got)
			}
		})
	}
}

func TestDefaultsAndHostsPerMinute(t *testing.T) {
	f := newFixture(t, Options{MaxHostsPerMinute: 3, Defaults: &rule.Governor{MaxExecutionsPerEntity: 1}, DefaultWindow: 30 * time.Minute})
	if got := f.run("a", nil, "h1", "h2"); got != "" {
		t.Fatal(got)
	}
	if got := f.run("a", nil, "h1"); !strings.Contains(got, "max_executions_per_entity 1") || !strings.Contains(got, "30m") {
		t.Errorf("defaults: %q", got)
	}
	// The rule's own governor replaces the defaults.
	if got := f.run("a", &rule.Governor{MaxExecutions: 5}, "h1"); got != "" {
		t.Errorf("own governor: %q", got)
	}
	if got := f.run("b", nil, "h4"); !strings.Contains(got, "3 hosts acted on in the last minute; 1 more would exceed max_hosts_per_minute 3") {
		t.Errorf("hosts per minute: %q", got)
	}
	f.now = f.now.Add(61 * time.Second)
	if got := f.run("b", nil, "h4", "h5"); got != "" {
		t.Errorf("next minute: %q", got)
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 10 * time.Minute: "10m", 90 * time.Second: "1m30s",
		4*time.Second + 400*time.Millisecond: "4s", 2*time.Hour + 30*time.Minute: "2h30m", 0: "0s"} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
}
