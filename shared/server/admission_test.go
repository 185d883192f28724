package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

func TestMaxInFlight(t *testing.T) {
	const max = 3
	var logs logtest.Buffer
	m := metrics.New("test")
	e := New(Options{Service: "test", Log: zerolog.New(&logs), Metrics: m, MaxInFlight: max})
	release := make(chan struct{})
	var entered sync.WaitGroup
	e.POST("/slow", func(c echo.Context) error {
		entered.Done()
		<-release
		return c.String(http.StatusOK, "done")
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // before srv.Close, even when the test fails

	// Fill every slot.
	entered.Add(max)
	results := make(chan int, max)
	for range max {
		go func() {
			resp, err := http.Post(srv.URL+"/slow", "application/json", nil)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	entered.Wait()

	// The next ones are refused at once, with Retry-After and a JSON error.
	const refused = 50
	for range refused {
		resp, err := http.Post(srv.URL+"/slow", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ae api.Error
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
			json.Unmarshal(body, &ae) != nil || !strings.Contains(ae.Error, "max_in_flight 3") {
			t.Fatalf("over the limit: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// Health and metrics are never refused.
	for _, path := range []string{"/v1/ping", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s while full: %d", path, resp.StatusCode)
		}
	}

	unblock()
	for range max {
		if code := <-results; code != http.StatusOK {
			t.Errorf("admitted request: %d", code)
		}
	}
	// Slots are given back.
	entered.Add(1)
	resp, err := http.Post(srv.URL+"/slow", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the storm: %d", resp.StatusCode)
	}

	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP test_http_requests_refused_total Requests answered 503 at once because max_in_flight requests were being served.
# TYPE test_http_requests_refused_total counter
test_http_requests_refused_total 50
`), "test_http_requests_refused_total"); err != nil {
		t.Error(err)
	}
	// One line for the storm, not one per refused request, and no access
	// line for them either.
	text := logs.String()
	if n := strings.Count(text, `"event":"requests_refused"`); n != 1 {
		t.Errorf("%d requests_refused lines, want 1:\n%s", n, text)
	}
	if n := strings.Count(text, `"status":503`); n != 0 {
		t.Errorf("%d access lines for refused requests, want 0", n)
	}
}
