// Package loadgen is an open-loop HTTP load generator: requests are
// scheduled at a fixed offered rate, request i at start + i/rate, and each
// one's latency is measured from that intended send time, not from when a
// worker got round to it, so a stalled server cannot hide its stall by
// slowing the generator down (no coordinated omission).
//
// Concurrency is bounded (MaxInFlight workers). A request a worker picks up
// more than LateAfter past its intended time is counted late; one picked up
// after its whole Timeout has already passed is not sent at all and is
// counted unsent (it could not have been answered in time): the generator
// never silently lowers the offered rate.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure one run.
type Options struct {
	Rate        float64       // requests per second offered; > 0
	Duration    time.Duration // how long requests are scheduled for
	MaxInFlight int           // workers; default 256
	Timeout     time.Duration // per request, from its intended send time; default 5s
	LateAfter   time.Duration // picked up this late counts as late; default 5ms
	// Request builds request i (0-based); it must be safe for concurrent use.
	Request func(ctx context.Context, i int) (*http.Request, error)
	// Check, when set, labels an answer (e.g. the classifier's "result");
	// it is called with every answer's status and body.
	Check func(i int, status int, body []byte) string
	// Client defaults to one with keep-alive connections for every worker.
	Client *http.Client
	// Interval, when > 0, also keeps per-interval counts (Result.Series).
	Interval time.Duration
}

// Point is one interval of a run.
type Point struct {
	At       time.Duration // interval start, from the run's start
	Answered int           // answers received in the interval (any status)
	OK       int           // 2xx answers
	P99      time.Duration // of the answers received in the interval
}

// Result is what one run measured.
type Result struct {
	Offered   int            // requests scheduled
	Sent      int            // requests sent
	Late      int            // sent more than LateAfter past their intended time
	Unsent    int            // not sent: already past their timeout when a worker was free
	Status    map[int]int    // answers by HTTP status
	Errors    map[string]int // requests with no answer, by kind (timeout, connection, other)
	Labels    map[string]int // Check's labels
	Latencies []time.Duration
	// Latencies of the answered requests, from the intended send time, sorted.
	Elapsed time.Duration // from the first intended send to the last answer
	Series  []Point
	Rate    float64
}

// Answered is the number of requests that got an HTTP answer.
func (r *Result) Answered() int { return len(r.Latencies) }

// OK is the number of 2xx answers.
func (r *Result) OK() int {
	n := 0
	for s, c := range r.Status {
		if s >= 200 && s < 300 {
			n += c
		}
	}
	return n
}

// Count5xx is the number of 5xx answers.
func (r *Result) Count5xx() int {
	n := 0
	for s, c := range r.Status {
		if s >= 500 {
			n += c
		}
	}
	return n
}

