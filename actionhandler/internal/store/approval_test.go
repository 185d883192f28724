package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func awaiting(id, alertID string, expires time.Time, entities ...string) *Execution {
	x := newExec(id, alertID, "r", entities...)
	x.ApprovalExpiresAt = expires
	return x
}

func note(x *Execution, id, text string) Writeback {
	return Writeback{ID: id, ExecutionID: x.ID, FeedType: x.FeedType, FeedName: x.FeedName, AlertID: x.AlertID,
		Op: []byte(`{"kind":"note","value":"` + text + `"}`), NextAt: time.Unix(0, 0)}
}

// An execution awaiting approval is not claimable and holds no host; a
// duplicate joins it; the note queued with it is due at once; approved,
// it queues and waits for its hosts like any other.
func TestApprovalCreateApproveClaim(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		exp := c.Now().Add(30 * time.Minute)
		x := awaiting("e1", "a1", exp, "web01")
		x.Writebacks = []Writeback{note(x, "w1", "waits")}
		got := mustCreate(t, s, x)
		if got.Status != AwaitingApproval || !got.ApprovalExpiresAt.Equal(exp) {
			t.Fatalf("created %+v", got)
		}
		if n, _ := s.CountAwaitingApproval(ctx); n != 1 {
			t.Fatalf("awaiting %d", n)
		}
		if n, _ := s.CountQueued(ctx); n != 0 {
			t.Fatalf("queued %d", n)
		}
		// Another execution on the same host is not held up by it.
		c.Add(time.Second)
		mustCreate(t, s, newExec("e2", "a2", "r", "web01"))
		if y, err := s.Claim(ctx, "rep1", time.Minute, nil); err != nil || y == nil || y.ID != "e2" {
			t.Fatalf("claim %+v %v", y, err)
		}
		if y, err := s.Claim(ctx, "rep1", time.Minute, nil); err != nil || y != nil {
			t.Fatalf("the waiting one was claimed: %+v %v", y, err)
		}
		// A duplicate alert joins the waiting execution.
		dup, created, err := s.Create(ctx, awaiting("e3", "a1", exp, "web01"), time.Hour)
		if err != nil || created || dup.ID != "e1" || dup.Status != AwaitingApproval {
			t.Fatalf("duplicate %+v %v %v", dup, created, err)
		}
		// Recover and ExpireLeases leave it alone.
		if err := s.ExpireLeases(ctx, ""); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Minute)
		if xs, err := s.Recover(ctx, "rep2", time.Minute); err != nil || len(xs) != 1 || xs[0].ID != "e2" {
			t.Fatalf("recover %v %v", xs, err)
		}
		ws, err := s.ClaimWritebacks(ctx, "rep1", time.Minute, 10)
		if err != nil || len(ws) != 1 || ws[0].ID != "w1" || ws[0].ExecutionID != "e1" {
			t.Fatalf("the note is not due: %+v %v", ws, err)
		}
		// Approved while e2 holds web01 (recovered, not yet finished: it
		// was interrupted and released its host); claimable.
		a, err := s.Approve(ctx, "e1", "alice", "looks right", note(x, "w2", "approved"))
		if err != nil || a.Status != Queued || a.DecidedBy != "alice" || a.DecisionReason != "looks right" || a.DecidedAt.IsZero() {
			t.Fatalf("approve %+v %v", a, err)
		}
		g, _ := s.Get(ctx, "e1")
		if g.DecidedBy != "alice" || len(g.Writebacks) != 2 {
			t.Fatalf("get %+v", g)
		}
		var ae *ApprovalError
		if _, err := s.Approve(ctx, "e1", "bob", "again"); !errors.As(err, &ae) || ae.Status != Queued || ae.Expired {
			t.Fatalf("second approve: %v", err)
		}
		if _, err := s.Deny(ctx, "e1", "bob", "no"); !errors.As(err, &ae) || ae.Status != Queued {
			t.Fatalf("deny after approve: %v", err)
		}
		if _, err := s.Approve(ctx, "nope", "bob", "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		y, err := s.Claim(ctx, "rep1", time.Minute, nil)
		if err != nil || y == nil || y.ID != "e1" || y.Status != Running {
			t.Fatalf("claim approved %+v %v", y, err)
		}
		// It holds web01 now: another execution there waits.
		mustCreate(t, s, newExec("e4", "a4", "r", "web01"))
		if y, _ := s.Claim(ctx, "rep1", time.Minute, nil); y != nil {
			t.Fatalf("claimed %s while e1 holds web01", y.ID)
		}
		if err := s.Finish(ctx, "e1", "rep1", Success, ""); err != nil {
			t.Fatal(err)
		}
		if y, _ := s.Claim(ctx, "rep1", time.Minute, nil); y == nil || y.ID != "e4" {
			t.Fatalf("e4 after e1: %+v", y)
		}
	})
}

// Approved while another execution holds its host: it waits for it.
func TestApprovalWaitsForBusyHost(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		mustCreate(t, s, awaiting("e1", "a1", c.Now().Add(time.Hour), "web01"))
		mustCreate(t, s, newExec("e2", "a2", "r", "web01"))
		if y, _ := s.Claim(ctx, "rep1", time.Minute, nil); y == nil || y.ID != "e2" {
			t.Fatalf("claim %+v", y)
		}
		if _, err := s.Approve(ctx, "e1", "alice", "ok"); err != nil {
			t.Fatal(err)
		}
		if y, _ := s.Claim(ctx, "rep1", time.Minute, nil); y != nil {
			t.Fatalf("claimed %s while e2 holds web01", y.ID)
		}
		if err := s.Finish(ctx, "e2", "rep1", Success, ""); err != nil {
			t.Fatal(err)
		}
		if y, _ := s.Claim(ctx, "rep1", time.Minute, nil); y == nil || y.ID != "e1" {
			t.Fatalf("claim after release %+v", y)
		}
	})
}

