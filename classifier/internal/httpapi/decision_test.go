package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/classifier/internal/classify"
	"github.com/alexis-ops/alexis/shared/api"
)

// Every classification is recorded, whatever its result, with what the
// console shows of it: ids, feed, summary, result, rules checked, the
// pushes with their execution ids, who posted it, the payload and, per rule
// file, what it decided and why.
func TestDecisionRecorded(t *testing.T) {
	tests := []struct {
		name       string
		setup      setup
		alert      map[string]any
		wantResult string
		wantCheck  int
		wantMatch  []api.MatchedAction
		wantRules  []api.DecisionRule
	}{
		{
			name:       "matched",
			setup:      setup{rules: []string{"gc_restart.json", "invalid_json.json"}},
			wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch: []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantRules: []api.DecisionRule{
				{File: "gc_restart.json", RuleName: "day_duplicator_gc_restart", Status: "matched"},
				{File: "invalid_json.json", Status: "invalid", Reason: "$: "},
			},
		},
		{
			name:       "unmatched names the failing condition and the value seen",
			setup:      setup{rules: []string{"gc_restart.json"}},
			alert:      map[string]any{"description": "all fine on app01"},
			wantResult: api.ResultUnmatched, wantCheck: 1,
			wantRules: []api.DecisionRule{{File: "gc_restart.json", RuleName: "day_duplicator_gc_restart", Status: "not_matched",
				RulePath: "evaluation_list[0].evaluation.search_text", AlertPath: "description", Op: "regex",
				Expected: `"Long garbage-collection time"`, Actual: `"all fine on app01"`, Reason: "regular expression not found"}},
		},
		{
			name:       "deferred",
			setup:      setup{ruleJSON: map[string]string{"slow.json": withDuration(t, "1h")}},
			wantResult: api.ResultDeferred, wantCheck: 1,
			wantRules: []api.DecisionRule{{File: "slow.json", RuleName: "day_duplicator_gc_restart", Status: "deferred",
				Reason: "the rule waits until the alert is 1h0m0s old; it is 10m0s"}},
		},
		{
			name:       "refused",
			setup:      setup{rules: []string{"gc_restart.json"}, status: func(string) int { return http.StatusUnprocessableEntity }},
			wantResult: api.ResultRefused, wantCheck: 1,
			wantMatch: []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", Status: classify.PushRejected,
				Error: "push to action handler: status 422: refused with 422"}},
			wantRules: []api.DecisionRule{{File: "gc_restart.json", RuleName: "day_duplicator_gc_restart", Status: "matched"}},
		},
		{
			name:       "unavailable",
			setup:      setup{rules: []string{"gc_restart.json"}, status: func(string) int { return http.StatusServiceUnavailable }},
			wantResult: api.ResultUnavailable, wantCheck: 1,
			wantRules: []api.DecisionRule{{File: "gc_restart.json", RuleName: "day_duplicator_gc_restart", Status: "matched"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup.history = true
			h := newHarness(t, tc.setup)
			body := gcAlert(t, tc.alert)
			rec := h.do(t, http.MethodPost, "/v1/classifier", body, clientToken)
			if rec.Code != http.StatusOK && rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := h.history.WaitRecorded(t, 1)
			if len(got) != 1 {
				t.Fatalf("recorded %d decisions", len(got))
			}
			d := got[0]
			if len(d.ID) != 32 || strings.Trim(d.ID, "0123456789abcdef") != "" {
				t.Errorf("id %q: want 32 hex digits", d.ID)
			}
			if !d.ReceivedAt.Equal(testNow) || d.FeedType != "OpsGenie" || d.FeedName != "incoming" || d.AlertID != alertID ||
				d.UniqueValue != "42" || d.Summary != "Duplicator GC on app01" || d.RequestedBy != "poller" {
				t.Errorf("decision %+v", d)
			}
			if d.Result != tc.wantResult || d.RulesChecked != tc.wantCheck {
				t.Errorf("result %s, rules_checked %d; want %s, %d", d.Result, d.RulesChecked, tc.wantResult, tc.wantCheck)
			}
			gotMatch, _ := json.Marshal(d.Matched)
			wantMatch, _ := json.Marshal(tc.wantMatch)
			if string(gotMatch) != string(wantMatch) {
				t.Errorf("matched %s, want %s", gotMatch, wantMatch)
			}
			if len(d.Rules) != len(tc.wantRules) {
				t.Fatalf("rules %+v, want %+v", d.Rules, tc.wantRules)
			}
			for i, want := range tc.wantRules {
				r := d.Rules[i]
				if want.Status == "invalid" { // the JSON error's wording is encoding/json's
					if r.Status != "invalid" || r.File != want.File || !strings.HasPrefix(r.Reason, want.Reason) {
						t.Errorf("rule %d: %+v, want %+v", i, r, want)
					}
					continue
				}
				if r != want {
					t.Errorf("rule %d:\n got %+v\nwant %+v", i, r, want)
				}
			}
			var sent, kept any
			_ = json.Unmarshal(body, &sent)
			if err := json.Unmarshal(d.Payload, &kept); err != nil || d.PayloadOmitted {
				t.Fatalf("payload %s (omitted %v): %v", d.Payload, d.PayloadOmitted, err)
			}
			a, _ := json.Marshal(sent)
			b, _ := json.Marshal(kept)
			if string(a) != string(b) {
				t.Errorf("payload %s, want the envelope %s", b, a)
			}
			if strings.Contains(h.logs.String(), historyToken) {
				t.Error("the history token is in the logs")
			}
		})
	}
}

// Each alert of a push feed notification gets its own decision.
func TestDecisionPerPushedAlert(t *testing.T) {
	h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"}, history: true})
	rec := h.do(t, http.MethodPost, "/v1/alertmanager", notification(t), clientToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var ans IntakeAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		t.Fatal(err)
	}
	classified := 0
	for _, a := range ans.Alerts {
		if a.Result != ResultSkipped && a.Result != ResultInvalid {
			classified++
		}
	}
	if classified == 0 {
		t.Fatalf("nothing classified: %s", rec.Body)
	}
	got := h.history.WaitRecorded(t, classified)
	for _, d := range got {
		if d.FeedType != "Alertmanager" || d.Summary == "" || d.Result == "" {
			t.Errorf("decision %+v", d)
		}
	}
}
