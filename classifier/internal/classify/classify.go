// Package classify decides what happens to one alert: which rules match it,
// pushing each matched rule to an action handler, and what is written back
// on the alert (notes, the investigation team).
package classify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/rules"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// WritebackTimeout bounds the notes and team written for one alert. They
// are written even if the caller has gone, once an action was pushed.
const WritebackTimeout = 30 * time.Second

// maxNoteError is the most of an error message quoted in a note.
const maxNoteError = 500

// ErrUnavailable means nothing was decided or written: the alert should be
// offered again later (HTTP 503).
var ErrUnavailable = errors.New("unavailable, try again later")

// Options configure New.
type Options struct {
	Rules   rules.Loader
	Actions Pusher
	Tickets ticket.Set // by feed type and name (ForFeed); an alert whose feed has none is not written back
	Queue   string     // default_investigation_queue
	// AutoQueue (autoremediation_queue) is the team added to an alert once
	// at least one matched rule was pushed; "" adds none.
	AutoQueue string
	// FeedTypes are feed types alerts are expected from (configured
	// intake and ticket systems), for metric labels; besides these, the
	// rules' alert_feed values count, and anything else is OtherFeedType.
	FeedTypes []string
	Metrics   *Metrics // nil: none
	Now       func() time.Time
	Log       zerolog.Logger
}

// Classifier classifies alerts. It is safe for concurrent use.
type Classifier struct {
	o Options
}

// New returns a Classifier.
func New(o Options) *Classifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tickets == nil {
		o.Tickets = ticket.Set{}
	}
	return &Classifier{o: o}
}

// Result is the answer to one classification: api.Classification plus the
// write-back problems, if any.
type Result struct {
	api.Classification
	WritebackErrors []string `json:"writeback_errors,omitempty"`
}

// pushed is one matched rule and what pushing it gave.
type pushed struct {
	rule *rules.Rule
	exec string
	err  error
}

// Classify matches env against the current rules and acts on the outcome:
//
//   - matched: push each matched rule to its action handler and note it on
//     the alert; once one was pushed, add the alert to the autoremediation
//     queue team (so the poller's query no longer lists it); a rule that cannot be pushed for good (no handler for its
//     os_type, a 4xx answer) is noted and the alert routed to the
//     investigation queue. If every push failed temporarily, nothing is
//     written and ErrUnavailable is returned.
//   - deferred (a rule would match but the alert is too young, and none
//     matched): nothing is pushed or written.
//   - unmatched: note it and route the alert to the investigation queue.
//     If that write fails, ErrUnavailable is returned so the alert is
//     offered again.
func (c *Classifier) Classify(ctx context.Context, env *alert.Envelope) (*Result, error) {
	start := time.Now()
	res, set, err := c.classify(ctx, env)
	result := ResultUnavailable
	if err == nil {
		result = res.Result
	}
	c.o.Metrics.classified(c.feedLabel(set, env.Meta.FeedType), result, time.Since(start))
	return res, err
}

// feedLabel is feedType as spelled by the rules or the configuration, or
// OtherFeedType.
func (c *Classifier) feedLabel(set *rules.Set, feedType string) string {
	if set != nil {
		if ft := set.FeedType(feedType); ft != "" {
			return ft
		}
	}
	for _, ft := range c.o.FeedTypes {
		if strings.EqualFold(ft, feedType) {
			return ft
		}
	}
	return OtherFeedType
}

