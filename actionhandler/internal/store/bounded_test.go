package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// explain returns the query plan of q (with args) on s, one line per step.
func explain(t *testing.T, s *SQL, q string, args ...any) string {
	t.Helper()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prefix := "EXPLAIN QUERY PLAN "
	if s.d.name == "postgres" {
		// The tables are tiny here: make the planner show what it would
		// do on a large one.
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		prefix = "EXPLAIN "
	}
	rows, err := tx.QueryContext(ctx, prefix+s.q(q), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
	}
	return strings.Join(lines, "\n")
}

// TestClaimPlanIsBounded: the claim's choice, and the governor's counts,
// read an index, never every row of executions or execution_entities
// (which hold all of history).
func TestClaimPlanIsBounded(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open().(*SQL)
		// History on web01 and web02, web01 held by a running execution
		// with a queue waiting for it, one queued for web02.
		for i := range 40 {
			c.Add(time.Second)
			x := mustCreate(t, s, newExec(fmt.Sprint("e", i), fmt.Sprint("a", i), "r1", fmt.Sprint("web0", 1+i%2)))
			got, err := s.Claim(ctx, "o", time.Minute, nil)
			if err != nil || got == nil {
				t.Fatalf("claim %s: %v %v", x.ID, got, err)
			}
			if i < 39 {
				if err := s.Finish(ctx, got.ID, "o", Success, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 20 {
			mustCreate(t, s, newExec(fmt.Sprint("q", i), fmt.Sprint("qa", i), "r1", "web01"))
		}
		mustCreate(t, s, newExec("q-free", "qa-free", "r1", "web02"))
		if s.d.name == "postgres" {
			// As autovacuum would (SQLite has no statistics unless ANALYZE runs).
			if _, err := s.db.ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		since := micros(c.Now().Add(-3 * time.Second)) // a window holding a few of the 40
		for _, tc := range []struct {
			name string
			q    string
			args []any
			want string // index the plan must use (one of, "|")
		}{
			{name: "claim", q: s.claimQuery(), want: "executions_claimable"},
			{name: "started per entity", q: startedEntityQuery, args: []any{"r1", "web01", since, 5}, want: "execution_entities_started"},
			{name: "started", q: startedQuery, args: []any{"r1", since, 5}, want: "executions_rule_started|executions_started"},
			{name: "hosts", q: s.hint(hostsQuery), args: []any{since, 5}, want: "executions_started"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				plan := explain(t, s, tc.q, tc.args...)
				used := false
				for _, w := range strings.Split(tc.want, "|") {
					used = used || strings.Contains(plan, w)
				}
				if !used {
					t.Errorf("plan does not use %s:\n%s", tc.want, plan)
				}
				for _, line := range strings.Split(plan, "\n") {
					// SQLite: "SCAN executions" / "SCAN e" (not "SCAN w", the
					// bounded subquery's rows); PostgreSQL: "Seq Scan".
					l := strings.TrimSpace(line)
					if strings.HasPrefix(l, "SCAN ") && l != "SCAN w" && !strings.Contains(l, "USING") ||
						strings.Contains(line, "Seq Scan") {
						t.Errorf("plan scans a whole table: %q\n%s", line, plan)
					}
				}
			})
		}
	})
}

// TestClaimHeadOfLine: a deep queue for a busy host does not hold up an
// execution for a free host queued behind it, and drains in order once
// the host is free.
func TestClaimHeadOfLine(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store, c *clock) {
		s := open()
		mustCreate(t, s, newExec("run", "a-run", "r1", "busy01"))
		holder, err := s.Claim(ctx, "o", time.Minute, nil)
		if err != nil || holder == nil || holder.ID != "run" {
			t.Fatalf("claim: %v %v", holder, err)
		}
		const deep = 1000
		for i := range deep {
			c.Add(time.Microsecond)
			mustCreate(t, s, newExec(fmt.Sprintf("q%04d", i), fmt.Sprint("a", i), "r1", "BUSY01"))
		}
		c.Add(time.Microsecond)
		mustCreate(t, s, newExec("free", "a-free", "r1", "free01"))
		got, err := s.Claim(ctx, "o", time.Minute, nil)
		if err != nil || got == nil || got.ID != "free" {
			t.Fatalf("claim behind %d queued on a busy host: %v %v", deep, got, err)
		}
		if got, err := s.Claim(ctx, "o", time.Minute, nil); err != nil || got != nil {
			t.Fatalf("claim while the host is busy: %v %v", got, err)
		}
		// The queue for the host drains oldest first, one at a time.
		prev := holder.ID
		for i := range 5 {
			if err := s.Finish(ctx, prev, "o", Success, ""); err != nil {
				t.Fatal(err)
			}
			got, err := s.Claim(ctx, "o", time.Minute, nil)
			want := fmt.Sprintf("q%04d", i)
			if err != nil || got == nil || got.ID != want {
				t.Fatalf("claim %d: got %v %v, want %s", i, got, err, want)
			}
			if again, err := s.Claim(ctx, "o", time.Minute, nil); err != nil || again != nil {
				t.Fatalf("second claim on a busy host: %v %v", again, err)
			}
			prev = got.ID
		}
		if n, err := s.CountQueued(ctx); err != nil || n != deep-5 {
			t.Errorf("queued %d %v", n, err)
		}
	})
}

