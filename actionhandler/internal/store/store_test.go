package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backends runs test against a fresh SQLite and a fresh PostgreSQL store:
// the conformance suite every back end must pass.
func backends(t *testing.T, test func(t *testing.T, open func() Store, c *clock)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		path := filepath.Join(t.TempDir(), "alexis.db")
		var cur *SQL
		open := func() Store {
			if cur != nil {
				cur.Close()
			}
			s, err := OpenSQLite(context.Background(), path, Options{Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			cur = s
			t.Cleanup(func() { s.Close() })
			return s
		}
		test(t, open, c)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		dsn := pgtest.DSN(t)
		open := func() Store {
			s, err := OpenPostgres(context.Background(), dsn, Options{Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		test(t, open, c)
	})
}

var ctx = context.Background()

func newExec(id, alertID, rule string, entities ...string) *Execution {
	return &Execution{ID: id, AlertID: alertID, UniqueValue: "u-" + alertID, FeedType: "OpsGenie", FeedName: "incoming",
		RuleName: rule, Client: "classifier", Request: []byte(`{"id":"` + alertID + `"}`), Entities: entities}
}

func mustCreate(t *testing.T, s Store, x *Execution) *Execution {
	t.Helper()
	got, created, err := s.Create(ctx, x, time.Hour)
	if err != nil || !created {
		t.Fatalf("create %s: created %v, err %v", x.ID, created, err)
	}
	return got
}

func TestCreateAndGet(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		got := mustCreate(t, s, newExec("e1", "a1", "r1", "app02", "app01"))
		if got.Status != Queued || !got.CreatedAt.Equal(c.Now()) {
			t.Errorf("created %+v", got)
		}
		x, err := s.Get(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		want := newExec("e1", "a1", "r1", "app02", "app01")
		if x.AlertID != want.AlertID || x.UniqueValue != want.UniqueValue || x.FeedType != want.FeedType ||
			x.FeedName != want.FeedName || x.RuleName != want.RuleName || x.Client != want.Client ||
			string(x.Request) != string(want.Request) || !slices.Equal(x.Entities, want.Entities) ||
			x.Status != Queued || !x.CreatedAt.Equal(c.Now()) || !x.StartedAt.IsZero() {
			t.Errorf("got %+v", x)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
		if n, err := s.CountQueued(ctx); n != 1 || err != nil {
			t.Errorf("queued %d %v", n, err)
		}
	})
}

// requested_by and adhoc are stored and read back by Get, List and Claim.
func TestProvenanceFields(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		x := newExec("e1", "a1", "r1", "app01")
		x.Client, x.RequestedBy, x.AdHoc = "alice", "alice", true
		mustCreate(t, s, x)
		y := newExec("e2", "a2", "r1", "app02")
		y.Client, y.RequestedBy = "classifier", "poller"
		mustCreate(t, s, y)
		want := map[string][2]any{"e1": {"alice", true}, "e2": {"poller", false}}
		check := func(how string, x *Execution) {
			t.Helper()
			if w := want[x.ID]; x.RequestedBy != w[0] || x.AdHoc != w[1] {
				t.Errorf("%s %s: requested_by=%q adhoc=%t, want %v", how, x.ID, x.RequestedBy, x.AdHoc, w)
			}
		}
		for id := range want {
			got, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			check("get", got)
		}
		page, err := s.List(ctx, Filter{})
		if err != nil || len(page.Executions) != 2 {
			t.Fatalf("list %+v %v", page, err)
		}
		for _, x := range page.Executions {
			check("list", x)
		}
		claimed, err := s.Claim(ctx, "rep", time.Minute, nil)
		if err != nil || claimed == nil {
			t.Fatalf("claim %v %v", claimed, err)
		}
		check("claim", claimed)
	})
}

func TestDedupWindow(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "r1", "h1"))
		for _, tc := range []struct {
			name    string
			advance time.Duration
			x       *Execution
			created bool
			wantID  string
		}{
			{name: "same alert and rule", x: newExec("e2", "a1", "r1", "h1"), wantID: "e1"},
			{name: "just inside the window", advance: 59 * time.Minute, x: newExec("e3", "a1", "r1", "h1"), wantID: "e1"},
			{name: "other rule", x: newExec("e4", "a1", "r2", "h1"), created: true, wantID: "e4"},
			{name: "other alert", x: newExec("e5", "a2", "r1", "h1"), created: true, wantID: "e5"},
			{name: "window over", advance: time.Minute, x: newExec("e6", "a1", "r1", "h1"), created: true, wantID: "e6"},
			{name: "new window counts from the new execution", advance: 30 * time.Minute, x: newExec("e7", "a1", "r1", "h1"), wantID: "e6"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c.Add(tc.advance)
				got, created, err := s.Create(ctx, tc.x, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if created != tc.created || got.ID != tc.wantID {
					t.Errorf("created %v id %s, want %v %s", created, got.ID, tc.created, tc.wantID)
				}
			})
		}
		other := newExec("e8", "a1", "r1", "h1")
		other.FeedType = "Dynatrace"
		if _, created, _ := s.Create(ctx, other, time.Hour); !created {
			t.Error("same alert id from another feed type deduplicated")
		}
	})
}

