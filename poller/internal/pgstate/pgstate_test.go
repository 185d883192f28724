package pgstate

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/state"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a store named holder on dsn with a short lease.
func open(t *testing.T, dsn, holder string, logs *logtest.Buffer) *Store {
	t.Helper()
	o := Options{Holder: holder, Lease: time.Second, RenewInterval: 200 * time.Millisecond, Timeout: 10 * time.Second}
	if logs != nil {
		o.Log = logging.New(logs, "poller", logging.Options{Format: "logfmt", Level: "debug"})
	}
	s, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a hang guard, not a speed check
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func entry(uv string) state.Entry {
	return state.Entry{UniqueValue: uv, DeliveredAt: time.Now().UTC().Truncate(time.Microsecond), Result: "matched"}
}

// expire ends the lease in the database, as if its holder had stopped
// renewing long ago (a paused or partitioned replica).
func expire(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE poller_leader SET lease_until = clock_timestamp() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseOneHolder(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, "a", nil), open(t, dsn, "b", nil)
	ctx := context.Background()

	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a acquire a free lease: %v %v", ok, err)
	}
	if ok, err := b.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("b acquired a lease a holds: %v %v", ok, err)
	}
	if holder, valid, err := b.Current(ctx); holder != "a" || !valid || err != nil {
		t.Errorf("current: %q %v %v", holder, valid, err)
	}
	if ok, err := a.Renew(ctx); !ok || err != nil {
		t.Fatalf("a renew: %v %v", ok, err)
	}
	if ok, err := b.Renew(ctx); ok || err != nil {
		t.Fatalf("b renewed a's lease: %v %v", ok, err)
	}
	if !a.Held() || b.Held() {
		t.Errorf("held: a %v b %v", a.Held(), b.Held())
	}
	// b may not write while a holds the lease.
	if err := b.Commit(ctx, "incoming", "x", entry("1")); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("b commit under a's lease: %v", err)
	}
	if _, err := b.Retain(ctx, "incoming", nil); err != nil {
		t.Errorf("retain with nothing to forget: %v", err)
	}

	// The lease expires unrenewed: b takes it (by the database's clock).
	waitFor(t, "a's lease to expire", func() bool {
		ok, err := b.TryAcquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if ok, err := a.Renew(ctx); ok || err != nil {
		t.Errorf("a renewed after b took over: %v %v", ok, err)
	}
	if err := a.Commit(ctx, "incoming", "y", entry("2")); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a commit after b took over: %v", err)
	}
	if err := b.Commit(ctx, "incoming", "z", entry("3")); err != nil {
		t.Errorf("b commit: %v", err)
	}
	// Release lets a take over at once.
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a acquire after release: %v %v", ok, err)
	}
	if err := b.Commit(ctx, "incoming", "w", entry("4")); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("b commit after release: %v", err)
	}
	if err := a.load(ctx, []string{"incoming"}, a.o.Log); err != nil {
		t.Fatal(err)
	}
	if !a.Delivered("incoming", "z") || a.Delivered("incoming", "x") || a.Delivered("incoming", "y") || a.Delivered("incoming", "w") {
		t.Errorf("state after the fenced writes: %v", a.feeds)
	}
}

func TestStateOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a := open(t, dsn, "a", nil)
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := a.load(ctx, []string{"incoming", "old"}, a.o.Log); err != nil {
		t.Fatal(err)
	}
	want := state.Entry{UniqueValue: "1791", DeliveredAt: time.Date(2026, 11, 22, 3, 11, 2, 140000000, time.UTC),
		Result: "rejected", Error: "classifier: 400 bad envelope"}
	for _, c := range []struct{ feed, id string }{{"incoming", "a1"}, {"incoming", "a2"}, {"incoming", "a3"}, {"old", "o1"}} {
		if err := a.Commit(ctx, c.feed, c.id, want); err != nil {
			t.Fatal(err)
		}
	}
	// A second commit of one alert replaces its entry.
	again := want
	again.Result, again.Error = "matched", ""
	if err := a.Commit(ctx, "incoming", "a1", again); err != nil {
		t.Fatal(err)
	}
	n, err := a.Retain(ctx, "incoming", map[string]bool{"a1": true, "a3": true, "new": true})
	if n != 1 || err != nil {
		t.Errorf("retain: %d %v", n, err)
	}
	if a.Count("incoming") != 2 || a.Delivered("incoming", "a2") {
		t.Errorf("after retain: %v", a.feeds)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// Another replica takes over and reads exactly what was committed;
	// feed "old" is no longer configured and is forgotten.
	logs := &logtest.Buffer{}
	b := open(t, dsn, "b", logs)
	if ok, err := b.TryAcquire(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := b.load(ctx, []string{"incoming"}, b.o.Log); err != nil {
		t.Fatal(err)
	}
	if e, ok := b.Get("incoming", "a1"); !ok || e != again {
		t.Errorf("a1: %+v, want %+v", e, again)
	}
	if e, ok := b.Get("incoming", "a3"); !ok || e != want {
		t.Errorf("a3: %+v, want %+v", e, want)
	}
	if b.Count("incoming") != 2 || b.Count("old") != 0 {
		t.Errorf("loaded %v", b.feeds)
	}
	if !strings.Contains(logs.String(), "event=state_pruned") || !strings.Contains(logs.String(), "count=1") {
		t.Errorf("no state_pruned for feed old:\n%s", logs)
	}
	// Only the poller's tables, with the poller_ prefix.
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	if got := strings.Join(tables, " "); got != "poller_delivered poller_leader poller_schema_migrations" {
		t.Errorf("tables: %s", got)
	}
}

func TestMigrations(t *testing.T) {
	dsn := pgtest.DSN(t)
	// Replicas starting together apply each migration once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(context.Background(), dsn, Options{Holder: "h"})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	var n, v int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM poller_schema_migrations`).Scan(&n, &v); err != nil || n != SchemaVersion() || v != SchemaVersion() {
		t.Fatalf("migrations: %d rows, version %d, %v", n, v, err)
	}
	if _, err := db.Exec(`INSERT INTO poller_schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dsn, Options{Holder: "h"}); err == nil || !strings.Contains(err.Error(), "newer than this poller") {
		t.Errorf("newer schema: %v", err)
	}
}

func TestOpenErrorHidesDSN(t *testing.T) {
	u, _ := url.Parse(pgtest.DSN(t))
	u.User = url.UserPassword("nobody", "hunter2-secret")
	u.Host = "127.0.0.1:1" // nothing listens
	_, err := Open(context.Background(), u.String(), Options{Holder: "h"})
	if err == nil || strings.Contains(err.Error(), "hunter2-secret") {
		t.Errorf("open: %v", err)
	}
}

// activity checks that at most one replica's active function runs at a
// time and records how often each became active.
type activity struct {
	mu      sync.Mutex
	active  string
	terms   map[string]int
	overlap bool // a forced expiry: the old holder runs on until its next renew
	t       *testing.T
}

func (a *activity) run(name string) func(context.Context) {
	return func(ctx context.Context) {
		a.mu.Lock()
		if a.active != "" && !a.overlap {
			a.t.Errorf("%s active while %s is", name, a.active)
		}
		a.active = name
		a.terms[name]++
		a.mu.Unlock()
		<-ctx.Done()
		a.mu.Lock()
		if a.active == name {
			a.active = ""
		}
		a.mu.Unlock()
	}
}

func (a *activity) current() (string, map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	terms := map[string]int{}
	for k, v := range a.terms {
		terms[k] = v
	}
	return a.active, terms
}

func TestLeadHandsOver(t *testing.T) {
	dsn := pgtest.DSN(t)
	act := &activity{terms: map[string]int{}, t: t}
	logs := &logtest.Buffer{}
	leaders := map[string]bool{}
	var lmu sync.Mutex
	type replica struct {
		s      *Store
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) *replica {
		// A long lease: a loaded machine does not make a lose it while
		// the test checks that it stays active.
		o := Options{Holder: name, Lease: 10 * time.Second, RenewInterval: 200 * time.Millisecond, Timeout: 5 * time.Second,
			Log: logging.New(logs, "poller", logging.Options{Format: "logfmt", Level: "info"}),
			OnLeader: func(b bool) {
				lmu.Lock()
				leaders[name] = b
				lmu.Unlock()
			}}
		s, err := Open(context.Background(), dsn, o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{s: s, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			s.Lead(ctx, []string{"incoming"}, act.run(name))
		}()
		t.Cleanup(func() { cancel(); <-r.done; s.Close() })
		return r
	}
	a := start("a")
	waitFor(t, "a to be active", func() bool { c, _ := act.current(); return c == "a" })
	b := start("b")
	waitFor(t, "b to be standby", func() bool { return strings.Contains(logs.String(), "event=lease_standby") })
	// A few renew intervals pass: a stays active, b standby.
	time.Sleep(600 * time.Millisecond)
	if c, terms := act.current(); c != "a" || terms["b"] != 0 {
		t.Fatalf("active %q, terms %v", c, terms)
	}
	// a stops cleanly: it releases the lease and b takes over.
	a.cancel()
	<-a.done
	waitFor(t, "b to take over", func() bool { c, _ := act.current(); return c == "b" })
	if !strings.Contains(logs.String(), "event=lease_released") {
		t.Error("no lease_released")
	}
	// b's lease is taken from it (as if b had been paused past its lease
	// and another replica had taken over): b stops at its next renew.
	act.mu.Lock()
	act.overlap = true
	act.mu.Unlock()
	expire(t, dsn)
	c := start("c")
	waitFor(t, "c to take over", func() bool { cur, terms := act.current(); return cur == "c" && terms["c"] == 1 })
	waitFor(t, "b's lease_lost", func() bool {
		return strings.Contains(logs.String(), "event=lease_lost") && strings.Contains(logs.String(), "replica=b")
	})
	lmu.Lock()
	if leaders["b"] || !leaders["c"] || leaders["a"] {
		t.Errorf("OnLeader: %v", leaders)
	}
	lmu.Unlock()
	// b's writes are fenced from the moment c holds the lease.
	if err := b.s.Commit(context.Background(), "incoming", "x", entry("1")); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("b commit after c took over: %v", err)
	}
	if err := c.s.Commit(context.Background(), "incoming", "y", entry("2")); err != nil {
		t.Errorf("c commit: %v", err)
	}
}

func TestLeaseLostWhenDatabaseFails(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("application_name", "poller-under-test")
	u.RawQuery = q.Encode()
	logs := &logtest.Buffer{}
	s := open(t, u.String(), "a", logs)
	act := &activity{terms: map[string]int{}, t: t}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Lead(ctx, nil, act.run("a")) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "a to be active", func() bool { c, _ := act.current(); return c == "a" })

	// Its connections are cut: the next renew fails and a stops at once,
	// then takes the lease again once the database answers.
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	waitFor(t, "a's lease_lost", func() bool {
		db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'poller-under-test'`)
		return strings.Contains(logs.String(), "event=lease_lost")
	})
	waitFor(t, "a to be active again", func() bool { _, terms := act.current(); return terms["a"] >= 2 })
	if !strings.Contains(logs.String(), "reason=renew_failed") && !strings.Contains(logs.String(), "reason=expired") {
		t.Errorf("lease_lost reason:\n%s", logs)
	}
}

func TestLeaseConcurrentAcquire(t *testing.T) {
	dsn := pgtest.DSN(t)
	stores := make([]*Store, 8)
	for i := range stores {
		stores[i] = open(t, dsn, "r"+string(rune('a'+i)), nil)
	}
	// All at once, on a database where no replica ever held the lease:
	// exactly one gets it.
	var wg sync.WaitGroup
	got := make([]bool, len(stores))
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { got[i], errs[i] = s.TryAcquire(context.Background()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ok := range got {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d replicas acquired the lease, want 1: %v", n, got)
	}
}
