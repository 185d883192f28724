package classify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/tidwall/gjson"
)

// Recorder keeps what was decided for each alert (package record). It must
// not block: Classify calls it on the request's path.
type Recorder interface {
	// RecordWith queues d; complete, called later on the recorder's own
	// goroutine, fills in the explain summary.
	RecordWith(d api.Decision, complete func(*api.Decision))
}

// MaxDecisionMatched is the most matched rules a decision lists (the
// action handler's store takes no more).
const MaxDecisionMatched = 100

// MaxSummary is the most of an alert's message or title kept in a decision.
const MaxSummary = 256

// maxExplainText bounds each text of a decision's explain summary
// (expected, actual, reason).
const maxExplainText = 256

// summaryPaths are the alert fields a decision's summary is taken from,
// the first that is a non-empty string: OpsGenie's and Alertmanager's
// envelopes have message, Dynatrace's title.
var summaryPaths = []string{"message", "title", "summary"}

// decided is what one classification used, for its decision.
type decided struct {
	set *rules.Set // nil: the rules could not be loaded
	now time.Time  // the time the rules were decided at
}

// record hands the decision for env to the Recorder. The explain summary
// is computed on the recorder's goroutine from the Set (immutable once
// built) and a fresh rules.Alert over env (whose Raw is never changed),
// except for an envelope too large to keep (PayloadOmitted), explained at
// once so that the buffer does not hold it.
func (c *Classifier) record(ctx context.Context, env *alert.Envelope, received time.Time, res *Result, err error, dd decided) {
	if c.o.History == nil {
		return
	}
	d := api.Decision{
		ID:          newDecisionID(),
		ReceivedAt:  received.UTC(),
		FeedType:    env.Meta.FeedType,
		FeedName:    env.Meta.FeedName,
		AlertID:     env.ID(),
		UniqueValue: env.Meta.UniqueValue,
		Summary:     summary(env),
		Result:      api.ResultUnavailable,
		RequestedBy: RequestedBy(ctx),
	}
	if len(env.Raw) <= api.MaxDecisionPayload {
		d.Payload = env.Raw
	} else {
		d.PayloadOmitted = true
	}
	if err == nil && res != nil {
		d.Result, d.RulesChecked = res.Result, res.RulesChecked
		d.Matched = slices.Clone(res.Matched[:min(len(res.Matched), MaxDecisionMatched)])
	} else if dd.set != nil {
		d.RulesChecked = dd.set.Applicable(env.Meta.FeedType)
	}
	var complete func(*api.Decision)
	switch set, now := dd.set, dd.now; {
	case set == nil:
	case d.PayloadOmitted:
		// A waiting closure would hold the whole envelope (up to
		// body_limit) in the buffer: explain now; such alerts are rare.
		d.Rules = ExplainSummary(set, env, now)
	default:
		complete = func(d *api.Decision) { d.Rules = ExplainSummary(set, env, now) }
	}
	c.o.History.RecordWith(d, complete)
}

// MaxDecisionRules is the most rule files a decision's explain summary
// lists; rules_checked says how many there were.
const MaxDecisionRules = 20

// MaxSkippedRules is the most rules ruled out by the tag index (part 3 of
// ExplainSummary) a decision lists: each says only which tag the alert
// lacks, and encoding them is most of a decision's size.
const MaxSkippedRules = 5

// ExplainSummary is what the rule files of set decided for the alert at
// time now, as a decision keeps it, most telling first and at most
// MaxDecisionRules entries (file names without their directory):
//
//  1. the rules the alert was checked against (those the tag index did not
//     rule out), in file order: matched, deferred, error, or not_matched
//     with the first condition that failed and the value seen;
//  2. invalid rule files (they never match);
//  3. the other rules for the alert's feed type: not_matched, naming the
//     tag they require that the alert lacks (not evaluated further); at
//     most MaxSkippedRules of them.
//
// Rules disabled or written for another feed type say nothing about the
// alert and are left out. Matched and deferred rules are listed even past
// the limit.
func ExplainSummary(set *rules.Set, env *alert.Envelope, now time.Time) []api.DecisionRule {
	a := rules.NewAlert(env)
	var out []api.DecisionRule
	full := func() bool { return len(out) >= MaxDecisionRules }
	set.Candidates(a, func(r *rules.Rule) bool {
		if full() {
			// Only what acts on the alert still goes in.
			if o, err := r.Matcher.Match(a, now); err != nil || o == rules.NoMatch {
				return true
			}
		}
		out = append(out, explainRule(r, a, now))
		return true
	})
	for i := range set.Files { // by index: a File is large to copy
		if full() {
			break
		}
		if f := &set.Files[i]; f.Status != rules.StatusOK {
			out = append(out, invalidRule(f))
		}
	}
	if !full() {
		skipped := 0
		set.Skipped(a, func(r *rules.Rule, tag string) bool {
			skipped++
			out = append(out, api.DecisionRule{File: filepath.Base(r.File), RuleName: r.Def.Name, Status: rules.ExplainNotMatched,
				AlertPath: "tags", Op: rule.OpTagsInclude, Expected: capBytes(strconv.Quote(tag), maxExplainText),
				Reason: "the alert lacks a tag the rule requires; not evaluated further"})
			return !full() && skipped < MaxSkippedRules
		})
	}
	return out
}

// explainRule explains one rule the alert was checked against.
func explainRule(r *rules.Rule, a *rules.Alert, now time.Time) api.DecisionRule {
	d := api.DecisionRule{File: filepath.Base(r.File), RuleName: r.Def.Name}
	outcome, f, err := r.Matcher.Explain(a, now)
	switch {
	case err != nil:
		d.Status, d.Reason = rules.ExplainError, capBytes(err.Error(), maxExplainText)
	case outcome == rules.Matched:
		d.Status = rules.ExplainMatched
	case outcome == rules.Deferred:
		d.Status = rules.ExplainDeferred
		d.Reason = fmt.Sprintf("the rule waits until the alert is %s old", r.Matcher.Wait())
		if created, err := a.CreatedAt(); err == nil {
			d.Reason += "; it is " + now.Sub(created).Round(time.Second).String()
		}
	default:
		d.Status = rules.ExplainNotMatched
		if f != nil {
			d.RulePath, d.AlertPath, d.Op = f.RulePath, f.AlertPath, f.Op
			d.Expected = capBytes(string(f.Expected), maxExplainText)
			d.Actual = capBytes(f.Actual, maxExplainText)
			d.Reason = capBytes(f.Reason, maxExplainText)
		}
	}
	return d
}

// invalidRule is an invalid rule file's entry: its first error.
func invalidRule(f *rules.File) api.DecisionRule {
	d := api.DecisionRule{File: filepath.Base(f.Path), RuleName: f.RuleName, Status: rules.ExplainInvalid}
	if len(f.Errors) > 0 {
		d.Reason = capBytes(f.Errors[0].Path+": "+f.Errors[0].Msg, maxExplainText)
		if len(f.Errors) > 1 {
			d.Reason += fmt.Sprintf(" (+%d more)", len(f.Errors)-1)
		}
	}
	return d
}

// summary is the alert's message or title, at most MaxSummary bytes.
func summary(env *alert.Envelope) string {
	for _, p := range summaryPaths {
		if v := env.Get(p); v.Type == gjson.String && v.Str != "" {
			return capBytes(v.Str, MaxSummary)
		}
	}
	return ""
}

// capBytes shortens s to at most n bytes, on a rune boundary, ending with
// "…" when cut.
func capBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// newDecisionID is 16 random bytes in hex.
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