// classify is Classify; it also returns the rule set it used (nil if none
// could be loaded).
func (c *Classifier) classify(ctx context.Context, env *alert.Envelope) (*Result, *rules.Set, error) {
	lc := c.o.Log.With().
		Str(logging.AlertID, env.ID()).
		Str(logging.UniqueValue, env.Meta.UniqueValue).
		Str(logging.FeedType, env.Meta.FeedType)
	if by := RequestedBy(ctx); by != "" {
		lc = lc.Str(logging.RequestedBy, by) // who posted the alert (the token name)
	}
	log := lc.Logger()

	set, err := c.o.Rules.Load(ctx)
	if err != nil {
		log.Error().Str(logging.Event, "rules_unavailable").Str(logging.ErrorKey, err.Error()).Send()
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}

	a := rules.NewAlert(env)
	now := c.o.Now()
	checked := set.Applicable(env.Meta.FeedType)
	var matched, deferred []*rules.Rule
	var failed []string // rules that could not be evaluated, with why
	set.Candidates(a, func(r *rules.Rule) bool {
		out, err := r.Matcher.Match(a, now)
		switch {
		case err != nil:
			log.Warn().Str(logging.Event, "rule_error").Str(logging.RuleName, r.Def.Name).
				Str(logging.RuleFile, r.File).Str(logging.ErrorKey, err.Error()).Msg("rule not evaluated")
			failed = append(failed, fmt.Sprintf("rule %s could not be evaluated: %v", r.Def.Name, err))
		case out == rules.Matched:
			c.o.Metrics.ruleMatched(r.Def.Name)
			matched = append(matched, r)
		case out == rules.Deferred:
			log.Debug().Str(logging.Event, "rule_deferred").Str(logging.RuleName, r.Def.Name).Send()
			deferred = append(deferred, r)
		}
		return true
	})

	res := &Result{Classification: api.Classification{UniqueValue: env.Meta.UniqueValue, RulesChecked: checked}}
	switch {
	case len(matched) > 0:
		if len(deferred) > 0 {
			log.Info().Str(logging.Event, "rules_deferred_dropped").Int(logging.Count, len(deferred)).
				Msg("other rules matched; deferred rules are not offered again")
		}
		res, err := c.act(ctx, log, env, matched, res)
		return res, set, err
	case len(deferred) > 0:
		res.Result = api.ResultDeferred
		log.Info().Str(logging.Event, "alert_deferred").Int(logging.Count, len(deferred)).Msg("alert too young for its rules")
		return res, set, nil
	default:
		res, err := c.unmatched(ctx, log, env, failed, res)
		return res, set, err
	}
}

// act pushes the matched rules and writes back what happened.
func (c *Classifier) act(ctx context.Context, log zerolog.Logger, env *alert.Envelope, matched []*rules.Rule, res *Result) (*Result, error) {
	results := make([]pushed, 0, len(matched))
	allTemporary := true
	for _, r := range matched {
		acc, err := c.o.Actions.Push(ctx, &action.Request{Alert: env, Rule: r.Def, RequestedBy: RequestedBy(ctx)})
		c.o.Metrics.pushed(r.Def.OSType, err)
		results = append(results, pushed{rule: r, exec: acc.ExecutionID, err: err})
		if err == nil || !Temporary(err) {
			allTemporary = false
		}
	}
	if allTemporary {
		var msgs []string
		for _, p := range results {
			log.Warn().Str(logging.Event, "action_push_failed").Str(logging.RuleName, p.rule.Def.Name).
				Str(logging.ErrorKey, p.err.Error()).Msg("action handler unavailable; alert to be offered again")
			msgs = append(msgs, fmt.Sprintf("rule %s: %v", p.rule.Def.Name, p.err))
		}
		return nil, fmt.Errorf("%w: action handler: %s", ErrUnavailable, strings.Join(msgs, "; "))
	}

	// Something was pushed or failed for good: write it all down, even if
	// the caller goes away now.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), WritebackTimeout)
	defer cancel()
	w := c.writer(log, env)
	route, anyPushed := false, false
	res.Result = api.ResultMatched
	for _, p := range results {
		name := p.rule.Def.Name
		ma := api.MatchedAction{RuleName: name, ExecutionID: p.exec}
		if p.err == nil {
			log.Info().Str(logging.Event, "rule_matched").Str(logging.RuleName, name).
				Str(logging.RuleFile, p.rule.File).Str(logging.ExecutionID, p.exec).Msg("pushed to action handler")
			note := fmt.Sprintf("Autoremediation rule %s has matched, pushing to Action Handler", name)
			if p.exec != "" {
				note += fmt.Sprintf(" (execution %s)", p.exec)
			}
			w.note(wctx, note)
			anyPushed = true
		} else {
			route = true
			ma.Error = p.err.Error()
			retry := ""
			if Temporary(p.err) {
				retry = "It will not be retried. "
			}
			ev := log.Error().Str(logging.Event, "action_push_failed").Str(logging.RuleName, name).
				Str(logging.RuleFile, p.rule.File).Str(logging.ErrorKey, p.err.Error()).
				Str(logging.Team, c.o.Queue)
			if errors.Is(p.err, ErrNoHandler) {
				// Nothing reached an action handler: this line is the only
				// record of the remediation that did not run. (A push the
				// action handler refused is reported by the action handler.)
				ev = ev.Str(logging.ActionStatus, logging.StatusRefused).Str(logging.Reason, logging.ReasonNoHandler)
			}
			ev.Msg("rule matched but not pushed; routing to investigation")
			w.note(wctx, fmt.Sprintf("Autoremediation rule %s has matched, but pushing to Action Handler failed: %s. %sRouting to %s for investigation.",
				name, logging.Trim(p.err.Error(), maxNoteError), retry, c.o.Queue))
		}
		res.Matched = append(res.Matched, ma)
	}
	if anyPushed && c.o.AutoQueue != "" {
		w.team(wctx, c.o.AutoQueue)
	}
	if route {
		w.team(wctx, c.o.Queue)
	}
	res.WritebackErrors = w.errs
	return res, nil
}

