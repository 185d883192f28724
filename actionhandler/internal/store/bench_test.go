package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/pgtest"
)

// Sizes of history the benchmark seeds (reported executions).
var historySizes = []int{1_000, 10_000, 100_000, 1_000_000}

// Shape of the seeded history and of the benchmark's executions.
const (
	benchHosts = 100
	benchRules = 50
)

// seedHistory writes n reported executions spread over benchHosts hosts
// and benchRules rules, created over the 90 days before now, each with an
// entity, a step and a dedup key, in a few INSERT ... SELECT statements
// (a recursive CTE on SQLite, generate_series on PostgreSQL).
func seedHistory(tb testing.TB, s *SQL, n int, now time.Time) {
	tb.Helper()
	seq := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) `, n)
	if s.d.name == "postgres" {
		seq = fmt.Sprintf(`WITH n(i) AS (SELECT generate_series(1, %d)) `, n)
	}
	span := (90 * 24 * time.Hour).Microseconds()
	end := micros(now.Add(-time.Hour))
	// created_at runs from end-span to end; started 1 s, finished 2 s,
	// reported 3 s after.
	at := fmt.Sprintf(`(%d + (i * %d / %d))`, end-span, span, n)
	host := fmt.Sprintf(`('host-' || (i %% %d))`, benchHosts)
	rule := fmt.Sprintf(`('rule-' || (i %% %d))`, benchRules)
	for _, q := range []string{
		`INSERT INTO executions (id, alert_id, unique_value, feed_type, feed_name, rule_name, client, request,
			status, created_at, started_at, finished_at, reported_at)
			SELECT 'h' || i, 'alert-h' || i, 'u' || i, 'OpsGenie', 'incoming', ` + rule + `, 'classifier',
			'{"alert":{"id":"h' || i || '"}}', 'success', ` + at + `, ` + at + ` + 1000000, ` + at + ` + 2000000,
			` + at + ` + 3000000 FROM n`,
		`INSERT INTO execution_entities (execution_id, position, entity, host, rule_name, started_at)
			SELECT 'h' || i, 0, ` + host + `, ` + host + `, ` + rule + `, ` + at + ` + 1000000 FROM n`,
		`INSERT INTO steps (execution_id, task_index, position, entity, task_type, action, command, status,
			exit_code, http_status, stdout, stderr, truncated, error, started_at, finished_at)
			SELECT 'h' || i, 0, 0, ` + host + `, 'remote_ssh', 'restart', 'systemctl restart app', 'success',
			0, 0, 'ok', '', 0, '', ` + at + ` + 1000000, ` + at + ` + 2000000 FROM n`,
		`INSERT INTO dedup (feed_type, alert_id, rule_name, execution_id, created_at)
			SELECT 'OpsGenie', 'alert-h' || i, ` + rule + `, 'h' || i, ` + at + ` FROM n`,
	} {
		if _, err := s.db.ExecContext(ctx, seq+q); err != nil {
			tb.Fatalf("seed %d: %v", n, err)
		}
	}
	// What 90 days of history would have had meanwhile: statistics, a
	// vacuum and a checkpoint, so the measured executions do not pay for
	// the seeding's aftermath (autovacuum, checkpoint of its WAL).
	finish := []string{`ANALYZE`, `PRAGMA wal_checkpoint(TRUNCATE)`}
	if s.d.name == "postgres" {
		finish = []string{`VACUUM ANALYZE`, `CHECKPOINT`}
	}
	for _, q := range finish {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			tb.Fatalf("seed %d: %s: %v", n, q, err)
		}
	}
}

// benchAdmit is a governor's work: per-entity and per-rule counts over an
// hour, hosts over a minute, admitting everything.
func benchAdmit(ctx context.Context, c Counter, x *Execution) (string, error) {
	since := time.Now().Add(-time.Hour)
	if _, _, err := c.Started(ctx, x.RuleName, "", since, 10); err != nil {
		return "", err
	}
	for _, e := range x.Entities {
		if _, _, err := c.Started(ctx, x.RuleName, e, since, 1); err != nil {
			return "", err
		}
	}
	_, err := c.Hosts(ctx, time.Now().Add(-time.Minute), 1000)
	return "", err
}

// BenchmarkHistory measures one execution's store work, create, claim
// (with the governor's counts), finish and reported, on a store holding
// 1k to 1M reported executions: the figures should not grow with
// history. Per-op figures: create_us, claim_us, finish_us (finish and
// reported).
//
//	go test -run '^$' -bench BenchmarkHistory -benchtime 2000x ./actionhandler/internal/store/
func BenchmarkHistory(b *testing.B) {
	parent := b
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, n := range historySizes {
			var s *SQL
			b.Run(fmt.Sprintf("%s/history=%d", backend, n), func(b *testing.B) {
				if s == nil {
					var err error
					if backend == "sqlite" {
						s, err = OpenSQLite(ctx, filepath.Join(parent.TempDir(), "bench.db"), Options{})
					} else {
						s, err = OpenPostgres(ctx, pgtest.DSN(parent), Options{})
					}
					if err != nil {
						b.Fatal(err)
					}
					// The seeded store outlives this run: b.Run calls it again with a larger b.N.
					parent.Cleanup(func() { s.Close() })
					start := time.Now()
					seedHistory(b, s, n, time.Now())
					b.Logf("seeded %d executions in %s", n, time.Since(start).Round(time.Millisecond))
				}
				var t opTimes
				b.ResetTimer()
				for i := range b.N {
					t.add(b, s, fmt.Sprintf("b-%d-%d", b.N, i), i)
				}
				t.report(b, b.N, "")
			})
		}
	}
}

// opTimes sums the time of each store call of the executions run.
type opTimes struct{ create, claim, finish time.Duration }

// add runs execution id (the i-th: its host and rule) through create,
// claim, finish and reported.
func (t *opTimes) add(b *testing.B, s *SQL, id string, i int) {
	host := fmt.Sprintf("host-%d", i%benchHosts)
	x := &Execution{ID: id, AlertID: "alert-" + id, UniqueValue: "u", FeedType: "OpsGenie",
		FeedName: "incoming", RuleName: fmt.Sprintf("rule-%d", i%benchRules), Client: "classifier",
		Request: []byte(`{}`), Entities: []string{host}}
	t0 := time.Now()
	if _, created, err := s.Create(ctx, x, time.Hour); err != nil || !created {
		b.Fatalf("create: %v %v", created, err)
	}
	t1 := time.Now()
	got, err := s.Claim(ctx, "bench", time.Minute, benchAdmit)
	if err != nil || got == nil || got.ID != id {
		b.Fatalf("claim: %v %v", got, err)
	}
	t2 := time.Now()
	if err := s.Finish(ctx, id, "bench", DryRun, ""); err != nil {
		b.Fatal(err)
	}
	if err := s.Reported(ctx, id, "bench"); err != nil {
		b.Fatal(err)
	}
	t3 := time.Now()
	t.create, t.claim, t.finish = t.create+t1.Sub(t0), t.claim+t2.Sub(t1), t.finish+t3.Sub(t2)
}

// report reports µs per execution of n, the units suffixed with suffix.
func (t *opTimes) report(b *testing.B, n int, suffix string) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	b.ReportMetric(per(t.create), "create_us"+suffix)
	b.ReportMetric(per(t.claim), "claim_us"+suffix)
	b.ReportMetric(per(t.finish), "finish_us"+suffix)
}

// BenchmarkInterleavedHistory is BenchmarkHistory for a shared, noisy
// machine: the four stores are seeded first, then executions go to each in
// turn, batchSize at a time, so a change of load hits every size alike.
// b.N executions per size; units are suffixed with the size (claim_us/1000000).
//
//	go test -run '^$' -bench BenchmarkInterleavedHistory -benchtime 2000x ./actionhandler/internal/store/
func BenchmarkInterleavedHistory(b *testing.B) {
	const batchSize = 50
	parent := b
	for _, backend := range []string{"sqlite", "postgres"} {
		var stores []*SQL
		b.Run(backend, func(b *testing.B) {
			if stores == nil {
				for k, n := range historySizes {
					var s *SQL
					var err error
					if backend == "sqlite" {
						s, err = OpenSQLite(ctx, filepath.Join(parent.TempDir(), fmt.Sprintf("bench%d.db", k)), Options{})
					} else {
						s, err = OpenPostgres(ctx, pgtest.DSN(parent), Options{})
					}
					if err != nil {
						b.Fatal(err)
					}
					parent.Cleanup(func() { s.Close() })
					start := time.Now()
					seedHistory(b, s, n, time.Now())
					b.Logf("seeded %d executions in %s", n, time.Since(start).Round(time.Millisecond))
					stores = append(stores, s)
				}
			}
			times := make([]opTimes, len(stores))
			b.ResetTimer()
			for lo := 0; lo < b.N; lo += batchSize {
				for k, s := range stores {
					for i := lo; i < min(b.N, lo+batchSize); i++ {
						times[k].add(b, s, fmt.Sprintf("b-%d-%d", b.N, i), i)
					}
				}
			}
			for k, n := range historySizes {
				times[k].report(b, b.N, fmt.Sprintf("/%d", n))
			}
		})
	}
}
