// Package replay re-classifies recorded alerts with candidate rules and
// says what would have been different (docs/rollout.md#replay): alerts that
// would newly match, stop matching or match another rule, and commands that
// would render differently. It only reads: the decisions and the stored
// executions' requests from the store, the candidate rules from memory.
// Nothing runs, nothing is written, nothing leaves the process: rules are
// matched with the classifier's own code (shared/rules), which does no
// I/O, and tasks are described with task.Preview, which does none either
// (http's Describe would look its destination up; Preview does not).
// Secrets are never resolved: a {{ secret "NAME" }} renders as <secret>.
package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/task"
)

// Kinds of difference (api.ReplayKinds).
const (
	NewlyMatched   = api.ReplayNewlyMatched
	Unmatched      = api.ReplayUnmatched
	ChangedRule    = api.ReplayChangedRule
	CommandChanged = api.ReplayCommandChanged
)

// Kinds lists the kinds in the order reports group them.
var Kinds = api.ReplayKinds

// Reasons a decision is skipped (not re-classified).
const (
	SkipPayloadOmitted = "payload_omitted" // the envelope was larger than api.MaxDecisionPayload
	SkipNotClassified  = "not_classified"  // posted to the action handler directly (result direct)
	SkipUnavailable    = "unavailable"     // nothing was decided (result unavailable)
	SkipBadPayload     = "bad_payload"     // the stored payload is not an envelope
)

// Limits.
const (
	DefaultLimit = 1000
	MaxLimit     = store.MaxReplayLimit
)

// Source reads recorded decisions (store.SQL).
type Source interface {
	ReplayDecisions(ctx context.Context, f store.ReplayFilter) ([]store.ReplayDecision, bool, error)
}

// Options configure New.
type Options struct {
	Store Source
	// Runners are the task types' runners, as the engine runs them (not
	// wrapped for development mode); a step of a type without one is
	// shown refused.
	Runners map[string]task.Runner
	// Redact masks configured secrets in what is shown; nil: none.
	Redact *redact.Redactor
}

// Replayer replays. It is safe for concurrent use.
type Replayer struct {
	o Options
}

// New returns a Replayer.
func New(o Options) *Replayer { return &Replayer{o: o} }

// Request is one replay: the candidate rules and the decisions to replay
// (received in [Since, Until), zero: unbounded; the newest Limit, 0:
// DefaultLimit).
type Request struct {
	Rules        *rules.Set
	Since, Until time.Time
	Limit        int
}

// What a replay reports: the API's types.
type (
	Report     = api.ReplayAnswer
	Difference = api.ReplayDifference
	Rule       = api.ReplayRule
	Command    = api.ReplayCommand
)

// ErrLimit: the limit is out of range.
var ErrLimit = fmt.Errorf("limit: want 1 to %d", MaxLimit)

