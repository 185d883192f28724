package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/rules/rulestest"
)

// rssKB reads VmRSS or VmHWM (peak) of process pid, in KiB.
func rssKB(b *testing.B, pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			var kb int
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	return 0
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkOverload offers matched alerts open-loop at a fixed rate (each
// sent at its intended time whatever the answers before it; latency counts
// from that time) to the classifier binary with the default max_in_flight,
// for 10 s, and reports what came back: ok and refused (503) per second,
// their p50/p99/max latency, client errors, the classifier's RSS at the
// end and at its peak, and 5 s after the load (idle connections closed)
// the latency of one alert and the RSS then.
//
//	cd classifier && go test -run '^$' -bench BenchmarkOverload -benchtime 1x ./cmd/classifier/
func BenchmarkOverload(b *testing.B) {
	for _, rate := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchOverload(b, rate) })
	}
}

func benchOverload(b *testing.B, rate int) {
	const duration = 10 * time.Second
	st := startBenchStack(b, true, 128)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2048}}
	body := []byte(rulestest.BenchAlert)
	type result struct {
		code    int
		latency time.Duration
	}
	for b.Loop() {
		n := int(duration.Seconds()) * rate
		results := make([]result, n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			intended := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(intended); d > 0 {
				time.Sleep(d)
			}
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodPost, st.url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+clientToken)
				req.Header.Set("Content-Type", "application/json")
				code := 0
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				results[i] = result{code: code, latency: time.Since(intended)}
			})
		}
		wg.Wait()
		var ok, refused []time.Duration
		errs := 0
		for _, r := range results {
			switch r.code {
			case http.StatusOK:
				ok = append(ok, r.latency)
			case http.StatusServiceUnavailable:
				refused = append(refused, r.latency)
			default:
				errs++
			}
		}
		slices.Sort(ok)
		slices.Sort(refused)
		secs := duration.Seconds()
		b.ReportMetric(float64(len(ok))/secs, "ok/s")
		b.ReportMetric(float64(len(refused))/secs, "refused/s")
		b.ReportMetric(float64(errs), "errors")
		b.ReportMetric(float64(pct(ok, .5).Microseconds())/1000, "ok_p50_ms")
		b.ReportMetric(float64(pct(ok, .99).Microseconds())/1000, "ok_p99_ms")
		b.ReportMetric(float64(pct(ok, 1).Microseconds())/1000, "ok_max_ms")
		b.ReportMetric(float64(pct(refused, .99).Microseconds())/1000, "refused_p99_ms")
		b.ReportMetric(float64(rssKB(b, st.pid, "VmRSS"))/1024, "rss_MB")
		b.ReportMetric(float64(rssKB(b, st.pid, "VmHWM"))/1024, "peak_rss_MB")
		// Back to normal? One alert 5 s after the load ended, and the RSS then.
		client.CloseIdleConnections()
		time.Sleep(5 * time.Second)
		req, _ := http.NewRequest(http.MethodPost, st.url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+clientToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("5 s after the load: %d", resp.StatusCode)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "after5s_ms")
		b.ReportMetric(float64(rssKB(b, st.pid, "VmRSS"))/1024, "after5s_rss_MB")
	}
}
