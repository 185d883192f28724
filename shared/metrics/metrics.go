// Package metrics is the Prometheus side of every Alexis service: one
// registry per service, metric names prefixed with the service name
// (<service>_<noun>_total, <service>_<noun>_seconds), HTTP request metrics
// as echo middleware, and the /metrics handler.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
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

// Label values for requests outside the fixed sets.
const (
	RouteUnmatched = "unmatched" // no registered route has the request's path
	MethodOther    = "other"     // a method not in Methods
)

// Methods are the method label values kept as they are; any other method
// string (the client chooses it freely) counts as MethodOther.
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// Method is the label value for a request method.
func Method(m string) string {
	for _, k := range Methods {
		if m == k {
			return m
		}
	}
	return MethodOther
}

// Middleware counts and times every request by its registered route
// pattern and a method from Methods, so whatever clients send, the label
// sets stay bounded: never the raw path or method, and a path no route
// matches is RouteUnmatched.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	var routes routeSet
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := routes.label(c)
			m.httpRequests.WithLabelValues(route, Method(c.Request().Method), strconv.Itoa(c.Response().Status)).Inc()
			m.httpSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// routeSet remembers, for each path pattern echo's router reported, whether
// it is a registered route. echo reports a tree node's path when only a
// prefix matched (a 404 or 405): those are bounded too, but are not routes.
// The cache holds at most one entry per node of the router's tree.
type routeSet struct {
	mu    sync.RWMutex
	known map[string]bool
}

func (s *routeSet) label(c echo.Context) string {
	p := c.Path()
	if p == "" {
		return RouteUnmatched
	}
	s.mu.RLock()
	ok, seen := s.known[p]
	s.mu.RUnlock()
	if !seen {
		for _, r := range c.Echo().Routes() {
			if r.Path == p {
				ok = true
				break
			}
		}
		s.mu.Lock()
		if s.known == nil {
			s.known = map[string]bool{}
		}
		s.known[p] = ok
		s.mu.Unlock()
	}
	if !ok {
		return RouteUnmatched
	}
	return p
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
