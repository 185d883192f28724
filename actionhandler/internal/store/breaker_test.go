package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestBreakerCountsResetsAndPauses(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		rec := func(entity, hash, id string, failed bool) (Breaker, bool) {
			t.Helper()
			b, paused, err := s.RecordOutcome(ctx, "r1", entity, hash, id, failed, 3, "3 failures")
			if err != nil {
				t.Fatal(err)
			}
			return b, paused
		}
		if b, p := rec("", "h1", "e1", true); b.Failures != 1 || p {
			t.Fatalf("first failure: %+v %v", b, p)
		}
		rec("", "h1", "e2", true)
		if b, p := rec("", "h1", "e3", false); b.Failures != 0 || p || b.LastExecution != "e3" {
			t.Fatalf("success resets: %+v %v", b, p)
		}
		rec("", "h1", "e4", true)
		rec("", "h1", "e5", true)
		// Another version of the rule starts at one.
		if b, _ := rec("", "h2", "e6", true); b.Failures != 1 || b.RuleHash != "h2" {
			t.Fatalf("hash change: %+v", b)
		}
		rec("", "h2", "e7", true)
		b, p := rec("", "h2", "e8", true)
		if !p || !b.Paused() || b.Failures != 3 || b.Reason != "3 failures" {
			t.Fatalf("third failure pauses: %+v %v", b, p)
		}
		// Paused: the count holds, and pausing happens once.
		if b, p := rec("", "h2", "e9", true); p || b.Failures != 3 || !b.Paused() {
			t.Fatalf("paused row: %+v %v", b, p)
		}
		if b, _ := rec("", "h2", "e10", false); b.Failures != 3 || !b.Paused() {
			t.Fatalf("a success does not resume: %+v", b)
		}
		// Per entity: a row of its own.
		if b, p := rec("web1", "h2", "e11", true); b.Failures != 1 || p {
			t.Fatalf("entity: %+v", b)
		}
		if n, err := s.CountPaused(ctx); n != 1 || err != nil {
			t.Fatalf("count paused %d %v", n, err)
		}
		bs, err := s.Breakers(ctx)
		if err != nil || len(bs) != 2 || !bs[0].Paused() || bs[0].Entity != "" || bs[1].Entity != "web1" {
			t.Fatalf("breakers %+v %v", bs, err)
		}
		if _, err := s.Resume(ctx, "r1", "web1", "admin", "why"); !errors.Is(err, ErrNotPaused) {
			t.Fatalf("resume of an unpaused entity: %v", err)
		}
		got, err := s.Resume(ctx, "r1", "*", "admin", "fixed the disk")
		if err != nil || len(got) != 1 || got[0].Paused() || got[0].Failures != 0 || got[0].ResumedBy != "admin" ||
			got[0].ResumeReason != "fixed the disk" {
			t.Fatalf("resume %+v %v", got, err)
		}
		if n, _ := s.CountPaused(ctx); n != 0 {
			t.Fatalf("still paused: %d", n)
		}
		if b, _ := rec("", "h2", "e12", true); b.Failures != 1 || b.Paused() {
			t.Fatalf("after resume: %+v", b)
		}
	})
}

