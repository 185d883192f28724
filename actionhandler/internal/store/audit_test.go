package store

import (
	"testing"
	"time"
)

// Stats and RuleActivity keep audit executions apart: their own status,
// no duration, not ended (so never in a success rate).
func TestStatsKeepAuditApart(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		t0 := c.Now()
		mustCreate(t, s, newExec("e1", "a1", "restart", "web01"))
		run(t, s, c, Success, 10*time.Second)
		x := newExec("e2", "a2", "restart", "web01")
		x.Mode = Audit
		mustCreate(t, s, x)
		run(t, s, c, Audit, time.Hour)
		st, err := s.Stats(ctx, StatsFilter{Since: t0, Until: t0.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Rules) != 1 || st.Rules[0].ByStatus[Audit] != 1 || st.Rules[0].ByStatus[Success] != 1 ||
			st.Rules[0].Max != 10*time.Second {
			t.Errorf("rules %+v", st.Rules)
		}
		ra, err := s.RuleActivity(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if a := ra["restart"]; a.Success != 1 || a.Ended != 1 {
			t.Errorf("activity %+v", a)
		}
	})
}