func TestConcurrentCreateMakesOne(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		const n = 16
		var wg sync.WaitGroup
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				got, cr, err := s.Create(ctx, newExec(fmt.Sprintf("e%d", i), "a1", "r1", "h1"), time.Hour)
				errs[i], created[i] = err, cr
				if got != nil {
					ids[i] = got.ID
				}
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			if created[i] {
				winners++
			}
			if ids[i] != ids[0] {
				t.Errorf("request %d got execution %s, request 0 got %s", i, ids[i], ids[0])
			}
		}
		if winners != 1 {
			t.Errorf("%d executions created, want 1", winners)
		}
		if p, _ := s.List(ctx, Filter{}); len(p.Executions) != 1 {
			t.Errorf("%d executions stored", len(p.Executions))
		}
	})
}

func TestClaimOrderAndLease(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		if x, err := s.Claim(ctx, "r1", time.Minute, nil); x != nil || err != nil {
			t.Fatalf("empty queue: %v %v", x, err)
		}
		mustCreate(t, s, newExec("e1", "a1", "r", "h1"))
		c.Add(time.Second)
		mustCreate(t, s, newExec("e2", "a2", "r", "h1"))
		x, err := s.Claim(ctx, "rep1", time.Minute, nil)
		if err != nil || x.ID != "e1" || x.Status != Running || x.Owner != "rep1" || !slices.Equal(x.Entities, []string{"h1"}) {
			t.Fatalf("claim: %+v %v", x, err)
		}
		if err := s.Renew(ctx, "e1", "rep2", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("renew by another owner: %v", err)
		}
		if err := s.Renew(ctx, "e1", "rep1", time.Minute); err != nil {
			t.Errorf("renew: %v", err)
		}
		if err := s.Reported(ctx, "e1", "rep1"); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("reported while running: %v", err)
		}
		if err := s.Finish(ctx, "e1", "rep2", Success, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("finish by another owner: %v", err)
		}
		if err := s.Finish(ctx, "e1", "rep1", Success, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Reported(ctx, "e1", "rep1"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, "e1")
		if got.Status != Success || got.Owner != "" || got.FinishedAt.IsZero() || got.ReportedAt.IsZero() || got.StartedAt.IsZero() {
			t.Errorf("after finish: %+v", got)
		}
		if x, _ := s.Claim(ctx, "rep1", time.Minute, nil); x == nil || x.ID != "e2" {
			t.Errorf("second claim: %+v", x)
		}
	})
}

func TestConcurrentClaimsTakeEachOnce(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		const execs, workers = 12, 6
		for i := range execs {
			mustCreate(t, s, newExec(fmt.Sprintf("e%02d", i), fmt.Sprintf("a%d", i), "r", fmt.Sprintf("h%d", i)))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for {
					x, err := s.Claim(ctx, fmt.Sprintf("w%d", w), time.Minute, nil)
					if err != nil {
						t.Error(err)
						return
					}
					if x == nil {
						return
					}
					mu.Lock()
					seen[x.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != execs {
			t.Errorf("claimed %d executions, want %d", len(seen), execs)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", id, n)
			}
		}
	})
}

