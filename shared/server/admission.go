package server

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Admission defaults.
const (
	// RetryAfter is what a refused request is told to wait (Retry-After).
	RetryAfter = time.Second
	// RefusedLogInterval is the least time between two log lines about
	// refused requests: a storm gives one line per interval with the count,
	// not one line per request.
	RefusedLogInterval = 5 * time.Second
	// ReasonMaxInFlight is the reason logged for refused requests.
	ReasonMaxInFlight = "max_in_flight"
)

// admission refuses a request at once with 503 and Retry-After while max
// requests are being served, so a storm is answered quickly instead of
// queueing without bound (goroutines, bodies, outbound calls). GET /v1/ping
// and /metrics are never refused, nor counted.
type admission struct {
	max     int
	slots   chan struct{}
	refused prometheus.Counter // nil: none
	log     zerolog.Logger
	now     func() time.Time
	body    api.Error

	mu       sync.Mutex
	lastLog  time.Time
	pending  int // refused since the last line
	inFlight prometheus.Gauge
}

func newAdmission(max int, m *metrics.Metrics, log zerolog.Logger) *admission {
	a := &admission{
		max:   max,
		slots: make(chan struct{}, max),
		log:   log.With().Str(logging.Component, "http").Logger(),
		now:   time.Now,
		body:  api.Error{Error: fmt.Sprintf("too many requests in flight (max_in_flight %d); try again later", max)},
	}
	if m != nil {
		a.refused = m.Counter("http_requests_refused_total",
			"Requests answered 503 at once because max_in_flight requests were being served.")
		a.inFlight = m.Gauge("http_requests_in_flight", "Requests being served (GET /v1/ping and /metrics excluded).")
	}
	return a
}

func exempt(c echo.Context) bool {
	p := c.Path()
	return p == "/v1/ping" || p == "/metrics"
}

func (a *admission) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	retryAfter := strconv.Itoa(int(RetryAfter / time.Second))
	return func(c echo.Context) error {
		if exempt(c) {
			return next(c)
		}
		select {
		case a.slots <- struct{}{}:
		default:
			a.refuse()
			c.Response().Header().Set("Retry-After", retryAfter)
			return c.JSON(http.StatusServiceUnavailable, a.body)
		}
		if a.inFlight != nil {
			a.inFlight.Inc()
		}
		defer func() {
			if a.inFlight != nil {
				a.inFlight.Dec()
			}
			<-a.slots
		}()
		return next(c)
	}
}

// refuse counts one refused request and logs, at most once per
// RefusedLogInterval, how many were refused since the last line.
func (a *admission) refuse() {
	if a.refused != nil {
		a.refused.Inc()
	}
	a.mu.Lock()
	a.pending++
	now := a.now()
	if now.Sub(a.lastLog) < RefusedLogInterval {
		a.mu.Unlock()
		return
	}
	n := a.pending
	a.pending, a.lastLog = 0, now
	a.mu.Unlock()
	a.log.Warn().Str(logging.Event, "requests_refused").Str(logging.Reason, ReasonMaxInFlight).
		Int(logging.Count, n).Msg(fmt.Sprintf("%d requests in flight: refusing more with 503 (this line: at most one per %s)",
		a.max, RefusedLogInterval))
}
