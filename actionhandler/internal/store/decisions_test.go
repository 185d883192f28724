package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// newDecision is a decision of alert alertID received at at, matching
// the rules of executions (rule name, execution id pairs).
func newDecision(id, alertID string, at time.Time, result string, matched ...string) api.Decision {
	d := api.Decision{ID: id, ReceivedAt: at, FeedType: "OpsGenie", FeedName: "incoming", AlertID: alertID,
		UniqueValue: "u-" + alertID, Summary: "disk full on " + alertID, Result: result, RulesChecked: 3,
		Rules: []api.DecisionRule{{File: "a.json", RuleName: "disk", Status: "matched"},
			{File: "b.json", RuleName: "cpu", Status: "not_matched", RulePath: "conditions[0]", AlertPath: "message",
				Op: "contains", Expected: "cpu", Actual: "disk full"}},
		Payload: json.RawMessage(`{"id":"` + alertID + `"}`)}
	for i := 0; i+1 < len(matched); i += 2 {
		d.Matched = append(d.Matched, api.MatchedAction{RuleName: matched[i], ExecutionID: matched[i+1], Status: "accepted"})
	}
	return d
}

func decisionIDs(p DecisionPage) []string {
	var out []string
	for _, d := range p.Decisions {
		out = append(out, d.ID)
	}
	return out
}

func TestRecordAndGetDecision(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "disk", "Web01", "web02"))
		d := newDecision("d1", "a1", c.Now(), api.ResultMatched, "disk", "e1", "other", "missing-exec")
		d.RequestedBy = "poller"
		if err := s.RecordDecisions(ctx, []api.Decision{d}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDecision(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if got.AlertID != "a1" || got.UniqueValue != "u-a1" || got.FeedType != "OpsGenie" || got.FeedName != "incoming" ||
			got.Result != api.ResultMatched || got.RulesChecked != 3 || got.RequestedBy != "poller" ||
			!got.ReceivedAt.Equal(c.Now()) || string(got.Payload) != `{"id":"a1"}` || len(got.Rules) != 2 ||
			got.Rules[1] != d.Rules[1] || len(got.Matched) != 2 || got.Matched[1] != d.Matched[1] {
			t.Errorf("got %+v", got)
		}
		// Linked to the execution that exists, with its status and hosts.
		want := []api.DecisionExecution{{ID: "e1", RuleName: "disk", Status: Queued, Entities: []string{"Web01", "web02"}}}
		if len(got.Executions) != 1 || got.Executions[0].ID != want[0].ID || got.Executions[0].Status != Queued ||
			!slices.Equal(got.Executions[0].Entities, want[0].Entities) || !slices.Equal(got.Hosts, []string{"Web01", "web02"}) {
			t.Errorf("executions %+v hosts %v", got.Executions, got.Hosts)
		}
		// Listed without the payload.
		p, err := s.ListDecisions(ctx, DecisionFilter{})
		if err != nil || len(p.Decisions) != 1 || p.Decisions[0].Payload != nil || len(p.Decisions[0].Executions) != 1 {
			t.Fatalf("list %+v %v", p, err)
		}
		// Idempotent: the same id again changes nothing.
		again := d
		again.Summary = "changed"
		if err := s.RecordDecisions(ctx, []api.Decision{again, newDecision("d2", "a2", c.Now(), api.ResultUnmatched)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetDecision(ctx, "d1"); got.Summary != d.Summary {
			t.Errorf("re-recorded: %q", got.Summary)
		}
		if p, _ := s.ListDecisions(ctx, DecisionFilter{}); !slices.Equal(decisionIDs(p), []string{"d2", "d1"}) {
			t.Errorf("after retry %v", decisionIDs(p))
		}
		if _, err := s.GetDecision(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
	})
}

func TestRecordDecisionsValidation(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		ok := newDecision("ok", "a1", c.Now(), api.ResultUnmatched)
		for _, tc := range []struct {
			name  string
			edit  func(d *api.Decision)
			field string
		}{
			{name: "received far ahead", edit: func(d *api.Decision) { d.ReceivedAt = d.ReceivedAt.Add(time.Second) }, field: "received_at"},
			{name: "no id", edit: func(d *api.Decision) { d.ID = "" }, field: "id"},
			{name: "id too long", edit: func(d *api.Decision) { d.ID = strings.Repeat("a", 65) }, field: "id"},
			{name: "id with a slash", edit: func(d *api.Decision) { d.ID = "../x" }, field: "id"},
			{name: "unknown result", edit: func(d *api.Decision) { d.Result = "won" }, field: "result"},
			{name: "negative rules_checked", edit: func(d *api.Decision) { d.RulesChecked = -1 }, field: "rules_checked"},
			{name: "payload too large", edit: func(d *api.Decision) {
				d.Payload = json.RawMessage(`"` + strings.Repeat("x", api.MaxDecisionPayload) + `"`)
			}, field: "payload"},
			{name: "payload not JSON", edit: func(d *api.Decision) { d.Payload = json.RawMessage(`{`) }, field: "payload"},
			{name: "too many rules", edit: func(d *api.Decision) { d.Rules = make([]api.DecisionRule, MaxDecisionRules+1) }, field: "rules"},
			{name: "too many matched", edit: func(d *api.Decision) { d.Matched = make([]api.MatchedAction, MaxDecisionMatched+1) }, field: "matched"},
			{name: "bad execution id", edit: func(d *api.Decision) {
				d.Matched = []api.MatchedAction{{RuleName: "r"}, {RuleName: "r", ExecutionID: "a b"}}
			}, field: "matched[1].execution_id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bad := newDecision("bad-"+strings.ReplaceAll(tc.name, " ", "-"), "a2", c.Now().Add(MaxDecisionAhead), api.ResultMatched)
				tc.edit(&bad)
				err := s.RecordDecisions(ctx, []api.Decision{ok, bad})
				var de *DecisionError
				if !errors.As(err, &de) || !errors.Is(err, ErrInvalidDecision) || de.Index != 1 || de.Field != tc.field {
					t.Fatalf("err %v", err)
				}
				// The whole batch is refused.
				if _, err := s.GetDecision(ctx, "ok"); !errors.Is(err, ErrNotFound) {
					t.Errorf("the valid one was recorded: %v", err)
				}
			})
		}
		// Long strings are cut to their caps at a character boundary.
		long := newDecision("long", "a3", c.Now(), api.ResultUnmatched)
		long.Summary = strings.Repeat("é", 200) // 400 bytes
		long.AlertID = strings.Repeat("x", 10000)
		if err := s.RecordDecisions(ctx, []api.Decision{long}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDecision(ctx, "long")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Summary) != 256 || got.Summary != strings.Repeat("é", 128) || len(got.AlertID) != maxDecisionValue {
			t.Errorf("summary %d bytes %q, alert id %d bytes", len(got.Summary), got.Summary, len(got.AlertID))
		}
	})
}

