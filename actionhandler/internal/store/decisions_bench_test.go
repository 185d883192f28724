package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/pgtest"
)

// benchDecisions is how many decisions (and executions) BenchmarkDecisions
// seeds.
const benchDecisions = 100_000

// seedDecisions writes n executions (seedHistory) and n decisions, the
// i-th received when the i-th execution was created: three in four
// matched rule-(i%50) and caused execution h<i> on host-(i%100), the
// fourth unmatched; the executions of one in twenty failed. Their summary
// names the host ("disk full on host-42").
func seedDecisions(tb testing.TB, s *SQL, n int, now time.Time) {
	tb.Helper()
	seedHistory(tb, s, n, now)
	seq := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) `, n)
	if s.d.name == "postgres" {
		seq = fmt.Sprintf(`WITH n(i) AS (SELECT generate_series(1, %d)) `, n)
	}
	span := (90 * 24 * time.Hour).Microseconds()
	end := micros(now.Add(-time.Hour))
	at := fmt.Sprintf(`(%d + (i * %d / %d))`, end-span, span, n)
	host := fmt.Sprintf(`('host-' || (i %% %d))`, benchHosts)
	rule := fmt.Sprintf(`('rule-' || (i %% %d))`, benchRules)
	matched := `i % 4 <> 0`
	for _, q := range []string{
		`INSERT INTO decisions (id, received_at, recorded_at, feed_type, feed_name, alert_id, unique_value, summary,
			result, rules_checked, requested_by, rules, matched, payload, payload_omitted, search)
			SELECT 'd' || i, ` + at + `, ` + at + `, 'OpsGenie', 'incoming', 'alert-h' || i, 'u' || i,
			'disk full on ' || ` + host + `, CASE WHEN ` + matched + ` THEN 'matched' ELSE 'unmatched' END, 50, 'poller',
			'[{"file":"disk.json","rule_name":"disk","status":"not_matched","alert_path":"message","op":"contains","expected":"cpu","actual":"disk full"}]',
			CASE WHEN ` + matched + ` THEN '[{"rule_name":"' || ` + rule + ` || '","execution_id":"h' || i || '","status":"accepted"}]' ELSE '[]' END,
			'{"id":"alert-h' || i || '","message":"disk full"}', 0,
			'alert-h' || i || ' u' || i || ' disk full on ' || ` + host + ` FROM n`,
		`INSERT INTO decision_matches (decision_id, rule_name, received_at) SELECT 'd' || i, ` + rule + `, ` + at + ` FROM n WHERE ` + matched,
		`INSERT INTO decision_executions (decision_id, execution_id, received_at) SELECT 'd' || i, 'h' || i, ` + at + ` FROM n WHERE ` + matched,
		`INSERT INTO decision_hosts (decision_id, host, received_at) SELECT 'd' || i, ` + host + `, ` + at + ` FROM n WHERE ` + matched,
		`UPDATE executions SET status = 'failure' WHERE id IN (SELECT 'h' || i FROM n WHERE i % 20 = 1)`,
		`INSERT INTO decision_outcomes (decision_id, outcome, received_at)
			SELECT 'd' || i, CASE WHEN ` + matched + ` THEN 'matched' ELSE 'unmatched' END, ` + at + ` FROM n`,
		`INSERT INTO decision_outcomes (decision_id, outcome, received_at)
			SELECT 'd' || i, CASE WHEN i % 20 = 1 THEN 'failure' ELSE 'success' END, ` + at + ` FROM n WHERE ` + matched,
	} {
		if _, err := s.db.ExecContext(ctx, seq+q); err != nil {
			tb.Fatalf("seed decisions: %v\n%s", err, q)
		}
	}
	finish := []string{`ANALYZE`, `PRAGMA wal_checkpoint(TRUNCATE)`}
	if s.d.name == "postgres" {
		finish = []string{`VACUUM ANALYZE`, `CHECKPOINT`}
	}
	for _, q := range finish {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			tb.Fatalf("seed decisions: %s: %v", q, err)
		}
	}
}

// BenchmarkDecisions measures ListDecisions (the timeline's query: the
// page of 50 with its executions and hosts) on a store holding 100,000
// decisions and 100,000 executions: the first page, page 50 (by cursor),
// by host, by outcome failure, and a text search. Figures: p50_ms and
// p99_ms of b.N calls each.
//
//	go test -run '^$' -bench BenchmarkDecisions -benchtime 200x ./actionhandler/internal/store/
func BenchmarkDecisions(b *testing.B) {
	parent := b
	for _, backend := range []string{"sqlite", "postgres"} {
		var s *SQL
		open := func(b *testing.B) {
			if s != nil {
				return
			}
			var err error
			if backend == "sqlite" {
				s, err = OpenSQLite(ctx, filepath.Join(parent.TempDir(), "decisions.db"), Options{})
			} else {
				s, err = OpenPostgres(ctx, pgtest.DSN(parent), Options{})
			}
			if err != nil {
				b.Fatal(err)
			}
			parent.Cleanup(func() { s.Close() })
			start := time.Now()
			seedDecisions(b, s, benchDecisions, time.Now())
			b.Logf("seeded %d decisions and executions in %s", benchDecisions, time.Since(start).Round(time.Millisecond))
		}
		for _, tc := range []struct {
			name  string
			f     DecisionFilter
			pages int // pages walked (untimed) before the timed one
			want  int // decisions the timed page holds at least
		}{
			{name: "first_page", f: DecisionFilter{}, want: DefaultLimit},
			{name: "page_50", f: DecisionFilter{}, pages: 49, want: DefaultLimit},
			{name: "host", f: DecisionFilter{Host: "host-42"}, want: DefaultLimit},
			{name: "outcome_failure", f: DecisionFilter{Outcome: Failure}, want: DefaultLimit},
			{name: "text", f: DecisionFilter{Text: "host-42"}, want: 1},
		} {
			b.Run(backend+"/"+tc.name, func(b *testing.B) {
				open(b)
				f := tc.f
				for range tc.pages {
					p, err := s.ListDecisions(ctx, f)
					if err != nil || p.Next == "" {
						b.Fatalf("walk: %v", err)
					}
					f.Cursor = p.Next
				}
				times := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					p, err := s.ListDecisions(ctx, f)
					times = append(times, time.Since(t0))
					if err != nil || len(p.Decisions) < tc.want {
						b.Fatalf("page of %d: %v", len(p.Decisions), err)
					}
				}
				b.StopTimer()
				slices.Sort(times)
				ms := func(p int) float64 {
					return float64(times[min(len(times)-1, len(times)*p/100)].Microseconds()) / 1000
				}
				b.ReportMetric(ms(50), "p50_ms")
				b.ReportMetric(ms(99), "p99_ms")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
