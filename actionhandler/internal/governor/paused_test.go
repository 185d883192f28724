package governor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/rule"
)

// A paused rule is skipped with rule_paused and how to resume; an
// execution of another version of it resumes the pause (OnResumed) and
// runs.
func TestPausedRule(t *testing.T) {
	var resumed []store.Breaker
	f := newFixture(t, Options{OnResumed: func(b store.Breaker) { resumed = append(resumed, b) }})
	req, _ := json.Marshal(map[string]any{"rule": map[string]any{"rule_name": "r"}})
	sql := f.s.(*store.SQL)
	if _, p, err := sql.RecordOutcome(context.Background(), "r", "h1", store.RuleHash(req), "x0", true, 1, "1 failure"); err != nil || !p {
		t.Fatal(p, err)
	}
	if why := f.run("r", nil, "h2"); why != "" {
		t.Errorf("another host: %q", why)
	}
	why := f.run("r", nil, "h2", "h1")
	for _, want := range []string{"rule_paused: rule r on h1 is paused by the circuit breaker since ", "(1 failure)",
		"`alexisctl rules resume r --entity h1 --reason WHY`", "POST /v1/rules/r/resume", "or change the rule file"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q lacks %q", why, want)
		}
	}
	if len(resumed) != 0 {
		t.Fatalf("resumed %+v", resumed)
	}
	// Another version of the rule (a governor added).
	if why := f.run("r", &rule.Governor{MaxExecutions: 9}, "h1"); why != "" {
		t.Errorf("changed rule: %q", why)
	}
	if len(resumed) != 1 || resumed[0].Entity != "h1" || resumed[0].ResumedBy != store.ResumedByRuleChange {
		t.Errorf("resumed %+v", resumed)
	}
}
