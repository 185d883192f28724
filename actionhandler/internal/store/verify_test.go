package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestVerificationLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("v1", "a1", "r", "h1", "h2"))
		mustCreate(t, s, newExec("v2", "a2", "r", "h3"))
		s.Claim(ctx, "me", time.Minute, nil)
		s.Claim(ctx, "me", time.Minute, nil)
		if err := s.FinishVerifying(ctx, "v1", "other", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("finish verifying by another owner: %v", err)
		}
		if err := s.FinishVerifying(ctx, "v1", "me", 0); err == nil {
			t.Error("finish verifying with after 0")
		}
		task := Step{TaskIndex: 0, Entity: "h1", TaskType: "remote_ssh", Action: "fix", Status: Success}
		if err := s.FinishVerifying(ctx, "v1", "me", 2*time.Minute, task); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishVerifying(ctx, "v2", "me", 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		finished := c.Now()
		x, _ := s.Get(ctx, "v1")
		if x.Status != Verifying || !x.VerifyAt.Equal(finished.Add(2*time.Minute)) || !x.VerifiedAt.IsZero() {
			t.Fatalf("after finish: status %s verify_at %v verified_at %v", x.Status, x.VerifyAt, x.VerifiedAt)
		}
		if Terminal(x.Status) {
			t.Error("verifying is terminal")
		}
		c.Add(5 * time.Minute)
		// Not claimed before its first write-back (Reported).
		if xs, err := s.ClaimVerifications(ctx, "me", time.Minute, 10); len(xs) != 0 || err != nil {
			t.Fatalf("claimed before reported: %d %v", len(xs), err)
		}
		s.Reported(ctx, "v1", "me")
		s.Reported(ctx, "v2", "me")
		s = open() // a restart keeps the timer
		var mu sync.Mutex
		var got []*Execution
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				xs, err := s.ClaimVerifications(ctx, "r"+string(rune('a'+i)), time.Minute, 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, xs...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(got) != 1 || got[0].ID != "v1" || len(got[0].Steps) != 1 || len(got[0].Entities) != 2 {
			t.Fatalf("claimed %+v, want v1 once with its steps", got)
		}
		holder := got[0].Owner
		// Its replica dies: due again once the lease ran out, to another.
		c.Add(59 * time.Second)
		if xs, _ := s.ClaimVerifications(ctx, "late", time.Minute, 10); len(xs) != 0 {
			t.Errorf("claimed again within the lease: %d", len(xs))
		}
		c.Add(2 * time.Second)
		if err := s.EndVerification(ctx, "v1", holder, Remediated, "ok"); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("end after the lease passed: %v", err)
		}
		xs, err := s.ClaimVerifications(ctx, "late", time.Minute, 10)
		if err != nil || len(xs) != 1 || xs[0].ID != "v1" || xs[0].Owner != "late" {
			t.Fatalf("after the lease: %+v %v, want v1 to late", xs, err)
		}
		if err := s.EndVerification(ctx, "v1", holder, Remediated, "ok"); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("end by the replica that lost it: %v", err)
		}
		if err := s.EndVerification(ctx, "v1", "late", Success, ""); err == nil {
			t.Error("end verification with status success")
		}
		if err := s.EndVerification(ctx, "v1", "late", Ineffective, "x", task); err == nil {
			t.Error("end verification with a task step")
		}
		vs := []Step{
			{TaskIndex: VerifyTaskIndex, Entity: "h1", TaskType: "remote_ssh", Action: "check", Status: Success},
			{TaskIndex: VerifyTaskIndex, Entity: "h2", TaskType: "remote_ssh", Action: "check", Status: Failure, ExitCode: 1},
		}
		if err := s.EndVerification(ctx, "v1", "late", Ineffective, "verify task failed on h2 (exit 1)", vs...); err != nil {
			t.Fatal(err)
		}
		if err := s.EndVerification(ctx, "v1", "late", Remediated, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("ended twice: %v", err)
		}
		x, _ = s.Get(ctx, "v1")
		if x.Status != Ineffective || x.VerifiedAt.IsZero() || !x.ReportedAt.IsZero() || x.Owner != "late" ||
			x.Reason != "verify task failed on h2 (exit 1)" {
			t.Fatalf("after end: %+v", x)
		}
		if len(x.Steps) != 3 || IsVerifyStep(x.Steps[0]) || !IsVerifyStep(x.Steps[1]) || x.Steps[2].Entity != "h2" {
			t.Fatalf("steps: task steps first, then verify steps by entity: %+v", x.Steps)
		}
		// The verdict is written back like any ended execution: Reported,
		// or taken over by Recover after its lease when late dies first.
		c.Add(2 * time.Minute)
		rs, err := s.Recover(ctx, "heir", time.Minute)
		if err != nil || len(rs) != 1 || rs[0].ID != "v1" || rs[0].Status != Ineffective {
			t.Fatalf("recover: %+v %v", rs, err)
		}
		if err := s.Reported(ctx, "v1", "heir"); err != nil {
			t.Fatal(err)
		}
		if xs, _ := s.ClaimVerifications(ctx, "me", time.Minute, 10); len(xs) != 0 {
			t.Errorf("claimed an ended verification: %d", len(xs))
		}
		// Listed by status; kept by Prune until verified.
		p, err := s.List(ctx, Filter{Status: Verifying})
		if err != nil || len(p.Executions) != 1 || p.Executions[0].ID != "v2" {
			t.Fatalf("list verifying: %+v %v", p, err)
		}
		if n, err := s.Prune(ctx, c.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("prune: %d %v, want v1 only", n, err)
		}
		if _, err := s.Get(ctx, "v2"); err != nil {
			t.Errorf("prune deleted the verifying execution: %v", err)
		}
	})
}

func TestRestartRetakesItsVerifications(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("v1", "a1", "r", "h1"))
		s.Claim(ctx, "me", time.Minute, nil)
		if err := s.FinishVerifying(ctx, "v1", "me", time.Minute); err != nil {
			t.Fatal(err)
		}
		s.Reported(ctx, "v1", "me")
		c.Add(time.Minute)
		if xs, _ := s.ClaimVerifications(ctx, "me", time.Hour, 10); len(xs) != 1 {
			t.Fatalf("claimed %d", len(xs))
		}
		// Another replica's restart leaves it alone; its own takes it back.
		s = open()
		if err := s.ExpireLeases(ctx, "other"); err != nil {
			t.Fatal(err)
		}
		if xs, _ := s.ClaimVerifications(ctx, "me", time.Hour, 10); len(xs) != 0 {
			t.Fatalf("claimed again after another owner's restart: %d", len(xs))
		}
		if err := s.ExpireLeases(ctx, "me"); err != nil {
			t.Fatal(err)
		}
		xs, err := s.ClaimVerifications(ctx, "me", time.Hour, 10)
		if err != nil || len(xs) != 1 {
			t.Fatalf("after its restart: %d %v", len(xs), err)
		}
		if err := s.EndVerification(ctx, "v1", "me", Remediated, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Reported(ctx, "v1", "me"); err != nil {
			t.Fatal(err)
		}
		if x, _ := s.Get(ctx, "v1"); x.Status != Remediated || x.ReportedAt.IsZero() || !Terminal(x.Status) {
			t.Fatalf("%+v", x)
		}
	})
}