func TestClaimOneExecutionPerHost(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "r", "web01", "web02"))
		c.Add(time.Second)
		mustCreate(t, s, newExec("e2", "a2", "r", "web02")) // waits for e1
		c.Add(time.Second)
		mustCreate(t, s, newExec("e3", "a3", "r", "web03"))
		c.Add(time.Second)
		mustCreate(t, s, newExec("e4", "a4", "r", "web03", "web04")) // waits for e3
		c.Add(time.Second)
		mustCreate(t, s, newExec("e5", "a5", "r")) // no entity: waits for nobody
		c.Add(time.Second)
		// Other spellings of hosts in use: the same host.
		mustCreate(t, s, newExec("e6", "a6", "r", "WEB03")) // waits for e3 (lower case)
		c.Add(time.Second)
		e7 := newExec("e7", "a7", "r", "db01", "web01.example.com")
		e7.Hosts = []string{"db01:22", "web01"} // as resolved: web01 is in use by e1
		mustCreate(t, s, e7)
		c.Add(time.Second)
		e8 := newExec("e8", "a8", "r", "db01")
		e8.Hosts = []string{"db01:2222"} // another port: another host than e7's db01:22
		mustCreate(t, s, e8)
		c.Add(time.Second)
		e9 := newExec("e9", "a9", "r", "DB01:2222")
		e9.Hosts = []string{"db01:2222"} // waits for e8
		mustCreate(t, s, e9)
		claim := func(want string) {
			t.Helper()
			x, err := s.Claim(ctx, "rep1", time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if x != nil {
				got = x.ID
			}
			if got != want {
				t.Fatalf("claimed %q, want %q", got, want)
			}
		}
		claim("e1")
		claim("e3")
		claim("e5")
		claim("e8")
		claim("") // e2, e4, e6, e7 and e9 wait for their hosts
		if err := s.Finish(ctx, "e3", "rep1", Failure, ""); err != nil {
			t.Fatal(err)
		}
		claim("e4")
		claim("")
		// A running execution of a dead replica holds its hosts until it is
		// recovered as interrupted.
		c.Add(2 * time.Minute)
		claim("")
		if _, err := s.Recover(ctx, "rep2", time.Minute); err != nil {
			t.Fatal(err)
		}
		claim("e2")
	})
}

// Replicas claiming at once never run two executions on one host.
func TestConcurrentClaimsOneExecutionPerHost(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		const execs, workers, hosts = 60, 6, 3
		first := open()
		for i := range execs {
			mustCreate(t, first, newExec(fmt.Sprintf("e%02d", i), fmt.Sprintf("a%d", i), "r", fmt.Sprintf("h%d", i%hosts)))
		}
		var mu sync.Mutex
		busy := map[string]string{} // host: execution running on it
		done := 0
		var wg sync.WaitGroup
		for w := range workers {
			// PostgreSQL: each worker its own store (connection pool), like
			// a replica. SQLite is one process only: its workers share one.
			st := first
			if w > 0 && first.(*SQL).Dialect() == "postgres" {
				st = open()
			}
			wg.Go(func() {
				owner := fmt.Sprintf("w%d", w)
				for {
					x, err := st.Claim(ctx, owner, time.Minute, nil)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if x == nil {
						finished := done == execs
						mu.Unlock()
						if finished {
							return
						}
						time.Sleep(time.Millisecond)
						continue
					}
					h := x.Entities[0]
					if other, ok := busy[h]; ok {
						t.Errorf("%s claimed on %s while %s runs there", x.ID, h, other)
					}
					busy[h] = x.ID
					mu.Unlock()
					time.Sleep(2 * time.Millisecond)
					mu.Lock()
					delete(busy, h)
					mu.Unlock()
					if err := st.Finish(ctx, x.ID, owner, Success, ""); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if done != execs {
			t.Errorf("finished %d executions, want %d", done, execs)
		}
	})
}

func TestAdmitAndCounts(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		start := c.Now()
		run := func(id, alertID, rule string, entities ...string) {
			t.Helper()
			mustCreate(t, s, newExec(id, alertID, rule, entities...))
			x, err := s.Claim(ctx, "rep", time.Minute, nil)
			if err != nil || x == nil || x.ID != id {
				t.Fatalf("claim %s: %+v %v", id, x, err)
			}
			if err := s.Finish(ctx, id, "rep", Success, ""); err != nil {
				t.Fatal(err)
			}
			c.Add(time.Minute)
		}
		run("e1", "a1", "restart", "h1", "h2")
		run("e2", "a2", "restart", "h1")
		run("e3", "a3", "other", "h3")
		// A skipped execution counts for nothing.
		mustCreate(t, s, newExec("e4", "a4", "restart", "h1"))
		x, err := s.Claim(ctx, "rep", time.Minute, func(ctx context.Context, cn Counter, x *Execution) (string, error) {
			n, last, err := cn.Started(ctx, "restart", "", start, 0)
			if n != 2 || !last.Equal(start.Add(time.Minute)) || err != nil {
				t.Errorf("rule count %d last %v err %v", n, last, err)
			}
			n, _, _ = cn.Started(ctx, "restart", "h2", start, 0)
			if n != 1 {
				t.Errorf("h2 count %d", n)
			}
			n, _, _ = cn.Started(ctx, "restart", "h1", start.Add(30*time.Second), 0)
			if n != 1 {
				t.Errorf("h1 count since +30s %d", n)
			}
			h, err := cn.Hosts(ctx, start, 0)
			if h != 4 || err != nil {
				t.Errorf("hosts %d %v", h, err)
			}
			// atMost bounds the counts; the latest start is still the latest.
			n, last, _ = cn.Started(ctx, "restart", "", start, 1)
			if n != 1 || !last.Equal(start.Add(time.Minute)) {
				t.Errorf("rule count at most 1: %d last %v", n, last)
			}
			if h, _ := cn.Hosts(ctx, start, 3); h != 3 {
				t.Errorf("hosts at most 3: %d", h)
			}
			return "too many", nil
		})
		if err != nil || x.Status != Skipped || x.Reason != "too many" {
			t.Fatalf("skip: %+v %v", x, err)
		}
		got, _ := s.Get(ctx, "e4")
		if got.Status != Skipped || got.Reason != "too many" || !got.StartedAt.IsZero() || got.FinishedAt.IsZero() {
			t.Errorf("stored skip: %+v", got)
		}
		mustCreate(t, s, newExec("e5", "a5", "restart", "h1"))
		s.Claim(ctx, "rep", time.Minute, func(ctx context.Context, cn Counter, x *Execution) (string, error) {
			if n, _, _ := cn.Started(ctx, "restart", "h1", start, 0); n != 2 {
				t.Errorf("skipped execution counted: %d", n)
			}
			return "", nil
		})
		if err := s.Reported(ctx, "e4", "rep"); err != nil {
			t.Errorf("report skipped: %v", err)
		}
	})
}

func TestStepsRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "r", "h2", "h1"))
		s.Claim(ctx, "rep", time.Minute, nil)
		t0 := c.Now()
		steps := []Step{
			{TaskIndex: 1, Entity: "h1", TaskType: "http", Action: "check", Command: "GET http://x", Status: Failure,
				ExitCode: -1, HTTPStatus: 503, Stdout: "down", Error: "HTTP 503", StartedAt: t0, FinishedAt: t0.Add(time.Second)},
			{TaskIndex: 0, Entity: "h1", TaskType: "remote_ssh", Action: "restart", Command: "systemctl restart x",
				Status: Running, ExitCode: -1, StartedAt: t0, RemotePID: 4321, RemoteStart: "987654"},
			{TaskIndex: 0, Entity: "h2", TaskType: "remote_ssh", Action: "restart", Command: "systemctl restart x",
				Status: Success, ExitCode: 0, Stdout: "ok\n", Stderr: "warn\n", Truncated: true, StartedAt: t0, FinishedAt: t0.Add(2 * time.Second)},
		}
		for _, st := range steps {
			if err := s.SaveStep(ctx, "e1", st); err != nil {
				t.Fatal(err)
			}
		}
		// Update the running step.
		steps[1].Status, steps[1].ExitCode, steps[1].FinishedAt = Success, 0, t0.Add(time.Second)
		if err := s.SaveStep(ctx, "e1", steps[1]); err != nil {
			t.Fatal(err)
		}
		x, err := s.Get(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		want := []Step{steps[2], steps[1], steps[0]} // task order, then entity order
		if len(x.Steps) != len(want) {
			t.Fatalf("steps %+v", x.Steps)
		}
		for i := range want {
			g, w := x.Steps[i], want[i]
			if g.TaskIndex != w.TaskIndex || g.Entity != w.Entity || g.Status != w.Status || g.ExitCode != w.ExitCode ||
				g.HTTPStatus != w.HTTPStatus || g.Stdout != w.Stdout || g.Stderr != w.Stderr || g.Truncated != w.Truncated ||
				g.Error != w.Error || g.Command != w.Command || g.TaskType != w.TaskType || g.Action != w.Action ||
				!g.StartedAt.Equal(w.StartedAt) || !g.FinishedAt.Equal(w.FinishedAt) ||
				g.RemotePID != w.RemotePID || g.RemoteStart != w.RemoteStart {
				t.Errorf("step %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
		if err := s.SaveStep(ctx, "e1", Step{Entity: "h9"}); err == nil {
			t.Error("step for an entity the execution does not have was saved")
		}
	})
}

func TestRecover(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("run", "a1", "r", "h1"))
		c.Add(time.Millisecond)
		mustCreate(t, s, newExec("done", "a2", "r", "h2"))
		c.Add(time.Millisecond)
		mustCreate(t, s, newExec("queued", "a3", "r", "h1"))
		s.Claim(ctx, "dead", time.Minute, nil)
		s.Claim(ctx, "dead", time.Minute, nil)
		s.SaveStep(ctx, "run", Step{TaskIndex: 0, Entity: "h1", Status: Running, ExitCode: -1, StartedAt: c.Now()})
		if err := s.Finish(ctx, "done", "dead", Failure, ""); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Recover(ctx, "alive", time.Minute); len(got) != 0 || err != nil {
			t.Fatalf("recovered live leases: %d %v", len(got), err)
		}
		c.Add(2 * time.Minute)
		var mu sync.Mutex
		var got []*Execution
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				xs, err := s.Recover(ctx, fmt.Sprintf("alive%d", i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, xs...)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.SortFunc(got, func(a, b *Execution) int { return strings.Compare(a.ID, b.ID) })
		if len(got) != 2 || got[0].ID != "done" || got[1].ID != "run" {
			for _, x := range got {
				t.Logf("recovered %s %s", x.ID, x.Status)
			}
			t.Fatalf("recovered %d executions, want done and run, each once", len(got))
		}
		if got[0].Status != Failure || got[1].Status != Interrupted || !strings.Contains(got[1].Reason, "(dead)") {
			t.Errorf("statuses %s %s %q", got[0].Status, got[1].Status, got[1].Reason)
		}
		if len(got[1].Steps) != 1 || got[1].Steps[0].Status != Interrupted || got[1].Steps[0].FinishedAt.IsZero() {
			t.Errorf("steps of the interrupted execution: %+v", got[1].Steps)
		}
		owner := got[1].Owner
		if err := s.Reported(ctx, "run", owner); err != nil {
			t.Errorf("reported by the recovering replica: %v", err)
		}
		if q, _ := s.Get(ctx, "queued"); q.Status != Queued {
			t.Errorf("queued execution touched: %s", q.Status)
		}
		if xs, _ := s.Recover(ctx, "x", time.Minute); len(xs) != 0 {
			t.Errorf("recovered again: %d", len(xs))
		}
	})
}

