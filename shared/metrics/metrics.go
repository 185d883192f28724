// Package metrics is the Prometheus side of every Alexis service: one
// registry per service, metric names prefixed with the service name
// (<service>_<noun>_total, <service>_<noun>_seconds), HTTP request metrics
// as echo middleware, and the /metrics handler.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds a service's registry.
type Metrics struct {
	Service  string
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
}

// New returns a registry with Go runtime and process collectors and the
// HTTP request metrics <service>_http_requests_total and
// <service>_http_request_duration_seconds.
func New(service string) *Metrics {
	m := &Metrics{Service: service, Registry: prometheus.NewRegistry()}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.httpRequests = m.CounterVec("http_requests_total", "HTTP requests served, by route, method and status code.", "route", "method", "code")
	m.httpSeconds = m.HistogramVec("http_request_duration_seconds", "Time to serve HTTP requests, by route.",
		prometheus.DefBuckets, "route")
	return m
}

// CounterVec registers <service>_<name>.
func (m *Metrics) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.Service + "_" + name, Help: help}, labels)
	m.Registry.MustRegister(c)
	return c
}

// Counter registers <service>_<name> without labels.
func (m *Metrics) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: m.Service + "_" + name, Help: help})
	m.Registry.MustRegister(c)
	return c
}

// Gauge registers <service>_<name> without labels.
func (m *Metrics) Gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: m.Service + "_" + name, Help: help})
	m.Registry.MustRegister(g)
	return g
}

// HistogramVec registers <service>_<name> (name should end in _seconds).
func (m *Metrics) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.Service + "_" + name, Help: help, Buckets: buckets}, labels)
	m.Registry.MustRegister(h)
	return h
}

// Middleware counts and times every request by its route pattern (never
// the raw path, so label values stay bounded).
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			m.httpRequests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Inc()
			m.httpSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
