package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/governor"
	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// noteCounter is a ticket system that counts notes (one per host of a dry
// run: the write-back of development mode).
type noteCounter struct{ notes atomic.Int64 }

func (n *noteCounter) AddNote(context.Context, string, string) error { n.notes.Add(1); return nil }
func (n *noteCounter) AddTeam(context.Context, string, string) error { return nil }
func (n *noteCounter) Do(context.Context, string, ticket.Op) error   { return nil }
func (n *noteCounter) Supports(string) bool                          { return true }

// seedSQLite writes n reported executions over 100 hosts into the SQLite
// database at path (already migrated), in one INSERT ... SELECT per table.
func seedSQLite(tb testing.TB, path string, n int) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	seq := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) `, n)
	end := time.Now().Add(-time.Hour).UnixMicro()
	span := (90 * 24 * time.Hour).Microseconds()
	at := fmt.Sprintf(`(%d + (i * %d / %d))`, end-span, span, n)
	for _, q := range []string{
		`INSERT INTO executions (id, alert_id, unique_value, feed_type, feed_name, rule_name, client, request,
			status, created_at, started_at, finished_at, reported_at)
			SELECT 'h' || i, 'alert-h' || i, 'u' || i, 'OpsGenie', 'incoming', 'r1', 'classifier', '{}', 'dry_run',
			` + at + `, ` + at + `, ` + at + `, ` + at + ` FROM n`,
		`INSERT INTO execution_entities (execution_id, position, entity, host, rule_name, started_at)
			SELECT 'h' || i, 0, 'host-' || (i % 100), 'host-' || (i % 100), 'r1', ` + at + ` FROM n`,
		`INSERT INTO steps (execution_id, task_index, position, entity, task_type, action, command, status,
			exit_code, http_status, stdout, stderr, truncated, error, started_at, finished_at)
			SELECT 'h' || i, 0, 0, 'host-' || (i % 100), 'remote_ssh', 'restart_service', 'run ''x''', 'dry_run',
			-1, 0, '', '', 0, '', ` + at + `, ` + at + ` FROM n`,
		`INSERT INTO dedup (feed_type, alert_id, rule_name, execution_id, created_at)
			SELECT 'OpsGenie', 'alert-h' || i, 'r1', 'h' || i, ` + at + ` FROM n`,
	} {
		if _, err := db.Exec(seq + q); err != nil {
			tb.Fatalf("seed: %v", err)
		}
	}
}

// callCounter counts the store calls of the workers and the engine: the
// dispatcher's claims (and those that found nothing to run), the write
// transactions, the reads of one execution.
type callCounter struct {
	store.Store
	claims, empty, writes, gets atomic.Int64
}

func (c *callCounter) Claim(ctx context.Context, owner string, lease time.Duration, admit store.Admit) (*store.Execution, error) {
	x, err := c.Store.Claim(ctx, owner, lease, admit)
	c.claims.Add(1)
	c.writes.Add(1)
	if x == nil {
		c.empty.Add(1)
	}
	return x, err
}

func (c *callCounter) SaveStep(ctx context.Context, id string, st store.Step) error {
	c.writes.Add(1)
	return c.Store.SaveStep(ctx, id, st)
}

func (c *callCounter) Finish(ctx context.Context, id, owner, status, reason string, steps ...store.Step) error {
	c.writes.Add(1)
	return c.Store.Finish(ctx, id, owner, status, reason, steps...)
}

func (c *callCounter) Reported(ctx context.Context, id, owner string) error {
	c.writes.Add(1)
	return c.Store.Reported(ctx, id, owner)
}

func (c *callCounter) Renew(ctx context.Context, id, owner string, lease time.Duration) error {
	c.writes.Add(1)
	return c.Store.Renew(ctx, id, owner, lease)
}

func (c *callCounter) Get(ctx context.Context, id string) (*store.Execution, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxQueued is the default max_queued_executions.
const maxQueued = 256

// BenchmarkThroughput runs executions end to end in development mode on
// SQLite: created as the HTTP API does (spread over 100 hosts, governor
// on, at most maxQueued queued), claimed by the workers (max_concurrent_executions 16), dry run,
// finished, written back (a note per host) and reported, after a history
// of 0 or 100,000 executions. execs/s is from the first create to the
// last note; claims/exec counts the dispatcher's claims per execution,
// empty/exec those that found nothing to run; writes/exec the store's
// write transactions per execution (create included), gets/exec its reads
// of one execution; cpu-µs/exec the process's CPU time (benchmark loop
// included) per execution.
//
//	go test -run '^$' -bench BenchmarkThroughput -benchtime 5000x ./actionhandler/internal/engine/
func BenchmarkThroughput(b *testing.B) {
	for _, history := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("sqlite/history=%d", history), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "e.db")
			st, err := store.OpenSQLite(context.Background(), path, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			st.Close()
			if history > 0 {
				seedSQLite(b, path, history)
			}
			st, err = store.OpenSQLite(context.Background(), path, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			nc := &noteCounter{}
			tickets := ticket.Set{}
			tickets.Add("OpsGenie", nc)
			log := logging.New(io.Discard, "actionhandler", logging.Options{})
			cc := &callCounter{Store: st}
			wb := writeback.New(writeback.Options{Store: cc, Owner: "bench", Tickets: tickets, Redact: redact.New(), Log: log})
			eng := New(Options{Store: cc, Owner: "bench", Lease: time.Minute, Development: true,
				Runners:   map[string]task.Runner{"remote_ssh": &fakeRunner{ev: &events{}}},
				Writeback: wb, Redact: redact.New(), Log: log})
			gov := governor.New(governor.Options{}) // the default configuration: no caps
			w := StartWorkers(WorkerOptions{Store: cc, Engine: eng, Workers: 16, Admit: gov.Admit, Log: log})
			defer w.Shutdown(time.Minute)
			req := request(b, "OpsGenie", `[{"task": {"task_type": "remote_ssh", "run_command": "systemctl restart app", "action": "restart_service", "action_reason": "bench"}}]`, "host")
			merged, _ := json.Marshal(req)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime(b)
			for i := range b.N {
				id := fmt.Sprintf("b%d-%d", b.N, i)
				x := &store.Execution{ID: id, AlertID: "alert-" + id, UniqueValue: id, FeedType: "OpsGenie",
					FeedName: "incoming", RuleName: req.Rule.Name, Client: "classifier", Request: merged,
					Entities: []string{fmt.Sprintf("host-%d", i%100)}}
				// The API's queue limit (max_queued_executions, default
				// 256): a full queue answers 503 and the sender retries.
				for {
					n, err := st.CountQueued(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if n < maxQueued {
						break
					}
					time.Sleep(time.Millisecond)
				}
				if _, created, err := st.Create(context.Background(), x, time.Hour); err != nil || !created {
					b.Fatalf("create: %v %v", created, err)
				}
				w.Wake()
			}
			deadline := time.Now().Add(10 * time.Minute)
			for nc.notes.Load() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d executions written back", nc.notes.Load(), b.N)
				}
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "execs/s")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/exec")
			// Create (one per execution, the producer's) is not counted.
			b.ReportMetric(float64(cc.writes.Load())/float64(b.N)+1, "writes/exec")
			b.ReportMetric(float64(cc.gets.Load())/float64(b.N), "gets/exec")
			b.ReportMetric(float64(cc.claims.Load())/float64(b.N), "claims/exec")
			b.ReportMetric(float64(cc.empty.Load())/float64(b.N), "empty/exec")
		})
	}
}
