package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// A server that stalls: requests 20..23 each take 500 ms, which occupies
// every one of the 4 workers. The requests scheduled during the stall must
// show it in their latency (measured from their intended send time) and be
// counted late; a closed-loop generator would instead send them after the
// stall and report them fast.
func TestStallShowsInLatencyOfRequestsScheduledDuringIt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.Header.Get("X-I"))
		if i >= 20 && i < 24 {
			time.Sleep(500 * time.Millisecond) // the stall under test
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	const rate, workers = 200, 4
	res, err := Run(context.Background(), Options{
		Rate: rate, Duration: 2 * time.Second, MaxInFlight: workers, Timeout: 10 * time.Second,
		Request: func(ctx context.Context, i int) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err == nil {
				req.Header.Set("X-I", strconv.Itoa(i))
			}
			return req, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Offered != 400 || res.Sent+res.Unsent != res.Offered {
		t.Fatalf("offered %d, sent %d + unsent %d: every scheduled request must be sent or counted", res.Offered, res.Sent, res.Unsent)
	}
	if res.Status[http.StatusAccepted] != res.Sent {
		t.Fatalf("status counts %v, sent %d", res.Status, res.Sent)
	}
	// Requests 24..83 were scheduled in the first 300 ms of the stall (5 ms
	// apart), so each waited at least 200 ms past its intended time.
	slow := 0
	for _, l := range res.Latencies {
		if l >= 200*time.Millisecond {
			slow++
		}
	}
	if slow < 60 {
		t.Errorf("%d answers took >= 200 ms from their intended send time, want >= 60 (the stall hidden: coordinated omission)", slow)
	}
	if res.Late < 60 {
		t.Errorf("late = %d, want >= 60: requests waiting for a worker must be counted late", res.Late)
	}
	if res.Max() < 450*time.Millisecond {
		t.Errorf("max latency %s, want >= 450ms", res.Max())
	}
}

// A server that never answers: every scheduled request is still counted,
// as a timeout (its deadline is its intended time plus Timeout, so waiting
// for a worker eats into it) or unsent, and none is answered within 1 s.
func TestUnansweredRequestsAreCounted(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	res, err := Run(context.Background(), Options{
		Rate: 100, Duration: time.Second, MaxInFlight: 2, Timeout: 200 * time.Millisecond,
		Request: func(ctx context.Context, i int) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Offered != 100 {
		t.Fatalf("offered %d, want 100", res.Offered)
	}
	if res.Errors["timeout"]+res.Unsent != 100 {
		t.Fatalf("unsent %d, errors %v: want 100 timeouts or unsent", res.Unsent, res.Errors)
	}
	// With 2 workers held until each request's deadline, only the first
	// two can start on time; every other one starts late or, when the
	// worker got to it past its timeout (a loaded machine), not at all.
	if res.Late+res.Unsent < 98 {
		t.Fatalf("late %d + unsent %d < 98: with 2 workers and 200 ms stalls every request but the first two starts late", res.Late, res.Unsent)
	}
	if got := res.Sent + res.Unsent; got != 100 {
		t.Fatalf("sent %d + unsent %d = %d, want 100", res.Sent, res.Unsent, got)
	}
	if res.Failed() != 100 || res.WithinFraction(time.Second) != 0 {
		t.Fatalf("failed %d, within 1s %.2f: nothing was answered", res.Failed(), res.WithinFraction(time.Second))
	}
}

func TestQuantileNearestRank(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"p50", 0.5, 50 * time.Millisecond},
		{"p99", 0.99, 99 * time.Millisecond},
		{"max", 1, 100 * time.Millisecond},
		{"min", 0, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(l, tc.q); got != tc.want {
				t.Fatalf("quantile(%v) = %s, want %s", tc.q, got, tc.want)
			}
		})
	}
	r := &Result{Offered: 200, Latencies: l}
	if got := r.WithinFraction(50 * time.Millisecond); got != 0.25 {
		t.Fatalf("within 50ms = %v, want 0.25 (50 of 200 offered)", got)
	}
}