// unmatched notes that no rule matched and routes to the investigation queue.
func (c *Classifier) unmatched(ctx context.Context, log zerolog.Logger, env *alert.Envelope, failed []string, res *Result) (*Result, error) {
	res.Result = api.ResultUnmatched
	log.Info().Str(logging.Event, "alert_unmatched").Int(logging.Count, res.RulesChecked).
		Str(logging.Team, c.o.Queue).Msg("no rule matched; routing to investigation")
	note := fmt.Sprintf("Alexis checked %d rules; none matched. Routing to %s for investigation.", res.RulesChecked, c.o.Queue)
	for _, f := range failed {
		note += " Note: " + logging.Trim(f, maxNoteError) + "."
	}
	w := c.writer(log, env)
	w.note(ctx, note)
	w.team(ctx, c.o.Queue)
	if len(w.errs) > 0 {
		// Nothing else happened: better to be offered again than lost.
		return nil, fmt.Errorf("%w: write back: %s", ErrUnavailable, strings.Join(w.errs, "; "))
	}
	return res, nil
}

// writer writes back to one alert, collecting failures.
type writer struct {
	t    ticket.Ticket // nil: no ticket system for the feed type
	id   string
	log  zerolog.Logger
	errs []string
}

func (c *Classifier) writer(log zerolog.Logger, env *alert.Envelope) *writer {
	t, ok := c.o.Tickets.ForFeed(env.Meta.FeedType, env.Meta.FeedName)
	if !ok {
		log.Info().Str(logging.Event, "writeback_skipped").
			Msg("no ticket system configured for this feed type; nothing written on the alert")
		return &writer{log: log}
	}
	return &writer{t: t, id: env.ID(), log: log}
}

func (w *writer) note(ctx context.Context, note string) {
	if w.t != nil {
		w.check(w.t.AddNote(ctx, w.id, note), "add note", "")
	}
}

func (w *writer) team(ctx context.Context, team string) {
	if w.t != nil {
		w.check(w.t.AddTeam(ctx, w.id, team), "add team", team)
	}
}

func (w *writer) check(err error, op, team string) {
	if err == nil {
		return
	}
	ev := w.log.Error().Str(logging.Event, "writeback_failed")
	if team != "" {
		ev = ev.Str(logging.Team, team)
	}
	ev.Str(logging.ErrorKey, err.Error()).Msg(op + " failed")
	w.errs = append(w.errs, fmt.Sprintf("%s: %v", op, err))
}
