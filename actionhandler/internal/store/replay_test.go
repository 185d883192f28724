package store

import (
	"slices"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

func TestReplayDecisions(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		t0 := c.Now()
		x := newExec("e1", "a1", "disk", "web01")
		x.Request = []byte(`{"id":"a1","rule":{"rule_name":"disk"}}`)
		mustCreate(t, s, x)
		omitted := newDecision("d0", "a0", t0.Add(-time.Hour), api.ResultUnmatched)
		omitted.Payload, omitted.PayloadOmitted = nil, true
		ds := []api.Decision{
			omitted,
			newDecision("d1", "a1", t0, api.ResultMatched, "disk", "e1"),
			newDecision("d2", "a2", t0.Add(time.Minute), api.ResultUnmatched),
			newDecision("d3", "a3", t0.Add(2*time.Minute), api.ResultUnmatched),
		}
		if err := s.RecordDecisions(ctx, ds); err != nil {
			t.Fatal(err)
		}
		ids := func(rds []ReplayDecision) []string {
			var out []string
			for _, rd := range rds {
				out = append(out, rd.Decision.ID)
			}
			return out
		}
		all, more, err := s.ReplayDecisions(ctx, ReplayFilter{Limit: 10})
		if err != nil || more || !slices.Equal(ids(all), []string{"d3", "d2", "d1", "d0"}) {
			t.Fatalf("all: %v %v %v", ids(all), more, err)
		}
		if d1 := all[2]; string(d1.Decision.Payload) != `{"id":"a1"}` || string(d1.Requests["e1"]) != string(x.Request) || len(d1.Requests) != 1 {
			t.Errorf("d1: payload %s requests %v", d1.Decision.Payload, d1.Requests)
		}
		if d0 := all[3]; d0.Decision.Payload != nil || !d0.Decision.PayloadOmitted || d0.Requests != nil {
			t.Errorf("d0: %+v", d0)
		}
		// The range is [since, until); the newest first, limited.
		got, more, err := s.ReplayDecisions(ctx, ReplayFilter{Since: t0, Until: t0.Add(2 * time.Minute), Limit: 10})
		if err != nil || more || !slices.Equal(ids(got), []string{"d2", "d1"}) {
			t.Errorf("range: %v %v %v", ids(got), more, err)
		}
		got, more, err = s.ReplayDecisions(ctx, ReplayFilter{Since: t0, Limit: 2})
		if err != nil || !more || !slices.Equal(ids(got), []string{"d3", "d2"}) {
			t.Errorf("limit: %v %v %v", ids(got), more, err)
		}
		for _, bad := range []int{0, -1, MaxReplayLimit + 1} {
			if _, _, err := s.ReplayDecisions(ctx, ReplayFilter{Limit: bad}); err == nil {
				t.Errorf("limit %d accepted", bad)
			}
		}
	})
}
