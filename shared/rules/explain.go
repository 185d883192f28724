package rules

import (
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
)

// Explanation statuses.
const (
	ExplainMatched    = "matched"
	ExplainNotMatched = "not_matched"
	ExplainDeferred   = "deferred"   // the conditions hold but the alert is too young
	ExplainInvalid    = "invalid"    // the file has errors: it never matches
	ExplainDisabled   = "disabled"   // enabled is false
	ExplainOtherFeed  = "other_feed" // written for another alert_feed
	ExplainError      = "error"      // the alert lacks what the rule needs to decide (e.g. createdAt)
)

// Explanation says what one rule file decides for an alert, and why.
type Explanation struct {
	File        string      `json:"file"`
	RuleName    string      `json:"rule_name,omitempty"`
	RuleVersion string      `json:"rule_version,omitempty"`
	Status      string      `json:"status"`
	Failure     *Failure    `json:"failure,omitempty"` // not_matched: the first condition that failed
	Errors      rule.Errors `json:"errors,omitempty"`  // invalid
	Error       string      `json:"error,omitempty"`   // error
	Wait        string      `json:"wait,omitempty"`    // deferred: how old the alert must be
	Age         string      `json:"age,omitempty"`     // deferred: how old it is
}

// Explain decides every rule file of set for the alert at time now and says
// why, taking no action. Files come in the set's order.
func Explain(set *Set, a *Alert, now time.Time) []Explanation {
	byFile := make(map[string]*Rule, len(set.Rules))
	for _, r := range set.Rules {
		byFile[r.File] = r
	}
	out := make([]Explanation, 0, len(set.Files))
	for _, f := range set.Files {
		x := Explanation{File: f.Path, RuleName: f.RuleName, RuleVersion: f.RuleVersion}
		r := byFile[f.Path]
		switch {
		case f.Status != StatusOK || r == nil:
			x.Status, x.Errors = ExplainInvalid, f.Errors
		case !bool(r.Def.Enabled):
			x.Status = ExplainDisabled
		case !strings.EqualFold(r.Def.AlertFeed, a.Env.Meta.FeedType):
			x.Status = ExplainOtherFeed
		default:
			outcome, failure, err := r.Matcher.Explain(a, now)
			switch {
			case err != nil:
				x.Status, x.Error = ExplainError, err.Error()
			case outcome == Matched:
				x.Status = ExplainMatched
			case outcome == Deferred:
				x.Status, x.Wait = ExplainDeferred, r.Matcher.Wait().String()
				if created, err := a.CreatedAt(); err == nil {
					x.Age = now.Sub(created).Round(time.Second).String()
				}
			default:
				x.Status, x.Failure = ExplainNotMatched, failure
			}
		}
		out = append(out, x)
	}
	return out
}

// Verdict is what classifying would answer given the explanations:
// api.ResultMatched if a rule matched, else api.ResultDeferred if one was
// deferred, else api.ResultUnmatched.
func Verdict(xs []Explanation) string {
	deferred := false
	for _, x := range xs {
		switch x.Status {
		case ExplainMatched:
			return api.ResultMatched
		case ExplainDeferred:
			deferred = true
		}
	}
	if deferred {
		return api.ResultDeferred
	}
	return api.ResultUnmatched
}