func TestExpireLeases(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("mine", "a1", "r", "h1"))
		mustCreate(t, s, newExec("theirs", "a2", "r", "h2"))
		s.Claim(ctx, "me", time.Hour, nil)
		s.Claim(ctx, "them", time.Hour, nil)
		if err := s.ExpireLeases(ctx, "me"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Recover(ctx, "me", time.Minute)
		if len(got) != 1 || got[0].ID != "mine" || got[0].Status != Interrupted {
			t.Fatalf("recovered %+v", got)
		}
		s.Reported(ctx, "mine", "me")
		s.ExpireLeases(ctx, "")
		if got, _ := s.Recover(ctx, "me", time.Minute); len(got) != 1 || got[0].ID != "theirs" {
			t.Fatalf("after expiring all: %+v", got)
		}
	})
}

func TestList(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		t0 := c.Now()
		for i := range 7 {
			ent := "h1"
			if i%2 == 1 {
				ent = "h2"
			}
			rule := "restart"
			if i >= 5 {
				rule = "check"
			}
			// Window 0: the same alert and rule may run again at once.
			if _, created, err := s.Create(ctx, newExec(fmt.Sprintf("e%d", i), fmt.Sprintf("a%d", i%3), rule, ent), 0); !created || err != nil {
				t.Fatalf("create e%d: %v %v", i, created, err)
			}
			if i < 2 {
				c.Add(time.Second) // e2..e6 share a creation time: ties are ordered by id
			}
		}
		s.Claim(ctx, "rep", time.Minute, nil) // e0 running
		ids := func(p Page) []string {
			var out []string
			for _, x := range p.Executions {
				out = append(out, x.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    Filter
			want []string
		}{
			{name: "all newest first", f: Filter{}, want: []string{"e6", "e5", "e4", "e3", "e2", "e1", "e0"}},
			{name: "alert", f: Filter{AlertID: "a1"}, want: []string{"e4", "e1"}},
			{name: "rule", f: Filter{RuleName: "check"}, want: []string{"e6", "e5"}},
			{name: "entity", f: Filter{Entity: "h2"}, want: []string{"e5", "e3", "e1"}},
			{name: "status", f: Filter{Status: Running}, want: []string{"e0"}},
			{name: "since", f: Filter{Since: t0.Add(time.Second)}, want: []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
			{name: "until", f: Filter{Until: t0.Add(time.Second)}, want: []string{"e0"}},
			{name: "combined", f: Filter{RuleName: "restart", Entity: "h1"}, want: []string{"e4", "e2", "e0"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(p); !slices.Equal(got, tc.want) || p.Next != "" {
					t.Errorf("got %v next %q, want %v", got, p.Next, tc.want)
				}
			})
		}
		// Pages of 3 cover everything once, in order, across equal timestamps.
		var all []string
		f := Filter{Limit: 3}
		for range 10 {
			p, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ids(p)...)
			if p.Next == "" {
				break
			}
			f.Cursor = p.Next
		}
		if want := []string{"e6", "e5", "e4", "e3", "e2", "e1", "e0"}; !slices.Equal(all, want) {
			t.Errorf("paged %v", all)
		}
		if _, err := s.List(ctx, Filter{Cursor: "!!"}); !errors.Is(err, ErrCursor) {
			t.Errorf("bad cursor: %v", err)
		}
		p, _ := s.List(ctx, Filter{AlertID: "a0", Limit: 1})
		if len(p.Executions) != 1 || !slices.Equal(p.Executions[0].Entities, []string{"h1"}) {
			t.Errorf("entities in list: %+v", p.Executions[0])
		}
	})
}

