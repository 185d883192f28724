// Package rules loads the classifier's rule files and decides which rules
// match an alert.
//
// A Loader produces the current Set of rules (Dir re-checks a directory on
// every call, so a rule file dropped in, edited or deleted counts from the
// next alert on). Each valid rule file is compiled once per version into a
// Rule: the rule definition sent to the action handler, plus a Matcher
// holding its conditions with regular expressions already compiled. A file
// that fails to compile is listed in the Set with its errors and never
// matches anything.
package rules

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/rule"
)

// Loader produces the current rule set.
type Loader interface {
	Load(ctx context.Context) (*Set, error)
}

// File statuses.
const (
	StatusOK      = "ok"
	StatusInvalid = "invalid"
)

// File describes one rule file, valid or not (GET /v1/rules lists these).
type File struct {
	Path        string      `json:"file"`
	RuleName    string      `json:"rule_name"` // best effort when invalid
	RuleVersion string      `json:"rule_version"`
	Enabled     bool        `json:"enabled"`
	Status      string      `json:"status"` // StatusOK or StatusInvalid
	Errors      rule.Errors `json:"errors"` // empty when ok
	SHA256      string      `json:"sha256,omitempty"`
	Modified    time.Time   `json:"modified,omitzero"`
}

// Rule is one valid, compiled rule file.
type Rule struct {
	File    string     // path of the rule file
	Def     *rule.Rule // the rule as the action handler receives it
	Matcher Matcher    // the rule's conditions
}

// Applies reports whether the rule is enabled and written for alerts of
// feedType (compared case-insensitively). Only such rules are checked.
func (r *Rule) Applies(feedType string) bool {
	return bool(r.Def.Enabled) && strings.EqualFold(r.Def.AlertFeed, feedType)
}

// Match decides the rule for an alert: NoMatch unless the rule Applies to
// the alert's feed type and its Matcher says otherwise.
func (r *Rule) Match(a *Alert, now time.Time) (Outcome, error) {
	if !r.Applies(a.Env.Meta.FeedType) {
		return NoMatch, nil
	}
	return r.Matcher.Match(a, now)
}

// Outcome is what matching one rule against one alert decided.
type Outcome int

// Outcomes.
const (
	NoMatch  Outcome = iota // a condition failed
	Matched                 // every condition holds: act
	Deferred                // every condition holds but the alert is younger than the rule's wait: ask again later
)

func (o Outcome) String() string {
	switch o {
	case Matched:
		return "matched"
	case Deferred:
		return "deferred"
	default:
		return "no_match"
	}
}

// Matcher holds a rule's conditions.
type Matcher interface {
	// Match decides the conditions for alert a at time now. An error means
	// the alert lacks what the rule needs to decide (e.g. no createdAt for a
	// rule with a wait); the caller must then not act on the rule.
	Match(a *Alert, now time.Time) (Outcome, error)
	// Explain decides as Match does and, on NoMatch, returns the first
	// condition that failed.
	Explain(a *Alert, now time.Time) (Outcome, *Failure, error)
	// Wait is how long an alert must have been open before the rule acts.
	Wait() time.Duration
	// RequiredTags lists tags every alert the rule matches carries (maybe
	// none); the Set indexes rules by them.
	RequiredTags() []string
}

// Failure is the condition that made a rule not match, as explained.
type Failure struct {
	RulePath     string          `json:"rule_path"`            // JSON path of the condition in the rule file
	AlertPath    string          `json:"alert_path,omitempty"` // gjson path it read
	Op           string          `json:"op"`
	Expected     json.RawMessage `json:"expected,omitempty"`
	Actual       string          `json:"actual,omitempty"` // the value seen, as JSON, trimmed; "(missing)"
	Reason       string          `json:"reason,omitempty"`
	Alternatives []*Failure      `json:"alternatives,omitempty"` // an "any" block: why each alternative failed
}

// Compiler turns a rule file's content into its definition and matcher, or
// returns rule.Errors naming every problem. Compile is the compiler.
type Compiler func(data []byte) (*rule.Rule, Matcher, error)

// WithCheck returns a Compiler that compiles with c (Compile when nil) and
// then applies check, whose errors make the file invalid: checks that
// depend on the service's configuration, such as whether the feed's ticket
// system can do a rule's write-back operations.
func WithCheck(c Compiler, check func(*rule.Rule) rule.Errors) Compiler {
	if c == nil {
		c = Compile
	}
	return func(data []byte) (*rule.Rule, Matcher, error) {
		def, m, err := c(data)
		if err != nil {
			return nil, nil, err
		}
		if errs := check(def); len(errs) > 0 {
			return nil, nil, errs
		}
		return def, m, nil
	}
}
