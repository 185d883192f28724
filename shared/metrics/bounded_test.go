package metrics_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// Unauthenticated clients choose the method and the path of every request:
// thousands of random ones, sent to a real server, leave /metrics with a
// handful of series, every label value from the fixed sets.
func TestRandomMethodsAndPathsKeepMetricsSmall(t *testing.T) {
	m := metrics.New("svc")
	e := server.New(server.Options{Service: "svc", Log: zerolog.Nop(), Metrics: m})
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	e.POST("/v1/action", ok)
	e.GET("/v1/executions", ok)
	e.GET("/v1/executions/:id", ok)
	e.POST("/v1/webhook/:name", ok)
	routes := []string{"/v1/action", "/v1/executions", "/v1/executions/:id", "/v1/webhook/:name", "/v1/ping", "/metrics", metrics.RouteUnmatched}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, e, ln, server.TLSFiles{}, zerolog.Nop()) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	t.Cleanup(client.CloseIdleConnections)

	scrape := func() string {
		t.Helper()
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	before := len(scrape())

	const requests = 4000
	methodChars := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"
	rnd := func(r *rand.Rand, alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range requests / 4 {
				method := rnd(r, methodChars, 1+r.IntN(16))
				if i%5 == 0 {
					method = metrics.Methods[r.IntN(len(metrics.Methods))]
				}
				seg := rnd(r, "abcdefghijklmnopqrstuvwxyz0123456789-_.~", 1+r.IntN(20))
				path := []string{"/" + seg, "/v1/" + seg, "/v1/executions/" + seg, "/v1/action/" + seg,
					"/v1/webhook/" + seg, "/v1/" + seg + "/" + seg, "/v1/executions"}[r.IntN(7)]
				req, err := http.NewRequest(method, base+path, nil)
				if err != nil {
					errs <- fmt.Errorf("request %q %q: %w", method, path, err)
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w", method, path, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	body := scrape()
	series := regexp.MustCompile(`(?m)^svc_http_requests_total\{code="(\d+)",method="([^"]*)",route="([^"]*)"\} (\d+)$`).FindAllStringSubmatch(body, -1)
	durations := regexp.MustCompile(`(?m)^svc_http_request_duration_seconds_count\{route="([^"]*)"\}`).FindAllStringSubmatch(body, -1)
	total := 0
	for _, s := range series {
		if !slices.Contains(metrics.Methods, s[2]) && s[2] != metrics.MethodOther {
			t.Errorf("method label %q is not from the fixed set", s[2])
		}
		if !slices.Contains(routes, s[3]) {
			t.Errorf("route label %q is not a registered route", s[3])
		}
		var n int
		fmt.Sscan(s[4], &n)
		total += n
	}
	if total < requests {
		t.Errorf("the series count %d requests, want at least %d", total, requests)
	}
	// 7 routes x 8 methods x a few status codes is the most there can be;
	// what random requests reach is far less.
	if len(series) > 60 || len(durations) > len(routes) {
		t.Errorf("%d request series and %d duration series after %d random requests:\n%s", len(series), len(durations), requests, strings.Join(lines(body, "svc_http_requests_total{"), "\n"))
	}
	if grown := len(body) - before; grown > 16<<10 {
		t.Errorf("/metrics grew by %d bytes after %d random requests", grown, requests)
	}
	t.Logf("%d requests: %d request series, %d duration series, /metrics %d -> %d bytes", requests, len(series), len(durations), before, len(body))
}

func lines(body, prefix string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