// TestMigrateV6 opens a populated version-6 database: a running
// execution holds its host, a queued one waits for it, another queued one
// is free, history carries the governor's counts.
func TestMigrateV6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, sqliteDialect, migrations[:6]); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ins := func(id, status, host string, created time.Time, started *time.Time) {
		t.Helper()
		var st sql.NullInt64
		if started != nil {
			st = sql.NullInt64{Int64: micros(*started), Valid: true}
		}
		if _, err := db.Exec(`INSERT INTO executions (id, alert_id, unique_value, feed_type, feed_name, rule_name,
			client, request, status, owner, lease_until, created_at, started_at)
			VALUES (?1, ?1, 'u', 'OpsGenie', 'incoming', 'r1', 'classifier', '{}', ?2, 'o', ?3, ?4, ?5)`,
			id, status, micros(now.Add(time.Hour)), micros(created), st); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO execution_entities (execution_id, position, entity, host) VALUES (?1, 0, ?2, ?3)`,
			id, strings.ToUpper(host), host); err != nil {
			t.Fatal(err)
		}
	}
	old := now.Add(-10 * time.Minute)
	ins("done", Success, "web01", old, &old)
	started := now.Add(-time.Minute)
	ins("run", Running, "web01", started, &started)
	ins("wait", Queued, "web01", now.Add(-30*time.Second), nil)
	ins("free", Queued, "web02", now.Add(-20*time.Second), nil)
	db.Close()

	s, err := OpenSQLite(ctx, path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("version %d %v", v, err)
	}
	var counts []int
	admit := func(_ context.Context, c Counter, x *Execution) (string, error) {
		n, _, err := c.Started(ctx, "r1", "WEB01", now.Add(-time.Hour), 0)
		counts = append(counts, n)
		return "", err
	}
	got, err := s.Claim(ctx, "o", time.Minute, admit)
	if err != nil || got == nil || got.ID != "free" {
		t.Fatalf("first claim after migration: %v %v (web01 is held by run)", got, err)
	}
	if got, err := s.Claim(ctx, "o", time.Minute, nil); err != nil || got != nil {
		t.Fatalf("claim while web01 is held: %v %v", got, err)
	}
	if err := s.Finish(ctx, "run", "o", Success, ""); err != nil {
		t.Fatal(err)
	}
	got, err = s.Claim(ctx, "o", time.Minute, admit)
	if err != nil || got == nil || got.ID != "wait" {
		t.Fatalf("claim after run finished: %v %v", got, err)
	}
	// done and run started on WEB01 in the hour (the migrated history).
	if len(counts) != 2 || counts[0] != 2 || counts[1] != 2 {
		t.Errorf("per-entity counts %v, want [2 2]", counts)
	}
}

// TestSQLiteStatementsPrepared: a query the store ran once is prepared
// before its next transaction, and runs prepared from then on.
func TestSQLiteStatementsPrepared(t *testing.T) {
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, newExec("e1", "a1", "r1", "web01"))
	q := s.claimQuery() + s.d.skipLocked
	prepared := func() bool {
		s.wc.mu.Lock()
		defer s.wc.mu.Unlock()
		return s.wc.m[q] != nil
	}
	if prepared() {
		t.Fatal("claim query prepared before it ran")
	}
	for i := range 2 {
		if _, err := s.Claim(ctx, "o", time.Minute, nil); err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	if !prepared() {
		t.Error("claim query not prepared after two claims")
	}
}
