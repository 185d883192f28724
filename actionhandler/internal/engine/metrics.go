package engine

import (
	"context"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the action handler's metrics besides the store's
// statuses.
const (
	// ExecDuplicate counts requests answered with an earlier execution
	// (same alert and rule within dedup_window).
	ExecDuplicate = "duplicate"

	// Governor skip reasons.
	SkipMaxExecutions          = "max_executions"
	SkipMaxExecutionsPerEntity = "max_executions_per_entity"
	SkipCooldown               = "cooldown"
	SkipMaxHostsPerMinute      = "max_hosts_per_minute"
	SkipRulePaused             = "rule_paused" // the circuit breaker (api.ReasonRulePaused)
	SkipOther                  = "other"

	// Write-back results.
	WritebackOK    = "ok"
	WritebackError = "error"
)

// Metrics are the action handler's Prometheus metrics. A nil *Metrics
// records nothing.
type Metrics struct {
	actions     *prometheus.CounterVec
	executions  *prometheus.CounterVec
	actionSecs  *prometheus.HistogramVec
	execSecs    prometheus.Observer
	ssh         *prometheus.CounterVec
	writeback   *prometheus.CounterVec
	governor    *prometheus.CounterVec
	approvals   *prometheus.CounterVec
	queueLength prometheus.Collector
	verifies    *prometheus.CounterVec
	verifySecs  prometheus.Observer
}

// AwaitingCounter counts the executions waiting for approval
// (store.Store is one); a QueueCounter that is one also gets the gauge
// actionhandler_executions_awaiting_approval.
type AwaitingCounter interface {
	CountAwaitingApproval(ctx context.Context) (int, error)
}

// QueueCounter counts the executions waiting for a worker (store.Store is
// one).
type QueueCounter interface {
	CountQueued(ctx context.Context) (int, error)
}

// NewMetrics registers the action handler's metrics in m; the queue depth
// gauge reads st's queued executions at every scrape.
func NewMetrics(m *metrics.Metrics, st QueueCounter) *Metrics {
	buckets := []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	x := &Metrics{
		actions: m.CounterVec("actions_total",
			"Tasks run on one host, by task type and status (success, failure, dry_run, audit).", "task_type", "status"),
		executions: m.CounterVec("executions_total",
			"Executions ended or refused, by status (success, failure, skipped, interrupted, dry_run, audit, remediated, ineffective, denied, expired, duplicate).", "status"),
		actionSecs: m.HistogramVec("action_duration_seconds",
			"Time one task took on one host, by task type.", buckets, "task_type"),
		execSecs: m.HistogramVec("execution_duration_seconds",
			"Time an execution took from its start to its end (write-back excluded).", buckets).WithLabelValues(),
		ssh: m.CounterVec("ssh_connections_total",
			"SSH connections used to run commands, by result (opened, reused, failed).", "result"),
		writeback: m.CounterVec("writeback_calls_total",
			"Calls to ticket systems, by system, operation and result (ok, error).", "system", "op", "result"),
		governor: m.CounterVec("governor_skips_total",
			"Executions the governor refused, by reason (max_executions, max_executions_per_entity, cooldown, max_hosts_per_minute, rule_paused, other).",
			"reason"),
		approvals: m.CounterVec("approvals_total",
			"Executions awaiting approval that were decided, by outcome (approved, denied, expired).", "outcome"),
	}
	x.verifies = m.CounterVec("verifications_total",
		"Verifications ended, by outcome (remediated, ineffective).", "outcome")
	x.verifySecs = m.HistogramVec("verification_duration_seconds",
		"Time a verification took: its verify task on every host and the alert's status.", buckets).WithLabelValues()
	x.queueLength = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.Service + "_queue_depth",
		Help: "Executions queued in the store, waiting for a worker (of every replica sharing it)."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := st.CountQueued(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	m.Registry.MustRegister(x.queueLength)
	if ac, ok := st.(AwaitingCounter); ok {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.Service + "_executions_awaiting_approval",
			Help: "Executions waiting for a person's approval in the store (of every replica sharing it); -1 when it cannot be read."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				n, err := ac.CountAwaitingApproval(ctx)
				if err != nil {
					return -1
				}
				return float64(n)
			}))
	}
	return x
}

func (m *Metrics) action(taskType, status string, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.actions.WithLabelValues(taskType, status).Inc()
	if status != store.DryRun && status != store.Audit {
		m.actionSecs.WithLabelValues(taskType).Observe(elapsed.Seconds())
	}
}

func (m *Metrics) execution(status string, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.executions.WithLabelValues(status).Inc()
	if elapsed > 0 && status != store.Audit { // audit ran nothing: not a remediation's duration
		m.execSecs.Observe(elapsed.Seconds())
	}
}

func (m *Metrics) verification(outcome string, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.verifies.WithLabelValues(outcome).Inc()
	m.verifySecs.Observe(elapsed.Seconds())
}

func (m *Metrics) approval(outcome string) {
	if m != nil {
		m.approvals.WithLabelValues(outcome).Inc()
	}
}

// Duplicate counts a request answered with an earlier execution.
func (m *Metrics) Duplicate() {
	if m != nil {
		m.executions.WithLabelValues(ExecDuplicate).Inc()
	}
}

// SSHConnection counts a connection used by the SSH executor
// (sshexec.Options.OnConnection).
func (m *Metrics) SSHConnection(result string) {
	if m != nil {
		m.ssh.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) skipped(reason string) {
	if m != nil {
		m.governor.WithLabelValues(SkipReason(reason)).Inc()
	}
}

// SkipReason is the bounded label for a governor's reason text.
func SkipReason(reason string) string {
	switch {
	case strings.HasPrefix(reason, SkipRulePaused+":"):
		return SkipRulePaused
	case strings.Contains(reason, "(max_executions_per_entity "):
		return SkipMaxExecutionsPerEntity
	case strings.Contains(reason, "(max_executions "):
		return SkipMaxExecutions
	case strings.Contains(reason, "(cooldown "):
		return SkipCooldown
	case strings.Contains(reason, "max_hosts_per_minute"):
		return SkipMaxHostsPerMinute
	}
	return SkipOther
}

// Tickets returns set with every ticket system counting its calls in
// actionhandler_writeback_calls_total. With m nil it returns set.
func (m *Metrics) Tickets(set ticket.Set) ticket.Set {
	if m == nil {
		return set
	}
	return ticket.Observe(set, func(system, kind string, err error) {
		result := WritebackOK
		if err != nil {
			result = WritebackError
		}
		m.writeback.WithLabelValues(system, kind, result).Inc()
	})
}