// Replicas recording at once count exactly, and exactly one of them
// pauses the rule.
func TestBreakerConcurrentOutcomesCountExactly(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		pauses := 0
		for i := range n {
			wg.Go(func() {
				_, p, err := s.RecordOutcome(ctx, "r1", "", "h", fmt.Sprint("e", i), true, n/2, "x")
				if err != nil {
					t.Error(err)
				}
				if p {
					mu.Lock()
					pauses++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		bs, err := s.Breakers(ctx)
		if err != nil || len(bs) != 1 {
			t.Fatalf("%+v %v", bs, err)
		}
		// Paused at n/2; later ones leave the paused count alone.
		if bs[0].Failures != n/2 || pauses != 1 {
			t.Errorf("failures %d (want %d), pauses %d (want 1)", bs[0].Failures, n/2, pauses)
		}
		// Without a pause every increment lands.
		for i := range n {
			wg.Go(func() {
				if _, _, err := s.RecordOutcome(ctx, "r2", "web1", "h", fmt.Sprint("f", i), true, 0, ""); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		bs, _ = s.Breakers(ctx)
		for _, b := range bs {
			if b.RuleName == "r2" && b.Failures != n {
				t.Errorf("r2: %d failures, want %d", b.Failures, n)
			}
		}
	})
}

// In a claim, Counter.Paused sees the pause of the rule's version and of
// its hosts; a pause of another version ends (the rule changed).
func TestBreakerPausedAtClaim(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		req := func(v string) []byte { return []byte(`{"rule":{"rule_name":"r1","v":"` + v + `"}}`) }
		h1 := RuleHash(req("1"))
		if h1 == "" || h1 == RuleHash(req("2")) || h1 != RuleHash([]byte(`{"rule":{"v":"1","rule_name":"r1"}}`)) {
			t.Fatalf("RuleHash: not a content hash")
		}
		if _, p, _ := s.RecordOutcome(ctx, "r1", "web2", h1, "e0", true, 1, "1 failure"); !p {
			t.Fatal("not paused")
		}
		claim := func(id, v string, entities ...string) (*Breaker, []Breaker) {
			t.Helper()
			x := newExec(id, id, "r1", entities...)
			x.Request = req(v)
			mustCreate(t, s, x)
			var paused *Breaker
			var resumed []Breaker
			got, err := s.Claim(ctx, "rep", time.Minute, func(ctx context.Context, cn Counter, x *Execution) (string, error) {
				var err error
				paused, resumed, err = cn.Paused(ctx, x.RuleName, RuleHash(x.Request), x.Entities)
				return "skip", err
			})
			if err != nil || got == nil || got.Status != Skipped {
				t.Fatalf("claim %s: %+v %v", id, got, err)
			}
			return paused, resumed
		}
		if p, r := claim("a", "1", "web1"); p != nil || len(r) != 0 {
			t.Errorf("another host: paused %+v resumed %+v", p, r)
		}
		if p, r := claim("b", "1", "web1", "web2"); p == nil || p.Entity != "web2" || len(r) != 0 {
			t.Errorf("the paused host: paused %+v resumed %+v", p, r)
		}
		if p, r := claim("c", "2", "web2"); p != nil || len(r) != 1 || r[0].ResumedBy != ResumedByRuleChange {
			t.Errorf("changed rule: paused %+v resumed %+v", p, r)
		}
		if n, _ := s.CountPaused(ctx); n != 0 {
			t.Errorf("still paused after the rule changed")
		}
	})
}

// An audit execution waits for no host and holds none, and the
// governor's counts leave it out even while it runs.
func TestAuditClaimHoldsNoHost(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("real", "a1", "r1", "h1"))
		if x, err := s.Claim(ctx, "rep", time.Minute, nil); err != nil || x == nil || x.ID != "real" {
			t.Fatalf("claim real: %+v %v", x, err)
		}
		// h1 is held by "real": an audit execution on it is claimed anyway.
		audit := newExec("audit", "a2", "r1", "h1")
		audit.Mode = Audit
		mustCreate(t, s, audit)
		x, err := s.Claim(ctx, "rep", time.Minute, func(ctx context.Context, cn Counter, x *Execution) (string, error) {
			return "governor: no", nil
		})
		if err != nil || x == nil || x.ID != "audit" || x.Status != Running || x.Reason != AuditVerdict("governor: no") {
			t.Fatalf("claim audit: %+v %v", x, err)
		}
		if got, _ := s.Get(ctx, "audit"); got.Reason != AuditVerdict("governor: no") || !AuditWouldSkip(got.Reason) {
			t.Errorf("stored reason %q", got.Reason)
		}
		// A third, real, execution on h1 waits for "real" only.
		mustCreate(t, s, newExec("next", "a3", "r1", "h1"))
		var counted int
		if x, err := s.Claim(ctx, "rep", time.Minute, nil); x != nil || err != nil {
			t.Fatalf("next claimed while real holds h1: %+v %v", x, err)
		}
		if err := s.Finish(ctx, "real", "rep", Success, ""); err != nil {
			t.Fatal(err)
		}
		x, err = s.Claim(ctx, "rep", time.Minute, func(ctx context.Context, cn Counter, x *Execution) (string, error) {
			n, _, err := cn.Started(ctx, "r1", "", c.Now().Add(-time.Hour), 0)
			m, _, _ := cn.Started(ctx, "r1", "h1", c.Now().Add(-time.Hour), 0)
			h, _ := cn.Hosts(ctx, c.Now().Add(-time.Hour), 0)
			counted = n*100 + m*10 + h
			return "", err
		})
		if err != nil || x == nil || x.ID != "next" {
			t.Fatalf("claim next: %+v %v", x, err)
		}
		// "real" counts (1 execution, 1 on h1, 1 host); the running audit one does not.
		if counted != 111 {
			t.Errorf("counts %d, want 111", counted)
		}
		// The audit execution ends without holding anything.
		if err := s.Finish(ctx, "audit", "rep", Audit, "done"); err != nil {
			t.Fatal(err)
		}
	})
}