func TestPrune(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("old", "a1", "r", "h1"))
		mustCreate(t, s, newExec("oldqueued", "a2", "r", "h1"))
		x, _ := s.Claim(ctx, "rep", time.Minute, nil)
		s.SaveStep(ctx, x.ID, Step{Entity: "h1", Status: Success})
		s.Finish(ctx, x.ID, "rep", Success, "")
		s.Reported(ctx, x.ID, "rep")
		c.Add(48 * time.Hour)
		mustCreate(t, s, newExec("new", "a3", "r", "h1"))
		n, err := s.Prune(ctx, c.Now().Add(-24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d %v", n, err)
		}
		if _, err := s.Get(ctx, "old"); !errors.Is(err, ErrNotFound) {
			t.Errorf("old still there: %v", err)
		}
		for _, id := range []string{"oldqueued", "new"} {
			if _, err := s.Get(ctx, id); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
		// The pruned dedup key no longer blocks the alert.
		if _, created, _ := s.Create(ctx, newExec("again", "a1", "r", "h1"), 1000*time.Hour); !created {
			t.Error("dedup key of a pruned execution still there")
		}
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "r", "h1"))
		s = open()
		if x, err := s.Get(ctx, "e1"); err != nil || x.Status != Queued {
			t.Fatalf("after reopen: %+v %v", x, err)
		}
		db := s.(*SQL)
		if _, err := db.db.ExecContext(ctx, db.q(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`), SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		err := migrate(ctx, db.db, db.d)
		if err == nil || !strings.Contains(err.Error(), "newer than this action handler") {
			t.Errorf("newer schema: %v", err)
		}
	})
}

func TestSQLiteOneProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLite(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second open: %v", err)
	}
	s.Close()
	s2, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

func TestPostgresBadDSNHidesPassword(t *testing.T) {
	_, err := OpenPostgres(ctx, "postgres://u:hunter2secret@127.0.0.1:1/db?connect_timeout=1", Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("err %v", err)
	}
}

func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(1740830400123000, "4f0c9a"))
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, c string) {
		at, id, err := decodeCursor(c)
		if err != nil {
			return
		}
		if at2, id2, err := decodeCursor(encodeCursor(at, id)); err != nil || at2 != at || id2 != id {
			t.Fatalf("round trip of %q: %d %q %v", c, at2, id2, err)
		}
	})
}

func TestEscalations(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("esc", "a1", "r", "h1"))
		mustCreate(t, s, newExec("plain", "a2", "r", "h2"))
		s.Claim(ctx, "me", time.Minute, nil)
		s.Claim(ctx, "me", time.Minute, nil)
		if err := s.ScheduleEscalation(ctx, "esc", "me", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("scheduled a running execution: %v", err)
		}
		for _, id := range []string{"esc", "plain"} {
			if err := s.Finish(ctx, id, "me", Success, ""); err != nil {
				t.Fatal(err)
			}
		}
		finished := c.Now()
		if err := s.ScheduleEscalation(ctx, "esc", "other", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("scheduled by another owner: %v", err)
		}
		if err := s.ScheduleEscalation(ctx, "esc", "me", 20*time.Minute); err != nil {
			t.Fatal(err)
		}
		s.Reported(ctx, "esc", "me")
		s.Reported(ctx, "plain", "me")
		if x, _ := s.Get(ctx, "esc"); !x.EscalateAt.Equal(finished.Add(20*time.Minute)) || !x.EscalatedAt.IsZero() {
			t.Errorf("escalate_at %v escalated_at %v", x.EscalateAt, x.EscalatedAt)
		}
		c.Add(19 * time.Minute)
		if xs, err := s.ClaimEscalations(ctx, time.Minute, 10); len(xs) != 0 || err != nil {
			t.Fatalf("claimed before due: %d %v", len(xs), err)
		}
		c.Add(2 * time.Minute)
		s = open() // a restart keeps the timer
		var mu sync.Mutex
		var got []*Execution
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				xs, err := s.ClaimEscalations(ctx, time.Minute, 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, xs...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(got) != 1 || got[0].ID != "esc" || got[0].AlertID != "a1" || !got[0].EscalatedAt.IsZero() {
			t.Fatalf("claimed %+v, want esc once", got)
		}
		// Its replica dies before it is done: due again once the lease ran out.
		c.Add(59 * time.Second)
		if xs, _ := s.ClaimEscalations(ctx, time.Minute, 10); len(xs) != 0 {
			t.Errorf("claimed again within the lease: %d", len(xs))
		}
		c.Add(2 * time.Second)
		xs, err := open().ClaimEscalations(ctx, time.Minute, 10)
		if err != nil || len(xs) != 1 || xs[0].ID != "esc" {
			t.Fatalf("after the lease: %d %v, want esc again", len(xs), err)
		}
		s = open()
		if err := s.EscalationDone(ctx, "esc"); err != nil {
			t.Fatal(err)
		}
		if x, _ := s.Get(ctx, "esc"); x.EscalatedAt.IsZero() {
			t.Error("escalated_at not set when done")
		}
		if err := s.EscalationDone(ctx, "plain"); err == nil {
			t.Error("done for an execution without escalation")
		}
		c.Add(time.Hour)
		if xs, _ := open().ClaimEscalations(ctx, time.Minute, 10); len(xs) != 0 {
			t.Errorf("claimed again after done: %d", len(xs))
		}
	})
}

func TestWritebackRetries(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("x1", "a1", "r", "h1"))
		start := c.Now()
		ws := []Writeback{
			{ID: "w-late", ExecutionID: "x1", FeedType: "OpsGenie", FeedName: "incoming", AlertID: "a1",
				Op: []byte(`{"op":"note","value":"late"}`), Attempts: 1, LastError: "status 503", NextAt: start.Add(time.Minute)},
			{ID: "w-soon", ExecutionID: "x1", FeedType: "OpsGenie", FeedName: "incoming", AlertID: "a1",
				Op: []byte(`{"op":"add_team","value":"ops"}`), Attempts: 1, LastError: "status 500", NextAt: start.Add(30 * time.Second)},
		}
		if err := s.QueueWritebacks(ctx, ws); err != nil {
			t.Fatal(err)
		}
		claim := func(owner string, want ...string) []Writeback {
			t.Helper()
			got, err := s.ClaimWritebacks(ctx, owner, time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, w := range got {
				ids = append(ids, w.ID)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("%s claimed %q, want %q", owner, ids, want)
			}
			return got
		}
		claim("rep1") // none due yet
		if x, err := s.Get(ctx, "x1"); err != nil || len(x.Writebacks) != 2 || x.Writebacks[0].ID != "w-late" ||
			x.Writebacks[0].LastError != "status 503" || !x.Writebacks[1].NextAt.Equal(start.Add(30*time.Second)) {
			t.Fatalf("get: %+v %v", x, err)
		}
		c.Add(time.Minute)
		got := claim("rep1", "w-soon", "w-late")
		if w := got[1]; string(w.Op) != `{"op":"note","value":"late"}` || w.Attempts != 1 || w.LastError != "status 503" ||
			w.AlertID != "a1" || w.FeedName != "incoming" || w.Owner != "rep1" || !w.CreatedAt.Equal(start) {
			t.Errorf("claimed %+v", w)
		}
		claim("rep2") // leased to rep1
		if err := s.EndWriteback(ctx, "w-soon", "rep2", time.Time{}, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("end by another owner: %v", err)
		}
		if err := s.EndWriteback(ctx, "w-soon", "rep1", time.Time{}, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.EndWriteback(ctx, "w-late", "rep1", c.Now().Add(2*time.Minute), "status 502"); err != nil {
			t.Fatal(err)
		}
		if x, _ := s.Get(ctx, "x1"); len(x.Writebacks) != 1 || x.Writebacks[0].Attempts != 2 {
			t.Errorf("after one done and one retried: %+v", x.Writebacks)
		}
		c.Add(time.Minute)
		claim("rep2")
		c.Add(time.Minute)
		got = claim("rep2", "w-late")
		if got[0].Attempts != 2 || got[0].LastError != "status 502" {
			t.Errorf("after a retry: %+v", got[0])
		}
		// rep2 dies while trying: once its lease expired another takes it.
		c.Add(30 * time.Second)
		claim("rep3")
		c.Add(31 * time.Second)
		claim("rep3", "w-late")
		if err := s.EndWriteback(ctx, "w-late", "rep2", time.Time{}, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("end by the replica whose lease expired: %v", err)
		}
	})
}

// The SQLite store holds alert payloads and command output: the database
// and its -wal, -shm and lock files are 0600 whatever the umask, and an
// existing database created wider is narrowed when opened.
func TestSQLiteFileModes(t *testing.T) {
	old := syscall.Umask(0) // the worst case: nothing narrows what is created
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name     string
		existing os.FileMode // 0: no file before
	}{
		{"new database", 0},
		{"existing 0644 database", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state", "ah.db")
			if tc.existing != 0 {
				st, err := OpenSQLite(context.Background(), path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					os.Chmod(p, tc.existing)
				}
			}
			st, err := OpenSQLite(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// A write puts data in the WAL and creates -shm.
			if _, _, err := st.Create(context.Background(), &Execution{ID: "m1", AlertID: "a", UniqueValue: "1",
				FeedType: "OpsGenie", RuleName: "r", Request: []byte(`{}`), Entities: []string{"h"}}, time.Hour); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(p), err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
				}
			}
		})
	}
}

// Finish records the last steps' results with the status in one
// transaction: by the owner only, and nothing of it when a step cannot be
// recorded.
func TestFinishWithSteps(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("e1", "a1", "r", "h1", "h2"))
		if x, err := s.Claim(ctx, "rep", time.Minute, nil); err != nil || x == nil {
			t.Fatalf("claim: %v %v", x, err)
		}
		t0 := c.Now()
		running := Step{TaskIndex: 0, Entity: "h1", TaskType: "remote_ssh", Action: "restart", Command: "systemctl restart x",
			Status: Running, ExitCode: -1, StartedAt: t0, RemotePID: 77, RemoteStart: "123"}
		if err := s.SaveStep(ctx, "e1", running); err != nil {
			t.Fatal(err)
		}
		done := running
		done.Status, done.ExitCode, done.Stdout, done.FinishedAt = Success, 0, "ok\n", t0.Add(time.Second)
		skipped := Step{TaskIndex: 0, Entity: "h2", TaskType: "remote_ssh", Action: "restart", Status: Skipped, ExitCode: -1,
			Error: "an earlier task failed"}
		if err := s.Finish(ctx, "e1", "other", Success, "", done, skipped); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("finish by another owner: %v", err)
		}
		if x, _ := s.Get(ctx, "e1"); len(x.Steps) != 1 || x.Steps[0].Status != Running || x.Status != Running {
			t.Fatalf("another owner's finish wrote: %+v", x)
		}
		if err := s.Finish(ctx, "e1", "rep", Success, "", done, Step{TaskIndex: 0, Entity: "h9"}); err == nil {
			t.Fatal("finish with a step for an entity the execution does not have succeeded")
		}
		if x, _ := s.Get(ctx, "e1"); len(x.Steps) != 1 || x.Steps[0].Status != Running || x.Status != Running {
			t.Fatalf("failed finish left part of it: %+v", x)
		}
		if err := s.Finish(ctx, "e1", "rep", Success, "", done, skipped); err != nil {
			t.Fatal(err)
		}
		x, err := s.Get(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != Success || len(x.Steps) != 2 {
			t.Fatalf("after finish: %+v", x)
		}
		g := x.Steps[0]
		if g.Status != Success || g.Stdout != "ok\n" || g.RemotePID != 77 || !g.FinishedAt.Equal(done.FinishedAt) ||
			x.Steps[1].Status != Skipped || x.Steps[1].Entity != "h2" {
			t.Errorf("steps %+v", x.Steps)
		}
	})
}
