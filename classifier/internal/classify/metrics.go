package classify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values.
const (
	// Classification results besides api.Result*: nothing was decided (the
	// rules could not be read, every push failed temporarily, or writing an
	// unmatched alert back failed), so the alert is to be offered again.
	ResultUnavailable = "unavailable"

	// OtherFeedType labels alerts of a feed type no rule, ticket system or
	// intake is configured for: label values stay bounded whatever clients
	// post.
	OtherFeedType = "other"

	// Push outcomes.
	PushAccepted    = "accepted"    // the action handler took it (new or deduplicated)
	PushUnavailable = "unavailable" // unreachable, timed out, 5xx or 429
	PushRejected    = "rejected"    // any other refusal (4xx)
	PushNoHandler   = "no_handler"  // no action handler for the rule's os_type
	// PushUnauthorized: the action handler answered 401 or 403, refusing
	// the classifier's token or signature: a configuration to fix.
	PushUnauthorized = "unauthorized"

	// ReasonUnauthorized is logged with pushes refused 401/403.
	ReasonUnauthorized = "unauthorized"
)

// Outcome is what a push that returned err gave: one of the Push*
// values (also each matched rule's status in an answer).
func Outcome(err error) string {
	var se *httpclient.StatusError
	switch {
	case err == nil:
		return PushAccepted
	case errors.Is(err, ErrNoHandler):
		return PushNoHandler
	case errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden):
		return PushUnauthorized
	case Temporary(err):
		return PushUnavailable
	default:
		return PushRejected
	}
}

// Metrics are the classifier's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	alerts    *prometheus.CounterVec
	matched   *prometheus.CounterVec
	deferred  prometheus.Counter
	pushes    *prometheus.CounterVec
	writeback *prometheus.CounterVec
	duration  prometheus.Observer
}

// NewMetrics registers the classifier's metrics in m.
func NewMetrics(m *metrics.Metrics) *Metrics {
	return &Metrics{
		alerts: m.CounterVec("alerts_classified_total",
			"Alerts classified, by feed type and result (matched, refused, unmatched, deferred, unavailable).", "feed_type", "result"),
		matched: m.CounterVec("rules_matched_total", "Times a rule matched an alert, by rule name.", "rule"),
		deferred: m.Counter("alerts_deferred_total",
			"Alerts a rule would act on but that are younger than the rule's min_age or duration."),
		pushes: m.CounterVec("action_pushes_total",
			"Matched rules pushed to an action handler, by os_type and outcome (accepted, unavailable, unauthorized, rejected, no_handler).",
			"os_type", "outcome"),
		writeback: m.CounterVec("writeback_calls_total",
			"Calls to ticket systems (notes, teams), by system, operation and result (ok, error).", "system", "op", "result"),
		duration: m.HistogramVec("classify_duration_seconds",
			"Time to classify one alert, pushes and write-back included.",
			[]float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}).WithLabelValues(),
	}
}

func (m *Metrics) classified(feedType, result string, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.alerts.WithLabelValues(feedType, result).Inc()
	if result == api.ResultDeferred {
		m.deferred.Inc()
	}
	m.duration.Observe(elapsed.Seconds())
}

func (m *Metrics) ruleMatched(name string) {
	if m != nil {
		m.matched.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) pushed(osType string, err error) {
	if m == nil {
		return
	}
	m.pushes.WithLabelValues(strings.ToLower(osType), Outcome(err)).Inc()
}

// Tickets returns set with every ticket system counting its calls in
// classifier_writeback_calls_total. With m nil it returns set.
func (m *Metrics) Tickets(set ticket.Set) ticket.Set {
	if m == nil {
		return set
	}
	return ticket.Observe(set, func(system, kind string, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.writeback.WithLabelValues(system, kind, result).Inc()
	})
}

// RulesCollector reports classifier_rules{status="ok"|"invalid"}, the rule
// files of the current set, read from l at every scrape.
func RulesCollector(service string, l rules.Loader) prometheus.Collector {
	return &rulesCollector{l: l, desc: prometheus.NewDesc(service+"_rules",
		"Rule files in rules_dir, by status (ok, invalid). An invalid file never matches.", []string{"status"}, nil)}
}

type rulesCollector struct {
	l    rules.Loader
	desc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *rulesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A directory that cannot be read
// reports nothing (the scrape still succeeds).
func (c *rulesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	set, err := c.l.Load(ctx)
	if err != nil {
		return
	}
	n := map[string]int{rules.StatusOK: 0, rules.StatusInvalid: 0}
	for _, f := range set.Files {
		n[f.Status]++
	}
	for status, count := range n {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(count), status)
	}
}
