package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestMiddlewareAndHandler(t *testing.T) {
	m := New("classifier")
	matched := m.CounterVec("alerts_classified_total", "Alerts classified, by result.", "result")
	matched.WithLabelValues("matched").Add(2)

	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/v1/rules/:name", func(c echo.Context) error { return c.String(200, "ok") })
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
	for _, p := range []string{"/v1/rules/a", "/v1/rules/b", "/nope"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`classifier_alerts_classified_total{result="matched"} 2`,
		`classifier_http_requests_total{code="200",method="GET",route="/v1/rules/:name"} 2`,
		`classifier_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`classifier_http_request_duration_seconds_count{route="/v1/rules/:name"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "/v1/rules/a") {
		t.Error("raw path used as a label value")
	}
}

func TestMethodLabel(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
		"DELETE": "DELETE", "OPTIONS": "OPTIONS", "get": "other", "CONNECT": "other", "TRACE": "other", "X" + strings.Repeat("Y", 100): "other", "": "other"} {
		if got := Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
}
