package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/benchrig"
	"github.com/alexis-ops/alexis/deploy/internal/loadgen"
	"github.com/alexis-ops/alexis/shared/auth"
)

func (b *bench) host(i int) string { return fmt.Sprintf("app%03d.example.com", i%b.o.Hosts) }

// actionRequest pushes signed actions, as the classifier does.
func (b *bench) actionRequest(url string, key *auth.Key, run int64) func(context.Context, int) (*http.Request, error) {
	return func(ctx context.Context, i int) (*http.Request, error) {
		body := b.rules.Action(b.alertID(run, i), i, b.host(i))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/action", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+b.rig.CToAHToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(auth.SignatureHeader, key.Sign(body, time.Now()))
		return req, nil
	}
}

// finished is the number of executions the action handler has finished
// (every status but "duplicate", which is an answer, not an execution).
func (b *bench) finished(ctx context.Context, url string) (int, error) {
	all, err := b.rig.Metric(ctx, url, "actionhandler_executions_total")
	if err != nil {
		return 0, err
	}
	dup, err := b.rig.Metric(ctx, url, "actionhandler_executions_total", `status="duplicate"`)
	return int(all - dup), err
}

// actionHandler measures executions/s in development mode, alerts over
// o.Hosts hosts, after each history size of o.Histories.
func (b *bench) actionHandler(ctx context.Context) error {
	key, err := auth.LoadKey(b.rig.Secret("signing_key"))
	if err != nil {
		return err
	}
	p, err := b.rig.StartActionHandler(ctx, benchrig.ActionHandlerOptions{
		Development: true,
		// No blast-radius cap: 100 hosts at 1,000 executions/s would hit
		// the default 100 hosts per minute at once and measure skips.
		Extra: "governor: {max_hosts_per_minute: 0}\n",
	})
	if err != nil {
		return err
	}
	defer p.Stop()
	var parts []string
	short := false
	for _, h := range b.o.Histories {
		if short {
			break
		}
		have, err := b.finished(ctx, p.URL)
		if err != nil {
			return err
		}
		if have < h {
			reached, took, err := b.seed(ctx, p.URL, key, h)
			if err != nil {
				return err
			}
			if reached < h {
				parts = append(parts, fmt.Sprintf("seeding %d → %d stopped at %d executions after %s (BENCH_SEED_TIMEOUT; closed loop, 16 at a time: %.0f executions/s)",
					have, h, reached, took.Round(time.Second), float64(reached-have)/took.Seconds()))
				b.logf("actionhandler: %s", parts[len(parts)-1])
				short = true // measure at the history reached, then stop
			} else {
				b.logf("actionhandler: history %d reached in %s", reached, took.Round(time.Second))
				parts = append(parts, fmt.Sprintf("seeding %d → %d closed loop (16 at a time, 503s retried): %.0f executions/s", have, reached, float64(reached-have)/took.Seconds()))
			}
		}
		// Wait for the queue to drain so the window starts clean.
		if err := b.drain(ctx, p.URL, 60*time.Second); err != nil {
			return err
		}
		before, err := b.finished(ctx, p.URL)
		if err != nil {
			return err
		}
		run := b.runID.Add(1)
		start := time.Now()
		res, err := loadgen.Run(ctx, loadgen.Options{
			Rate: b.o.AHRate, Duration: b.o.AHWindow, MaxInFlight: 512, Timeout: 5 * time.Second,
			Request: b.actionRequest(p.URL, key, run),
		})
		if err != nil {
			return err
		}
		after, err := b.finished(ctx, p.URL)
		if err != nil {
			return err
		}
		elapsed := time.Since(start)
		rate := float64(after-before) / elapsed.Seconds()
		b.logf("actionhandler: history %d: %d executions in %s = %.0f/s; pushes %s", before, after-before, elapsed.Round(time.Millisecond), rate, res.Summary(b.o.AHWindow))
		parts = append(parts, fmt.Sprintf("after %d: **%.0f executions/s** (pushes: %s; accepted p99 %s)", before, rate, statusText(res), loadgen.Ms(res.Quantile(0.99))))
	}
	mem, _ := benchrig.ReadMem(p.PID())
	b.row(fmt.Sprintf("action handler executions/s vs history, development mode, SQLite, %d hosts, signed pushes offered at %.0f/s for %s per size", b.o.Hosts, b.o.AHRate, b.o.AHWindow),
		"go run ./deploy/cmd/bench actionhandler", strings.Join(parts, "; ")+fmt.Sprintf("; RSS at the end %s (VmHWM %s)", benchrig.MB(mem.RSS), benchrig.MB(mem.HWM)))
	return nil
}

// seed pushes actions at full speed (16 at a time, retrying a 503 after
// its Retry-After, at most 1 s) until the action handler has finished
// target executions or o.SeedTimeout has passed.
func (b *bench) seed(ctx context.Context, url string, key *auth.Key, target int) (int, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, b.o.SeedTimeout)
	defer cancel()
	run := b.runID.Add(1)
	build := b.actionRequest(url, key, run)
	client := loadgen.NewClient(16, 10*time.Second)
	var next, accepted atomic.Int64
	have, err := b.finished(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	need := int64(target - have)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && accepted.Load() < need {
				i := int(next.Add(1))
				for ctx.Err() == nil {
					req, err := build(ctx, i)
					if err != nil {
						return
					}
					resp, err := client.Do(req)
					if err != nil {
						break
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						accepted.Add(1)
						break
					}
					if resp.StatusCode != http.StatusServiceUnavailable {
						break
					}
					_ = sleep(ctx, 20*time.Millisecond)
				}
			}
		}()
	}
	// Wait for the pushes, then for them to be executed.
	wg.Wait()
	for {
		n, err := b.finished(context.Background(), url)
		if err != nil {
			return 0, 0, err
		}
		if n >= target || ctx.Err() != nil {
			return n, time.Since(start), nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil && n < target {
			n, _ = b.finished(context.Background(), url)
			return n, time.Since(start), nil
		}
	}
}

// drain waits until no execution is queued or running (the finished
// count stops moving for 1 s), at most d.
func (b *bench) drain(ctx context.Context, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	last := -1
	for time.Now().Before(deadline) {
		n, err := b.finished(ctx, url)
		if err != nil {
			return err
		}
		if n == last {
			return nil
		}
		last = n
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return nil
}