func TestListDecisionsFilters(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		t0 := c.Now()
		mustCreate(t, s, newExec("e1", "a1", "disk", "WEB01"))
		mustCreate(t, s, newExec("e2", "a2", "restart", "web02", "db01"))
		ds := []api.Decision{
			newDecision("d0", "a0", t0, api.ResultUnmatched),
			newDecision("d1", "a1", t0.Add(time.Second), api.ResultMatched, "disk", "e1"),
			newDecision("d2", "a2", t0.Add(2*time.Second), api.ResultMatched, "restart", "e2", "disk", ""),
			newDecision("d3", "a3", t0.Add(3*time.Second), api.ResultDeferred),
		}
		ds[3].FeedType, ds[3].FeedName = "Dynatrace", "dt"
		ds[0].Summary = "CPU 100% on batch_7"
		if err := s.RecordDecisions(ctx, ds); err != nil {
			t.Fatal(err)
		}
		// e1 runs and succeeds: its decision's outcome follows.
		x, err := s.Claim(ctx, "rep", time.Minute, nil)
		if err != nil || x.ID != "e1" {
			t.Fatalf("claim %v %v", x, err)
		}
		if err := s.Finish(ctx, "e1", "rep", Success, ""); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    DecisionFilter
			want []string
		}{
			{name: "all", f: DecisionFilter{}, want: []string{"d3", "d2", "d1", "d0"}},
			{name: "feed type", f: DecisionFilter{FeedType: "Dynatrace"}, want: []string{"d3"}},
			{name: "feed name", f: DecisionFilter{FeedName: "incoming"}, want: []string{"d2", "d1", "d0"}},
			{name: "rule", f: DecisionFilter{RuleName: "disk"}, want: []string{"d2", "d1"}},
			{name: "host any case", f: DecisionFilter{Host: "web01"}, want: []string{"d1"}},
			{name: "host of a second entity", f: DecisionFilter{Host: "DB01"}, want: []string{"d2"}},
			{name: "outcome result", f: DecisionFilter{Outcome: api.ResultMatched}, want: []string{"d2", "d1"}},
			{name: "outcome status success", f: DecisionFilter{Outcome: Success}, want: []string{"d1"}},
			{name: "outcome status queued", f: DecisionFilter{Outcome: Queued}, want: []string{"d2"}},
			{name: "outcome running: none left", f: DecisionFilter{Outcome: Running}, want: nil},
			{name: "text in summary", f: DecisionFilter{Text: "cpu 100%"}, want: []string{"d0"}},
			{name: "text wildcard is literal", f: DecisionFilter{Text: "t_h"}, want: nil},
			{name: "text underscore literal", f: DecisionFilter{Text: "batch_"}, want: []string{"d0"}},
			{name: "text percent literal", f: DecisionFilter{Text: "%"}, want: []string{"d0"}},
			{name: "text unique value", f: DecisionFilter{Text: "U-A3"}, want: []string{"d3"}},
			{name: "since", f: DecisionFilter{Since: t0.Add(2 * time.Second)}, want: []string{"d3", "d2"}},
			{name: "until", f: DecisionFilter{Until: t0.Add(time.Second)}, want: []string{"d0"}},
			{name: "rule and host", f: DecisionFilter{RuleName: "disk", Host: "web02"}, want: []string{"d2"}},
			{name: "host and outcome", f: DecisionFilter{Host: "web01", Outcome: Queued}, want: nil},
			{name: "feed and outcome", f: DecisionFilter{FeedType: "OpsGenie", Outcome: api.ResultUnmatched}, want: []string{"d0"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.ListDecisions(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := decisionIDs(p); !slices.Equal(got, tc.want) || p.Next != "" {
					t.Errorf("got %v next %q, want %v", got, p.Next, tc.want)
				}
			})
		}
		p, _ := s.ListDecisions(ctx, DecisionFilter{RuleName: "restart"})
		if d := p.Decisions[0]; len(d.Executions) != 1 || d.Executions[0].Status != Queued ||
			!slices.Equal(d.Hosts, []string{"web02", "db01"}) {
			t.Errorf("d2: %+v", d)
		}
		p, _ = s.ListDecisions(ctx, DecisionFilter{Host: "web01"})
		if d := p.Decisions[0]; len(d.Executions) != 1 || d.Executions[0].Status != Success {
			t.Errorf("d1 after its execution ended: %+v", d.Executions)
		}
		if _, err := s.ListDecisions(ctx, DecisionFilter{Cursor: "!!"}); !errors.Is(err, ErrCursor) {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

// Pages cover every decision once, in order, across equal timestamps,
// with and without a filter, and with a bounded scan window.
func TestListDecisionsPaging(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		t0 := c.Now()
		mustCreate(t, s, newExec("e1", "a1", "disk", "web01"))
		var ds []api.Decision
		var all, hosted, texted []string
		for i := range 23 {
			// Groups of 5 share a received time.
			d := newDecision(fmt.Sprintf("d%02d", i), fmt.Sprintf("a%d", i), t0.Add(time.Duration(i/5)*time.Second), api.ResultUnmatched)
			if i%3 == 0 {
				d.Result, d.Matched = api.ResultMatched, []api.MatchedAction{{RuleName: "disk", ExecutionID: "e1"}}
			}
			if i%4 == 0 {
				d.Summary = "needle"
			}
			ds = append(ds, d)
		}
		if err := s.RecordDecisions(ctx, ds); err != nil {
			t.Fatal(err)
		}
		for i := 22; i >= 0; i-- {
			id := fmt.Sprintf("d%02d", i)
			all = append(all, id)
			if i%3 == 0 {
				hosted = append(hosted, id)
			}
			if i%4 == 0 {
				texted = append(texted, id)
			}
		}
		page := func(t *testing.T, f DecisionFilter) []string {
			t.Helper()
			var got []string
			for range 100 {
				p, err := s.ListDecisions(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Decisions) > f.Limit {
					t.Fatalf("page of %d over limit %d", len(p.Decisions), f.Limit)
				}
				got = append(got, decisionIDs(p)...)
				if p.Next == "" {
					return got
				}
				f.Cursor = p.Next
			}
			t.Fatal("paging does not end")
			return nil
		}
		for _, tc := range []struct {
			name   string
			f      DecisionFilter
			window int
			want   []string
		}{
			{name: "all by 4", f: DecisionFilter{Limit: 4}, want: all},
			{name: "all by 1", f: DecisionFilter{Limit: 1}, want: all},
			{name: "host by 3", f: DecisionFilter{Host: "web01", Limit: 3}, want: hosted},
			{name: "outcome by 2", f: DecisionFilter{Outcome: api.ResultMatched, Limit: 2}, want: hosted},
			{name: "text by 2", f: DecisionFilter{Text: "needle", Limit: 2}, want: texted},
			{name: "text, window of 3", f: DecisionFilter{Text: "needle", Limit: 2}, window: 3, want: texted},
			{name: "host and text, window of 2", f: DecisionFilter{Host: "web01", Text: "needle", Limit: 5}, window: 2,
				want: []string{"d12", "d00"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.(*SQL).scanWindow = tc.window
				defer func() { s.(*SQL).scanWindow = 0 }()
				if got := page(t, tc.f); !slices.Equal(got, tc.want) {
					t.Errorf("paged %v\nwant  %v", got, tc.want)
				}
			})
		}
	})
}

