// Package classify decides what happens to one alert: which rules match it,
// pushing each matched rule to an action handler, and what is written back
// on the alert (notes, the investigation team).
package classify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rules"
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
	// History records one decision per Classify call; nil records none.
	History Recorder
	Now     func() time.Time
	Log     zerolog.Logger
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
//     queue team (so the poller's query no longer lists it); a rule that
//     cannot be pushed (no handler for its os_type, a 4xx answer) is noted
//     and the alert routed to the investigation queue. When no rule could
//     be pushed, the result is refused instead of matched. If every push
//     failed in a way trying again may fix (unreachable, 5xx, 429, or 401
//     and 403: the action handler refusing the classifier's credentials),
//     nothing is written and ErrUnavailable is returned.
//   - deferred (a rule would match but the alert is too young, and none
//     matched): nothing is pushed or written.
//   - unmatched: note it and route the alert to the investigation queue.
//     If that write fails, ErrUnavailable is returned so the alert is
//     offered again.
func (c *Classifier) Classify(ctx context.Context, env *alert.Envelope) (*Result, error) {
	start := time.Now()
	received := c.o.Now()
	res, dd, err := c.classify(ctx, env)
	result := ResultUnavailable
	if err == nil {
		result = res.Result
	}
	c.record(ctx, env, received, res, err, dd)
	c.o.Metrics.classified(c.feedLabel(dd.set, env.Meta.FeedType), result, time.Since(start))
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
// could be loaded) and the time it decided them at.
func (c *Classifier) classify(ctx context.Context, env *alert.Envelope) (*Result, decided, error) {
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
		return nil, decided{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}

	a := rules.NewAlert(env)
	now := c.o.Now()
	dd := decided{set: set, now: now}
	checked := set.Applicable(env.Meta.FeedType)
	v := set.Decide(a, now)
	matched, deferred := v.Matched, v.Deferred
	var failed []string // rules that could not be evaluated, with why
	for _, f := range v.Failed {
		log.Warn().Str(logging.Event, "rule_error").Str(logging.RuleName, f.Rule.Def.Name).
			Str(logging.RuleFile, f.Rule.File).Str(logging.ErrorKey, f.Err.Error()).Msg("rule not evaluated")
		failed = append(failed, fmt.Sprintf("rule %s could not be evaluated: %v", f.Rule.Def.Name, f.Err))
	}
	for _, r := range matched {
		c.o.Metrics.ruleMatched(r.Def.Name)
	}
	for _, r := range deferred {
		log.Debug().Str(logging.Event, "rule_deferred").Str(logging.RuleName, r.Def.Name).Send()
	}

	res := &Result{Classification: api.Classification{UniqueValue: env.Meta.UniqueValue, RulesChecked: checked}}
	switch {
	case len(matched) > 0:
		if len(deferred) > 0 {
			log.Info().Str(logging.Event, "rules_deferred_dropped").Int(logging.Count, len(deferred)).
				Msg("other rules matched; deferred rules are not offered again")
		}
		res, err := c.act(ctx, log, env, matched, res)
		return res, dd, err
	case len(deferred) > 0:
		res.Result = api.ResultDeferred
		log.Info().Str(logging.Event, "alert_deferred").Int(logging.Count, len(deferred)).Msg("alert too young for its rules")
		return res, dd, nil
	default:
		res, err := c.unmatched(ctx, log, env, failed, res)
		return res, dd, err
	}
}

// maxPushes is how many matched rules of one alert are pushed at once, and
// how many of its write-backs are written at once.
const maxPushes = 8

// act pushes the matched rules (at once, up to maxPushes) and writes back
// what happened before it returns:
//
//   - the notes (one per matched rule) and the autoremediation_queue team
//     are written at the same time: nothing depends on their order (the
//     team only takes the alert out of the poller's query);
//   - the default_investigation_queue team is added only after every note
//     was written (or failed), so the people it pages find the note
//     saying why.
func (c *Classifier) act(ctx context.Context, log zerolog.Logger, env *alert.Envelope, matched []*rules.Rule, res *Result) (*Result, error) {
	results := make([]pushed, len(matched))
	by := RequestedBy(ctx)
	if err := ctx.Err(); err != nil {
		// The caller went away before anything was pushed: nothing
		// happened, and it offers the alert again.
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, context.Cause(ctx))
	}
	// A push that has started is seen through even if the caller goes
	// away: the action handler may already have queued it, and cancelling
	// would make this answer (and the metric and log) say "offer again"
	// about an execution that exists. The client's timeout bounds it.
	pctx := context.WithoutCancel(ctx)
	parallel(len(matched), maxPushes, func(i int) {
		r := matched[i]
		acc, err := c.o.Actions.Push(pctx, &action.Request{Alert: env, Rule: r.Def, RequestedBy: by})
		c.o.Metrics.pushed(r.Def.OSType, err)
		results[i] = pushed{rule: r, exec: acc.ExecutionID, err: err}
	})
	offerAgain := true // every push failed in a way trying again may fix
	for _, p := range results {
		if o := Outcome(p.err); o != PushUnavailable && o != PushUnauthorized {
			offerAgain = false
		}
	}
	if offerAgain {
		var msgs []string
		for _, p := range results {
			ev := log.Warn()
			if Outcome(p.err) == PushUnauthorized {
				// Nothing fixes this but the configuration: say so loudly.
				ev = log.Error().Str(logging.Reason, ReasonUnauthorized)
			}
			ev.Str(logging.Event, "action_push_failed").Str(logging.RuleName, p.rule.Def.Name).
				Str(logging.ErrorKey, p.err.Error()).Msg("action handler unavailable or refusing our credentials; alert to be offered again")
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
	notes := make([]string, 0, len(results)+1)
	res.Result = api.ResultRefused
	res.Matched = make([]api.MatchedAction, 0, len(results))
	for _, p := range results {
		name := p.rule.Def.Name
		ma := api.MatchedAction{RuleName: name, ExecutionID: p.exec, Status: Outcome(p.err)}
		if p.err == nil {
			log.Info().Str(logging.Event, "rule_matched").Str(logging.RuleName, name).
				Str(logging.RuleFile, p.rule.File).Str(logging.ExecutionID, p.exec).Msg("pushed to action handler")
			note := "Autoremediation rule " + name + " has matched, pushing to Action Handler"
			if p.exec != "" {
				note += " (execution " + p.exec + ")"
			}
			notes = append(notes, note)
			anyPushed = true
			res.Result = api.ResultMatched
		} else {
			route = true
			ma.Error = p.err.Error()
			retry := ""
			if o := Outcome(p.err); o == PushUnavailable || o == PushUnauthorized {
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
			notes = append(notes, fmt.Sprintf("Autoremediation rule %s has matched, but pushing to Action Handler failed: %s. %sRouting to %s for investigation.",
				name, logging.Trim(p.err.Error(), maxNoteError), retry, c.o.Queue))
		}
		res.Matched = append(res.Matched, ma)
	}
	writes := make([]func(), 0, len(notes)+1)
	for _, n := range notes {
		writes = append(writes, func() { w.note(wctx, n) })
	}
	if anyPushed && c.o.AutoQueue != "" {
		writes = append(writes, func() { w.team(wctx, c.o.AutoQueue) })
	}
	parallel(len(writes), maxPushes, func(i int) { writes[i]() })
	if route {
		w.team(wctx, c.o.Queue)
	}
	res.WritebackErrors = w.errs
	return res, nil
}

// parallel calls f(0) … f(n-1), at most limit at once, and returns when
// all returned. When all fit within limit, f(0) runs on the calling
// goroutine (one goroutine fewer for the usual note + team).
func parallel(n, limit int, f func(int)) {
	if n == 1 || limit <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	if n <= limit {
		for i := 1; i < n; i++ {
			wg.Go(func() { f(i) })
		}
		f(0)
		wg.Wait()
		return
	}
	sem := make(chan struct{}, limit)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// unmatched notes that no rule matched and routes to the investigation queue.
func (c *Classifier) unmatched(ctx context.Context, log zerolog.Logger, env *alert.Envelope, failed []string, res *Result) (*Result, error) {
	res.Result = api.ResultUnmatched
	log.Info().Str(logging.Event, "alert_unmatched").Int(logging.Count, res.RulesChecked).
		Str(logging.Team, c.o.Queue).Msg("no rule matched; routing to investigation")
	note := fmt.Sprintf("Alexis checked %d %s; none matched. Routing to %s for investigation.",
		res.RulesChecked, plural(res.RulesChecked, "rule", "rules"), c.o.Queue)
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

// writer writes back to one alert, collecting failures. It is safe for
// concurrent use.
type writer struct {
	t   ticket.Ticket // nil: no ticket system for the feed type
	id  string
	log zerolog.Logger

	mu   sync.Mutex
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
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, fmt.Sprintf("%s: %v", op, err))
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
