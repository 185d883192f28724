package poller

import (
	"time"

	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the poller's Prometheus counters. A nil *Metrics records
// nothing.
type Metrics struct {
	polls      *prometheus.CounterVec
	pollTime   *prometheus.HistogramVec
	polledNew  *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
	leader     prometheus.Gauge
}

// NewMetrics registers the poller's metrics in m.
func NewMetrics(m *metrics.Metrics) *Metrics {
	return &Metrics{
		polls: m.CounterVec("polls_total", "Polls of a feed, by feed and outcome (ok, error).", "feed", "outcome"),
		pollTime: m.HistogramVec("poll_duration_seconds", "Time one poll of a feed took (list, fetch, deliver).",
			[]float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "feed"),
		polledNew: m.CounterVec("alerts_polled_total", "Alerts a poll found that were not delivered before, by feed.", "feed"),
		deliveries: m.CounterVec("alerts_delivered_total",
			"Alerts handed to the classifier, by feed and the classifier's answer (matched, unmatched, deferred, rejected, unknown).", "feed", "result"),
		failures: m.CounterVec("delivery_failures_total", "Alerts that could not be fetched or delivered (offered again next poll), by feed.", "feed"),
		leader:   m.Gauge("leader", "1 while this replica is the active poller (holds the lease; always 1 with a state file), 0 while standby."),
	}
}

// SetLeader records whether this replica is the active one.
func (m *Metrics) SetLeader(active bool) {
	if m == nil {
		return
	}
	if active {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

func (m *Metrics) polled(feed string, elapsed time.Duration, res Result, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.polls.WithLabelValues(feed, outcome).Inc()
	m.pollTime.WithLabelValues(feed).Observe(elapsed.Seconds())
	m.polledNew.WithLabelValues(feed).Add(float64(res.New))
	m.failures.WithLabelValues(feed).Add(float64(res.Failed))
}

func (m *Metrics) delivered(feed, result string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(feed, result).Inc()
}