func TestPruneDecisions(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("old", "a1", "disk", "h1"))
		x, _ := s.Claim(ctx, "rep", time.Minute, nil)
		s.Finish(ctx, x.ID, "rep", Success, "")
		s.Reported(ctx, x.ID, "rep")
		if err := s.RecordDecisions(ctx, []api.Decision{
			newDecision("d-old", "a1", c.Now(), api.ResultMatched, "disk", "old"),
			newDecision("d-old2", "a9", c.Now().Add(time.Hour), api.ResultUnmatched),
		}); err != nil {
			t.Fatal(err)
		}
		c.Add(48 * time.Hour)
		if err := s.RecordDecisions(ctx, []api.Decision{newDecision("d-new", "a2", c.Now(), api.ResultUnmatched)}); err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneDecisions(ctx, c.Now().Add(-47*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d %v", n, err)
		}
		if _, err := s.GetDecision(ctx, "d-old"); !errors.Is(err, ErrNotFound) {
			t.Errorf("d-old: %v", err)
		}
		// Prune (store.retention) prunes decisions too, and executions
		// linked to a decision.
		if n, err := s.Prune(ctx, c.Now().Add(-24*time.Hour)); err != nil || n != 1 {
			t.Fatalf("prune %d %v", n, err)
		}
		p, err := s.ListDecisions(ctx, DecisionFilter{})
		if err != nil || !slices.Equal(decisionIDs(p), []string{"d-new"}) {
			t.Errorf("after prune %v %v", decisionIDs(p), err)
		}
		for _, f := range []DecisionFilter{{Host: "h1"}, {RuleName: "disk"}, {Outcome: api.ResultMatched}} {
			if p, err := s.ListDecisions(ctx, f); len(p.Decisions) != 0 || err != nil {
				t.Errorf("%+v: %v %v", f, decisionIDs(p), err)
			}
		}
	})
}

