package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

func TestServer(t *testing.T) {
	var logs bytes.Buffer
	e := New(Options{Service: "test", Log: zerolog.New(&logs), BodyLimit: 16, RouteBodyLimits: map[string]int64{"/big/:id": 32}})
	echoBody := func(c echo.Context) error {
		b, err := ReadBody(c)
		if err != nil {
			return err
		}
		return c.String(200, string(b))
	}
	e.POST("/echo", echoBody)
	e.POST("/big/:id", echoBody)
	e.GET("/boom", func(c echo.Context) error { panic("boom") })

	for _, tc := range []struct {
		name, method, path, body string
		chunked                  bool
		status                   int
		errText                  string
	}{
		{"ping", "GET", "/v1/ping", "", false, 200, ""},
		{"small body", "POST", "/echo", "hello", false, 200, ""},
		{"body over limit", "POST", "/echo", strings.Repeat("x", 17), false, 413, "larger than 16 bytes"},
		{"chunked body over limit", "POST", "/echo", strings.Repeat("x", 100), true, 413, "larger than 16 bytes"},
		{"route with its own limit", "POST", "/big/1", strings.Repeat("x", 32), false, 200, ""},
		{"over the route's limit", "POST", "/big/1", strings.Repeat("x", 33), false, 413, "larger than 32 bytes"},
		{"chunked over the route's limit", "POST", "/big/1", strings.Repeat("x", 100), true, 413, "larger than 32 bytes"},
		{"not found", "GET", "/nope", "", false, 404, "Not Found"},
		{"panic", "GET", "/boom", "", false, 500, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path+"?token=secret-in-query", strings.NewReader(tc.body))
			if tc.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if tc.errText != "" {
				var ae api.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || !strings.Contains(ae.Error, tc.errText) {
					t.Fatalf("body = %s, want error %q", rec.Body, tc.errText)
				}
			}
		})
	}
	if strings.Contains(logs.String(), "secret-in-query") {
		t.Fatalf("query string logged: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"status":413`) {
		t.Fatalf("413 not logged: %s", logs.String())
	}
	_ = http.StatusOK
}

// The access log keeps what a client chooses bounded: a method outside
// the known set is logged as "other", a long path is cut.
func TestAccessLogBoundsClientChoices(t *testing.T) {
	var logs bytes.Buffer
	e := New(Options{Service: "test", Log: zerolog.New(&logs)})
	req := httptest.NewRequest("GET", "/"+strings.Repeat("p", 5000), nil)
	req.Method = "X" + strings.Repeat("M", 5000)
	e.ServeHTTP(httptest.NewRecorder(), req)
	line := logs.String()
	if !strings.Contains(line, `"method":"other"`) || strings.Contains(line, "MMMM") {
		t.Errorf("method logged as sent: %.300s", line)
	}
	if strings.Count(line, "p") > 300 || !strings.Contains(line, "…") {
		t.Errorf("path not cut: %.300s", line)
	}
}

func TestMetricsEndpointNeedsToken(t *testing.T) {
	toks, err := auth.ParseTokens([]byte("prometheus:0123456789abcdef0123\n"), auth.MustScopes("metrics"))
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("poller")
	e := New(Options{Service: "poller", Log: zerolog.Nop(), Metrics: m, MetricsAuth: auth.Require(toks, auth.ScopeMetrics)})
	e.GET("/x", func(c echo.Context) error { return c.String(200, "x") })
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("without token: %d", rec.Code)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `poller_http_requests_total{code="200",method="GET",route="/x"} 1`) {
		t.Fatalf("with token: %d %s", rec.Code, rec.Body.String())
	}
}