// Replay re-classifies the decisions req selects with req.Rules and
// reports the differences. Only a store error fails it: a value a
// template refuses is shown refused.
func (p *Replayer) Replay(ctx context.Context, req Request) (*Report, error) {
	if req.Rules == nil {
		return nil, errors.New("replay: no rules")
	}
	limit := req.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 0 || limit > MaxLimit {
		return nil, ErrLimit
	}
	ds, more, err := p.o.Store.ReplayDecisions(ctx, store.ReplayFilter{Since: req.Since, Until: req.Until, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	rep := &Report{Since: req.Since, Until: req.Until, Decisions: len(ds), Truncated: more,
		Counts: map[string]int{}, Differences: []Difference{}}
	for _, k := range Kinds {
		rep.Counts[k] = 0
	}
	for i := range ds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		diff, skip := p.one(req.Rules, &ds[i])
		switch {
		case skip != "":
			if rep.Skipped == nil {
				rep.Skipped = map[string]int{}
			}
			rep.Skipped[skip]++
			continue
		case diff == nil:
			rep.Unchanged++
		default:
			rep.Counts[diff.Kind]++
			rep.Differences = append(rep.Differences, *diff)
		}
		rep.Replayed++
	}
	return rep, nil
}

// one replays one decision: its difference (nil: none), or why it was
// skipped.
func (p *Replayer) one(set *rules.Set, rd *store.ReplayDecision) (*Difference, string) {
	d := rd.Decision
	switch {
	case d.Result == api.ResultDirect:
		return nil, SkipNotClassified
	case d.Result == api.ResultUnavailable:
		return nil, SkipUnavailable
	case d.PayloadOmitted || len(d.Payload) == 0:
		return nil, SkipPayloadOmitted
	}
	env, err := alert.Decode(d.Payload)
	if err != nil {
		return nil, SkipBadPayload
	}

	// Before: the rules the classifier pushed (matched, or refused by the
	// action handler: they matched all the same).
	var before []Rule
	for _, m := range d.Matched {
		before = append(before, Rule{RuleName: m.RuleName, ExecutionID: m.ExecutionID})
	}
	// After: the candidate rules decided at the time the alert was, so
	// that a rule's wait (min_age) decides as it did.
	// A rule that cannot be evaluated does not act, for the classifier
	// either.
	v := set.Decide(rules.NewAlert(env), d.ReceivedAt)
	after, afterResult := v.Matched, v.Result()
	afterRules := make([]Rule, len(after))
	for i, r := range after {
		afterRules[i] = Rule{RuleName: r.Def.Name, File: r.File}
	}
	diff := &Difference{DecisionID: d.ID, AlertID: d.AlertID, UniqueValue: d.UniqueValue, FeedType: d.FeedType,
		Summary: d.Summary, ReceivedAt: d.ReceivedAt, BeforeResult: d.Result, AfterResult: afterResult,
		Before: nonNil(before), After: afterRules}

	names := func(rs []Rule) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.RuleName
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	bn, an := names(before), names(afterRules)
	switch {
	case len(bn) == 0 && len(an) == 0:
		return nil, ""
	case len(bn) == 0:
		diff.Kind = NewlyMatched
		p.renderAfter(diff, after, env)
		return diff, ""
	case len(an) == 0:
		diff.Kind = Unmatched
		return diff, ""
	case !slices.Equal(bn, an):
		diff.Kind = ChangedRule
		p.renderAfter(diff, after, env)
		return diff, ""
	}

	// The same rules: compare what each would run, rendered for the alert,
	// the rule as executed against the candidate.
	changed := false
	for i := range diff.After {
		ar := &diff.After[i]
		br := findRule(diff.Before, ar.RuleName)
		executed := p.executed(rd, br)
		if executed == nil {
			continue // no stored execution (pruned, or the push was refused): nothing to compare
		}
		bc := p.commands(executed, env)
		ac := p.commands(after[i].Def, env)
		if !slices.Equal(bc, ac) {
			br.Commands, ar.Commands = bc, ac
			changed = true
		}
	}
	if !changed {
		return nil, ""
	}
	diff.Kind = CommandChanged
	return diff, ""
}

// renderAfter sets the commands of the candidate rules that would newly
// act on the alert: what would run.
func (p *Replayer) renderAfter(diff *Difference, after []*rules.Rule, env *alert.Envelope) {
	for i, r := range after {
		if findRule(diff.Before, r.Def.Name) == nil {
			diff.After[i].Commands = p.commands(r.Def, env)
		}
	}
}

func findRule(rs []Rule, name string) *Rule {
	for i := range rs {
		if rs[i].RuleName == name {
			return &rs[i]
		}
	}
	return nil
}

// executed is the rule as br's execution stored it, nil when unknown.
func (p *Replayer) executed(rd *store.ReplayDecision, br *Rule) *rule.Rule {
	if br == nil || br.ExecutionID == "" {
		return nil
	}
	data, ok := rd.Requests[br.ExecutionID]
	if !ok {
		return nil
	}
	req, err := action.Decode(data)
	if err != nil {
		return nil
	}
	return req.Rule
}

// commands renders every task of r on every host it resolves for env.
func (p *Replayer) commands(r *rule.Rule, env *alert.Envelope) []Command {
	entities, err := r.ResolveEntities(env)
	if err != nil {
		return []Command{{Task: -1, Refused: p.redact("entities: " + err.Error())}}
	}
	var out []Command
	for i, ti := range r.Tasks {
		t := ti.Task
		for _, ent := range entities {
			c := Command{Task: i, TaskType: t.TaskType, Action: t.Action, Entity: ent}
			s := task.Step{AlertID: env.ID(), RuleName: r.Name, Index: i, Task: t, Entity: ent,
				Alert: env.Raw, Secret: maskSecret}
			var desc string
			var err error
			if runner, ok := p.o.Runners[t.TaskType]; ok {
				desc, err = task.Preview(runner, s)
			} else {
				err = fmt.Errorf("no runner for task type %q", t.TaskType)
			}
			if err != nil {
				c.Refused = p.redact(err.Error())
			} else {
				c.Command = p.redact(desc)
			}
			out = append(out, c)
		}
	}
	return out
}

// maskSecret stands for every secret: replay never resolves one.
func maskSecret(string) (string, error) { return redact.Mask, nil }

func (p *Replayer) redact(s string) string {
	if p.o.Redact == nil {
		return s
	}
	return p.o.Redact.String(s)
}

func nonNil(rs []Rule) []Rule {
	if rs == nil {
		return []Rule{}
	}
	return rs
}