// run takes one queued execution through claim and finish (with a step
// from started to ended after d).
func run(t *testing.T, s Store, c *clock, status string, d time.Duration) *Execution {
	t.Helper()
	x, err := s.Claim(ctx, "rep", time.Hour, nil)
	if err != nil || x == nil {
		t.Fatalf("claim: %v %v", x, err)
	}
	start := c.Now()
	c.Add(d)
	st := Step{Entity: x.Entities[0], TaskType: "remote_ssh", Action: "restart", Status: status, StartedAt: start, FinishedAt: c.Now()}
	if err := s.Finish(ctx, x.ID, "rep", status, "", st); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestStatsHostsRuleActivity(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		t0 := c.Now()
		// Day 0: restart on web01 succeeds (10 s), on web02 fails (30 s).
		mustCreate(t, s, newExec("e1", "a1", "restart", "web01"))
		run(t, s, c, Success, 10*time.Second)
		mustCreate(t, s, newExec("e2", "a2", "restart", "WEB02"))
		run(t, s, c, Failure, 30*time.Second)
		// Day 2: disk on web01 succeeds (20 s); one restart stays queued.
		c.Add(48 * time.Hour)
		mustCreate(t, s, newExec("e3", "a3", "disk", "web01"))
		run(t, s, c, Success, 20*time.Second)
		mustCreate(t, s, newExec("e4", "a4", "restart", "web01"))
		if err := s.RecordDecisions(ctx, []api.Decision{
			newDecision("d1", "a1", t0, api.ResultMatched, "restart", "e1"),
			newDecision("d3", "a3", c.Now(), api.ResultMatched, "disk", "e3"),
		}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(ctx, StatsFilter{Since: t0, Until: t0.Add(72 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Buckets) != 3 || !st.Buckets[0].Start.Equal(t0) || st.Buckets[0].ByStatus[Success] != 1 ||
			st.Buckets[0].ByStatus[Failure] != 1 || len(st.Buckets[1].ByStatus) != 0 ||
			st.Buckets[2].ByStatus[Success] != 1 || st.Buckets[2].ByStatus[Queued] != 1 {
			t.Errorf("buckets %+v", st.Buckets)
		}
		if len(st.Rules) != 2 || st.Rules[0].RuleName != "restart" || st.Rules[0].Total != 3 ||
			st.Rules[0].ByStatus[Success] != 1 || st.Rules[0].ByStatus[Failure] != 1 || st.Rules[0].ByStatus[Queued] != 1 ||
			st.Rules[0].P50 != 10*time.Second || st.Rules[0].P95 != 30*time.Second || st.Rules[0].Max != 30*time.Second ||
			st.Rules[1].RuleName != "disk" || st.Rules[1].P50 != 20*time.Second {
			t.Errorf("rules %+v", st.Rules)
		}
		if a := st.Actions; len(a) != 2 || a[0] != (ActionStats{Action: "restart", Entity: "web01", Count: 2, Success: 2, Last: a[0].Last}) ||
			a[1] != (ActionStats{Action: "restart", Entity: "WEB02", Count: 1, Success: 0, Last: a[1].Last}) ||
			!a[0].Last.Equal(c.Now().Add(-0)) && a[0].Last.IsZero() {
			t.Errorf("actions %+v", st.Actions)
		}
		st, err = s.Stats(ctx, StatsFilter{Since: t0, Until: t0.Add(72 * time.Hour), Host: "web02", Bucket: time.Hour})
		if err != nil || len(st.Buckets) != 72 || len(st.Rules) != 1 || st.Rules[0].Total != 1 {
			t.Errorf("host web02: %+v %v", st.Rules, err)
		}
		st, err = s.Stats(ctx, StatsFilter{Since: t0, Until: t0.Add(72 * time.Hour), RuleName: "disk"})
		if err != nil || len(st.Rules) != 1 || st.Rules[0].Total != 1 {
			t.Errorf("rule disk: %+v %v", st.Rules, err)
		}
		if _, err := s.Stats(ctx, StatsFilter{Since: t0, Until: t0.Add(time.Hour), Bucket: time.Second}); !errors.Is(err, ErrStatsRange) {
			t.Errorf("3600 buckets: %v", err)
		}
		hs, err := s.Hosts(ctx, t0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 2 || hs[0].Host != "web01" || hs[0].Total != 3 || hs[0].ByStatus[Success] != 2 ||
			hs[0].ByStatus[Queued] != 1 || hs[1].Host != "web02" || hs[1].ByStatus[Failure] != 1 {
			t.Errorf("hosts %+v", hs)
		}
		if hs, _ := s.Hosts(ctx, t0, 1); len(hs) != 1 {
			t.Errorf("limit 1: %+v", hs)
		}
		ra, err := s.RuleActivity(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if r := ra["restart"]; r.Matches != 1 || r.Success != 1 || r.Ended != 2 || !r.LastMatch.Equal(t0) {
			t.Errorf("restart %+v", r)
		}
		if r := ra["disk"]; r.Matches != 1 || r.Success != 1 || r.Ended != 1 || !r.LastMatch.Equal(c.Now()) {
			t.Errorf("disk %+v", r)
		}
	})
}

// TestDecisionPlansBounded: the timeline's queries walk an index in the
// page's order (no sort of every match, no scan of the table) on SQLite,
// which has no statistics to choose by.
func TestDecisionPlansBounded(t *testing.T) {
	s, err := OpenSQLite(ctx, t.TempDir()+"/a.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cursor := encodeCursor(micros(time.Now()), "d1")
	for _, tc := range []struct {
		name  string
		f     DecisionFilter
		index string
	}{
		{name: "first page", f: DecisionFilter{}, index: "decisions_newest"},
		{name: "later page", f: DecisionFilter{Cursor: cursor}, index: "decisions_newest"},
		{name: "feed", f: DecisionFilter{FeedType: "OpsGenie", Cursor: cursor}, index: "decisions_feed"},
		{name: "host", f: DecisionFilter{Host: "web01", Cursor: cursor}, index: "decision_hosts_host"},
		{name: "rule", f: DecisionFilter{RuleName: "disk", Outcome: Failure}, index: "decision_matches_rule"},
		{name: "outcome", f: DecisionFilter{Outcome: Failure, Since: time.Now()}, index: "decision_outcomes_outcome"},
		{name: "text", f: DecisionFilter{Text: "disk"}, index: "decisions_newest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q string
			var args []any
			s.onListQuery = func(qq string, aa []any) { q, args = qq, aa }
			if _, err := s.ListDecisions(ctx, tc.f); err != nil {
				t.Fatal(err)
			}
			plan := explain(t, s, q, args...)
			if !strings.Contains(plan, tc.index) || strings.Contains(plan, "TEMP B-TREE") ||
				strings.Contains(plan, "SCAN d\n") || strings.HasSuffix(plan, "SCAN d") {
				t.Errorf("plan of %s:\n%s", q, plan)
			}
		})
	}
}

// A decision's outcomes follow its execution through every status change:
// claimed (running), recovered (interrupted), skipped by the governor.
func TestDecisionOutcomesFollowExecutions(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "disk", "web01"))
		mustCreate(t, s, newExec("e2", "a2", "disk", "web02"))
		if err := s.RecordDecisions(ctx, []api.Decision{
			newDecision("d1", "a1", c.Now(), api.ResultMatched, "disk", "e1"),
			newDecision("d2", "a2", c.Now(), api.ResultMatched, "disk", "e2"),
		}); err != nil {
			t.Fatal(err)
		}
		outcome := func(o string) []string {
			t.Helper()
			p, err := s.ListDecisions(ctx, DecisionFilter{Outcome: o})
			if err != nil {
				t.Fatal(err)
			}
			return decisionIDs(p)
		}
		if got := outcome(Queued); !slices.Equal(got, []string{"d2", "d1"}) {
			t.Fatalf("queued %v", got)
		}
		if x, err := s.Claim(ctx, "rep", time.Minute, nil); err != nil || x.ID != "e1" {
			t.Fatalf("claim %v %v", x, err)
		}
		if got := outcome(Running); !slices.Equal(got, []string{"d1"}) {
			t.Errorf("running %v", got)
		}
		if err := s.ExpireLeases(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recover(ctx, "rep2", time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := outcome(Interrupted); !slices.Equal(got, []string{"d1"}) || len(outcome(Running)) != 0 {
			t.Errorf("interrupted %v, running %v", got, outcome(Running))
		}
		skip := func(context.Context, Counter, *Execution) (string, error) { return "too many", nil }
		if x, err := s.Claim(ctx, "rep", time.Minute, skip); err != nil || x.ID != "e2" || x.Status != Skipped {
			t.Fatalf("claim %v %v", x, err)
		}
		if got := outcome(Skipped); !slices.Equal(got, []string{"d2"}) || len(outcome(Queued)) != 0 {
			t.Errorf("skipped %v, queued %v", got, outcome(Queued))
		}
		// The result stays an outcome too.
		if got := outcome(api.ResultMatched); !slices.Equal(got, []string{"d2", "d1"}) {
			t.Errorf("matched %v", got)
		}
	})
}
