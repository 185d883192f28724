package main

import (
	"context"
	"fmt"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/benchrig"
	"github.com/alexis-ops/alexis/deploy/internal/loadgen"
)

// overload offers OverloadX times the matched capacity for OverloadFor to
// a fresh classifier, and then measures how long it takes to answer a
// light probe load normally again.
func (b *bench) overload(ctx context.Context) error {
	capacity, how := b.o.Capacity, "BENCH_CAPACITY"
	if capacity == 0 {
		capacity, how = b.capacity, b.capacityHow
	}
	p, err := b.startClassifier(ctx, "classifier-overload")
	if err != nil {
		return err
	}
	defer p.Stop()
	if capacity == 0 {
		b.logf("overload: measuring the matched capacity first (BENCH_CAPACITY skips this)")
		best, failed, err := b.stepUp(ctx, p.URL, always)
		if err != nil {
			return err
		}
		if capacity, how = capacityOf(best, failed, b.o.Step); capacity == 0 {
			return fmt.Errorf("overload: the capacity step-up measured nothing")
		}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
	baseline, err := b.probe(ctx, p.URL, 3*time.Second)
	if err != nil {
		return err
	}
	normal := max(5*baseline.Quantile(0.99), 50*time.Millisecond)
	idle, _ := benchrig.ReadMem(p.PID())

	rate := b.o.OverloadX * capacity
	sampler := benchrig.Sample(p.PID(), 100*time.Millisecond)
	loadEnd := time.Now().Add(b.o.OverloadFor)
	type rec struct {
		after time.Duration
		err   error
	}
	recovered := make(chan rec, 1)
	go func() {
		// Probe from the moment the schedule ends, while the last
		// overload requests may still be waiting for answers.
		if err := sleep(ctx, time.Until(loadEnd)); err != nil {
			recovered <- rec{err: err}
			return
		}
		deadline := time.Now().Add(120 * time.Second)
		for time.Now().Before(deadline) {
			r, err := b.probe(ctx, p.URL, time.Second)
			if err != nil {
				recovered <- rec{err: err}
				return
			}
			if r.OK() == r.Offered && r.Quantile(0.99) <= normal {
				recovered <- rec{after: time.Since(loadEnd)}
				return
			}
		}
		recovered <- rec{after: -1}
	}()
	run := b.runID.Add(1)
	res, err := loadgen.Run(ctx, loadgen.Options{
		Rate: rate, Duration: b.o.OverloadFor, MaxInFlight: max(b.o.Workers, 4096), Timeout: 10 * time.Second,
		Request: b.classifyRequest(p.URL, run, always, oneHost), Check: resultLabel,
	})
	if err != nil {
		return err
	}
	rc := <-recovered
	samples := sampler.Stop()
	if rc.err != nil {
		return rc.err
	}
	mem, _ := benchrig.ReadMem(p.PID())
	b.logf("overload: %s labels=%v", res.Summary(b.o.OverloadFor), res.Labels)
	back := "not within 120 s"
	if rc.after >= 0 {
		back = fmt.Sprintf("%.1f s", rc.after.Seconds())
	}
	b.row(fmt.Sprintf("classifier overload: offered %.0f× the matched capacity (%.0f/s, %s → %.0f/s) for %s, matched alerts", b.o.OverloadX, capacity, how, rate, b.o.OverloadFor),
		fmt.Sprintf("deploy/bench/overload.sh (BENCH_OVERLOAD_DURATION=%s)", b.o.OverloadFor),
		fmt.Sprintf("answered within 1 s: %.1f%% of %d; answers/outcomes: %s; achieved 2xx %.0f/s; p50 %s, p99 %s, max %s; classifier RSS idle %s, peak sampled %s, VmHWM %s, after %s; back to normal (probe p99 ≤ %s, all 2xx) %s after the load ended",
			100*res.WithinFraction(time.Second), res.Offered, statusText(res), res.Achieved(b.o.OverloadFor),
			loadgen.Ms(res.Quantile(0.5)), loadgen.Ms(res.Quantile(0.99)), loadgen.Ms(res.Max()),
			benchrig.MB(idle.RSS), benchrig.MB(benchrig.MaxRSS(samples)), benchrig.MB(mem.HWM), benchrig.MB(mem.RSS), loadgen.Ms(normal), back))
	return nil
}

// probe offers 20 matched alerts per second for d.
func (b *bench) probe(ctx context.Context, url string, d time.Duration) (*loadgen.Result, error) {
	run := b.runID.Add(1)
	return loadgen.Run(ctx, loadgen.Options{
		Rate: 20, Duration: d, MaxInFlight: 64, Timeout: 5 * time.Second,
		Request: b.classifyRequest(url, run, always, oneHost), Check: resultLabel,
	})
}
