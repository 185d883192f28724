package rules

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"time"

	"github.com/alexis-ops/alexis/shared/rule"
)

// Compile parses a rule file in the Alexis v1 format (strictly, with
// rule.Parse) and compiles its evaluations. Every problem comes back at once
// as rule.Errors.
//
// v1 semantics: a rule matches an alert when it is enabled, its alert_feed
// equals the alert's feed type (case-insensitively; see Rule.Applies) and
// every evaluation passes. An evaluation passes when its tags are a subset
// of the alert's tags and its search_text, a Go (RE2) regular expression, is
// found anywhere in the text of the alert's top-level field search_key (see
// Alert.Text; a missing or non-scalar field fails). An evaluation without
// search_key is a tag check only. If a rule would match but the alert is
// younger than the longest evaluation duration, the rule is Deferred.
func Compile(data []byte) (*rule.Rule, Matcher, error) {
	def, err := rule.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	m, errs := compileV1(def)
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return def, m, nil
}

type v1Matcher struct {
	evals []v1Evaluation
	wait  time.Duration // the longest evaluation duration
}

type v1Evaluation struct {
	tags []string
	key  string         // top-level field; "" for a tag-only evaluation
	re   *regexp.Regexp // nil when key is ""
}

func compileV1(def *rule.Rule) (*v1Matcher, rule.Errors) {
	var errs rule.Errors
	m := &v1Matcher{}
	for i, item := range def.Evaluations {
		e := item.Evaluation
		ev := v1Evaluation{tags: e.Tags, key: e.SearchKey}
		if e.SearchKey != "" {
			re, err := regexp.Compile(e.SearchText)
			if err != nil {
				errs = append(errs, rule.FieldError{
					Path: fmt.Sprintf("evaluation_list[%d].evaluation.search_text", i),
					Msg:  "invalid regular expression: " + regexpProblem(err),
				})
				continue
			}
			ev.re = re
		}
		if e.Duration != "" {
			// rule.Parse has already checked the duration.
			if d, err := time.ParseDuration(e.Duration); err == nil && d > m.wait {
				m.wait = d
			}
		}
		m.evals = append(m.evals, ev)
	}
	return m, errs
}

// Match implements Matcher.
func (m *v1Matcher) Match(a *Alert, now time.Time) (Outcome, error) {
	for _, ev := range m.evals {
		if !ev.pass(a) {
			return NoMatch, nil
		}
	}
	if m.wait <= 0 {
		return Matched, nil
	}
	created, err := a.CreatedAt()
	if err != nil {
		return NoMatch, fmt.Errorf("rule has duration %s: %w", m.wait, err)
	}
	if now.Sub(created) < m.wait {
		return Deferred, nil
	}
	return Matched, nil
}

func (ev v1Evaluation) pass(a *Alert) bool {
	if !a.HasTags(ev.tags) {
		return false
	}
	if ev.re == nil {
		return true
	}
	text, ok := a.Text(ev.key)
	return ok && ev.re.MatchString(text)
}

// regexpProblem phrases a regexp error without repeating the whole pattern
// twice ("error parsing regexp: missing closing ): `(a`").
func regexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
	}
	return err.Error()
}