func TestApprovalDenyAndExpire(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		mustCreate(t, s, awaiting("e1", "a1", c.Now().Add(10*time.Minute), "web01"))
		mustCreate(t, s, awaiting("e2", "a2", c.Now().Add(20*time.Minute), "web02"))
		mustCreate(t, s, awaiting("e3", "a3", c.Now().Add(time.Hour), "web03"))
		x1, _ := s.Get(ctx, "e1")
		d, err := s.Deny(ctx, "e1", "bob", "not now", note(x1, "w1", "denied"))
		if err != nil || d.Status != Denied || d.DecidedBy != "bob" || d.FinishedAt.IsZero() || d.ReportedAt.IsZero() ||
			d.Reason != "denied by bob: not now" {
			t.Fatalf("deny %+v %v", d, err)
		}
		var ae *ApprovalError
		if _, err := s.Approve(ctx, "e1", "alice", "x"); !errors.As(err, &ae) || ae.Status != Denied {
			t.Fatalf("approve denied: %v", err)
		}
		// Nothing due yet.
		if xs, err := s.ExpireApprovals(ctx, 10, nil); err != nil || len(xs) != 0 {
			t.Fatalf("early expiry %v %v", xs, err)
		}
		c.Add(25 * time.Minute)
		// Due but not yet swept: refused as expired.
		if _, err := s.Approve(ctx, "e2", "alice", "late"); !errors.As(err, &ae) || !ae.Expired {
			t.Fatalf("late approve: %v", err)
		}
		xs, err := s.ExpireApprovals(ctx, 10, func(x *Execution) []Writeback {
			return []Writeback{note(x, "w-"+x.ID, "expired")}
		})
		if err != nil || len(xs) != 1 || xs[0].ID != "e2" || xs[0].Status != Expired || xs[0].Reason != ExpiredReason ||
			xs[0].ReportedAt.IsZero() {
			t.Fatalf("expire %+v %v", xs, err)
		}
		if g, _ := s.Get(ctx, "e2"); len(g.Writebacks) != 1 || g.Status != Expired {
			t.Fatalf("expired %+v", g)
		}
		if _, err := s.Deny(ctx, "e2", "bob", "x"); !errors.As(err, &ae) || !ae.Expired || ae.Status != Expired {
			t.Fatalf("deny expired: %v", err)
		}
		if xs, _ := s.ExpireApprovals(ctx, 10, nil); len(xs) != 0 {
			t.Fatalf("expired twice: %v", xs)
		}
		if n, _ := s.CountAwaitingApproval(ctx); n != 1 {
			t.Fatalf("awaiting %d", n)
		}
		// Reported: pruned like any other.
		if n, err := s.Prune(ctx, c.Now().Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("prune %d %v", n, err)
		}
	})
}

// Two replicas approving (or one approving, one denying) at once:
// exactly one wins; expiry sweeps racing expire each once.
func TestApprovalRaces(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s1 := open().(*SQL)
		s2 := s1
		if s1.Dialect() == "postgres" {
			s2 = open().(*SQL)
		}
		const n = 8
		for i := range n {
			id := string(rune('a' + i))
			mustCreate(t, s1, awaiting(id, "alert-"+id, c.Now().Add(time.Minute), "web-"+id))
		}
		var mu sync.Mutex
		wins, conflicts := map[string]int{}, 0
		var wg sync.WaitGroup
		for i := range n {
			id := string(rune('a' + i))
			for j, s := range []*SQL{s1, s2} {
				wg.Go(func() {
					var err error
					if j == 0 {
						_, err = s.Approve(ctx, id, "alice", "ok")
					} else {
						_, err = s.Deny(ctx, id, "bob", "no")
					}
					mu.Lock()
					defer mu.Unlock()
					var ae *ApprovalError
					switch {
					case err == nil:
						wins[id]++
					case errors.As(err, &ae):
						conflicts++
					default:
						t.Errorf("%s: %v", id, err)
					}
				})
			}
		}
		wg.Wait()
		if len(wins) != n || conflicts != n {
			t.Fatalf("wins %v conflicts %d", wins, conflicts)
		}
		for id, w := range wins {
			if w != 1 {
				t.Fatalf("%s decided %d times", id, w)
			}
		}
		for i := range n {
			id := string(rune('A' + i))
			mustCreate(t, s1, awaiting(id, "alert-"+id, c.Now().Add(time.Minute), "host-"+id))
		}
		c.Add(2 * time.Minute)
		got := map[string]int{}
		for _, s := range []*SQL{s1, s2} {
			wg.Go(func() {
				for {
					xs, err := s.ExpireApprovals(ctx, 3, nil)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, x := range xs {
						got[x.ID]++
					}
					mu.Unlock()
					if len(xs) == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(got) != n {
			t.Fatalf("expired %v", got)
		}
		for id, k := range got {
			if k != 1 {
				t.Fatalf("%s expired %d times", id, k)
			}
		}
	})
}