// Failed is the number of requests without an answer (errors and unsent).
func (r *Result) Failed() int {
	n := r.Unsent
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Achieved is 2xx answers per second over the scheduled duration d or,
// when the last answers came later, until the last answer.
func (r *Result) Achieved(d time.Duration) float64 {
	d = max(d, r.Elapsed)
	if d <= 0 {
		return 0
	}
	return float64(r.OK()) / d.Seconds()
}

// Quantile of the answered latencies (q in [0,1]); 0 when none.
func (r *Result) Quantile(q float64) time.Duration {
	return quantile(r.Latencies, q)
}

// Max answered latency.
func (r *Result) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// WithinFraction is the fraction of all offered requests answered (any
// status) within d of their intended send time.
func (r *Result) WithinFraction(d time.Duration) float64 {
	if r.Offered == 0 {
		return 0
	}
	n, _ := slices.BinarySearch(r.Latencies, d+1)
	return float64(n) / float64(r.Offered)
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// nearest rank: the smallest value with at least q of the sample at or below it
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	return sorted[k]
}

// NewClient returns a client keeping up to n idle connections to a host.
func NewClient(n int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        n,
			MaxIdleConnsPerHost: n,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

type sample struct {
	done    time.Duration // answer time, from start
	latency time.Duration
	status  int
}

// Run offers o.Rate requests per second for o.Duration and waits for every
// sent request to be answered or to time out.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Rate <= 0 || o.Duration <= 0 || o.Request == nil {
		return nil, errors.New("loadgen: rate, duration and request are required")
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.LateAfter <= 0 {
		o.LateAfter = 5 * time.Millisecond
	}
	client := o.Client
	if client == nil {
		client = NewClient(o.MaxInFlight, o.Timeout)
		defer client.CloseIdleConnections()
	}
	total := int(o.Rate * o.Duration.Seconds())
	if total < 1 {
		total = 1
	}
	interval := time.Duration(float64(time.Second) / o.Rate)

	res := &Result{Offered: total, Status: map[int]int{}, Errors: map[string]int{}, Labels: map[string]int{}, Rate: o.Rate}
	var mu sync.Mutex
	samples := make([]sample, 0, total)
	var next atomic.Int64
	var late, unsent, sent atomic.Int64

	start := time.Now().Add(10 * time.Millisecond)
	var wg sync.WaitGroup
	for range min(o.MaxInFlight, total) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				intended := start.Add(time.Duration(i) * interval)
				if d := time.Until(intended); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
				lag := time.Since(intended)
				if lag >= o.Timeout {
					unsent.Add(1)
					continue
				}
				if lag > o.LateAfter {
					late.Add(1)
				}
				sent.Add(1)
				status, label, errKind := one(ctx, client, o, i, intended)
				now := time.Now()
				mu.Lock()
				if errKind != "" {
					res.Errors[errKind]++
				} else {
					res.Status[status]++
					samples = append(samples, sample{done: now.Sub(start), latency: now.Sub(intended), status: status})
				}
				if label != "" {
					res.Labels[label]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Late, res.Unsent, res.Sent = int(late.Load()), int(unsent.Load()), int(sent.Load())
	res.Elapsed = time.Since(start)
	res.Latencies = make([]time.Duration, len(samples))
	for i, s := range samples {
		res.Latencies[i] = s.latency
	}
	slices.Sort(res.Latencies)
	if o.Interval > 0 {
		res.Series = series(samples, o.Interval)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("loadgen: %w", err)
	}
	return res, nil
}

func one(ctx context.Context, client *http.Client, o Options, i int, intended time.Time) (status int, label, errKind string) {
	rctx, cancel := context.WithDeadline(ctx, intended.Add(o.Timeout))
	defer cancel()
	req, err := o.Request(rctx, i)
	if err != nil {
		return 0, "", "build"
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", errKind2(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return 0, "", errKind2(err)
	}
	if o.Check != nil {
		label = o.Check(i, resp.StatusCode, body)
	}
	return resp.StatusCode, label, ""
}

func errKind2(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		var oe *net.OpError
		if errors.As(err, &oe) {
			return "connection"
		}
		return "other"
	}
}

func series(samples []sample, every time.Duration) []Point {
	var out []Point
	byBucket := map[int][]time.Duration{}
	ok := map[int]int{}
	last := 0
	for _, s := range samples {
		b := int(s.done / every)
		byBucket[b] = append(byBucket[b], s.latency)
		if s.status >= 200 && s.status < 300 {
			ok[b]++
		}
		last = max(last, b)
	}
	for b := 0; b <= last; b++ {
		l := byBucket[b]
		slices.Sort(l)
		out = append(out, Point{At: time.Duration(b) * every, Answered: len(l), OK: ok[b], P99: quantile(l, 0.99)})
	}
	return out
}

// Summary is a one-line description of a run.
func (r *Result) Summary(d time.Duration) string {
	return fmt.Sprintf("offered=%d/s for %s sent=%d answered=%d ok=%d 5xx=%d failed=%d late=%d unsent=%d achieved=%.0f/s p50=%s p90=%s p99=%s max=%s status=%v errors=%v",
		int(r.Rate), d, r.Sent, r.Answered(), r.OK(), r.Count5xx(), r.Failed(), r.Late, r.Unsent, r.Achieved(d),
		Ms(r.Quantile(0.5)), Ms(r.Quantile(0.9)), Ms(r.Quantile(0.99)), Ms(r.Max()), r.Status, r.Errors)
}

// Ms formats a duration in milliseconds with a sensible precision.
func Ms(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}
