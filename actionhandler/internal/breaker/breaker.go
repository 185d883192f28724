// Package breaker is the circuit breaker (docs/rollout.md): it counts the
// consecutive failed, refused and ineffective executions of each rule (or
// of each rule on each host, with "pause_per_entity": true) and pauses the
// rule when the count reaches its governor's pause_after (or the action
// handler's governor.pause_after). The count and the pause are held in the
// store (store.Breaker), for one version of the rule (store.RuleHash), so
// every replica agrees; the governor skips executions of a paused rule at
// claim (governor.PausedReason), and a person resumes it (Resume: the API,
// the console, the CLI) or the rule file changes.
//
// What counts: failure, refused and ineffective add one; success and
// remediated reset the count. interrupted counts neither way: the
// execution was cut short (a shutdown, a dead replica, execution_timeout)
// and says nothing about whether the rule works.
package breaker

import (
	"context"
	"fmt"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// storeTimeout bounds each store call.
const storeTimeout = 10 * time.Second

// Store is where the breaker counts (store.SQL is one).
type Store interface {
	RecordOutcome(ctx context.Context, rule, entity, hash, execution string, failed bool,
		pauseAfter int, reason string) (store.Breaker, bool, error)
	Resume(ctx context.Context, rule, entity, by, why string) ([]store.Breaker, error)
	CountPaused(ctx context.Context) (int, error)
	Breakers(ctx context.Context) ([]store.Breaker, error)
}

// Options configure a Breaker.
type Options struct {
	Store Store
	// PauseAfter is the default for rules whose governor sets no
	// pause_after (config governor.pause_after); 0: off.
	PauseAfter int
	Log        zerolog.Logger
	// Metrics registers actionhandler_rules_paused and
	// actionhandler_rule_pauses_total; nil: none.
	Metrics *metrics.Metrics
}

// Breaker implements engine.Outcomes.
type Breaker struct {
	o      Options
	log    zerolog.Logger
	pauses *prometheus.CounterVec
}

// New returns a Breaker.
func New(o Options) *Breaker {
	b := &Breaker{o: o, log: o.Log.With().Str(logging.Component, "breaker").Logger()}
	if m := o.Metrics; m != nil {
		// Labels: rule names, bounded by the rule files; never alert values.
		b.pauses = m.CounterVec("rule_pauses_total",
			"Times the circuit breaker paused a rule (or a rule on one host), by rule.", "rule_name")
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.Service + "_rules_paused",
			Help: "Pauses of the circuit breaker holding now (a rule, or a rule on one host; every replica sharing the store)."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				n, err := o.Store.CountPaused(ctx)
				if err != nil {
					return -1
				}
				return float64(n)
			}))
	}
	return b
}

// PauseAfter is the count that pauses r: its governor's pause_after, else
// the default; 0: the breaker is off for r (nothing is counted).
func (b *Breaker) PauseAfter(r *rule.Rule) int {
	if r != nil && r.Governor != nil && r.Governor.PauseAfter > 0 {
		return r.Governor.PauseAfter
	}
	return b.o.PauseAfter
}

// Observe counts x's final outcome (engine.Outcomes).
func (b *Breaker) Observe(ctx context.Context, x *store.Execution, r *rule.Rule) {
	if x.Mode == store.Audit {
		return // nothing ran
	}
	var failed bool
	switch x.Status {
	case store.Failure, store.Refused, store.Ineffective:
		failed = true
	case store.Success, store.Remediated:
	default:
		return // interrupted (and anything else) says nothing about the rule
	}
	n := b.PauseAfter(r)
	if n <= 0 {
		return
	}
	hash := store.RuleHash(x.Request)
	if r == nil || r.Governor == nil || !r.Governor.PausePerEntity {
		b.count(ctx, x, "", hash, failed, n)
		return
	}
	bad := failedHosts(x)
	for _, ent := range x.Entities {
		// ineffective: verification judges the execution, not a host.
		// A failure with no step (its request unreadable) fails every host.
		b.count(ctx, x, ent, hash, x.Status == store.Ineffective || (failed && (bad[ent] || len(x.Steps) == 0)), n)
	}
}

// failedHosts are x's entities with a failed, refused or interrupted step.
func failedHosts(x *store.Execution) map[string]bool {
	bad := map[string]bool{}
	for _, st := range x.Steps {
		switch st.Status {
		case store.Failure, store.Refused, store.Interrupted:
			bad[st.Entity] = true
		}
	}
	return bad
}

func (b *Breaker) count(ctx context.Context, x *store.Execution, entity, hash string, failed bool, n int) {
	log := b.log.With().Str(logging.RuleName, x.RuleName).Str(logging.ExecutionID, x.ID).Logger()
	if entity != "" {
		log = log.With().Str(logging.Entity, entity).Logger()
	}
	reason := fmt.Sprintf("%d consecutive failed executions, the last %s (%s)", n, x.ID, x.Status)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	st, paused, err := b.o.Store.RecordOutcome(ctx, x.RuleName, entity, hash, x.ID, failed, n, reason)
	if err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("circuit breaker: cannot count the outcome")
		return
	}
	if !paused {
		return
	}
	if b.pauses != nil {
		b.pauses.WithLabelValues(x.RuleName).Inc()
	}
	log.Warn().Str(logging.Event, "rule_paused").Int(logging.Failed, st.Failures).
		Str(logging.Detail, reason).Msg("circuit breaker: rule paused")
}

// Resumed logs pauses ended by by (a token's name, or
// store.ResumedByRuleChange) with why.
func (b *Breaker) Resumed(bs []store.Breaker, by, why string) {
	for _, r := range bs {
		ev := b.log.Info().Str(logging.Event, "rule_resumed").Str(logging.RuleName, r.RuleName)
		if by != store.ResumedByRuleChange {
			ev = ev.Str(logging.Client, by)
		}
		if r.Entity != "" {
			ev = ev.Str(logging.Entity, r.Entity)
		}
		if by == store.ResumedByRuleChange {
			ev = ev.Str(logging.Reason, store.ResumedByRuleChange)
		} else {
			ev = ev.Str(logging.Reason, "resumed").Str(logging.Detail, why)
		}
		ev.Msg("circuit breaker: rule resumed")
	}
}

// OnRuleChanged is governor.Options.OnResumed: it logs a pause the claim
// of a changed rule ended.
func (b *Breaker) OnRuleChanged(r store.Breaker) {
	b.Resumed([]store.Breaker{r}, store.ResumedByRuleChange, "the rule changed")
}

// Resume ends rule's pause on entity ("*": every pause of the rule),
// recording by and why, and logs each (rule_resumed).
func (b *Breaker) Resume(ctx context.Context, rule, entity, by, why string) ([]store.Breaker, error) {
	bs, err := b.o.Store.Resume(ctx, rule, entity, by, why)
	if err != nil {
		return nil, err
	}
	b.Resumed(bs, by, why)
	return bs, nil
}

// Breakers is every rule's (and host's) breaker state, paused first.
func (b *Breaker) Breakers(ctx context.Context) ([]store.Breaker, error) {
	return b.o.Store.Breakers(ctx)
}
