package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/tidwall/gjson"
)

// emptyResult is the element argument outside "any" conditions.
var emptyResult gjson.Result

// Compile parses a rule file (strictly, with rule.Parse), v1 or v2, and
// compiles its conditions: regular expressions and operands once, here.
// Every problem comes back at once as rule.Errors.
//
// A rule matches an alert when it is enabled, its alert_feed equals the
// alert's feed type (case-insensitively; see Rule.Applies), every v1
// evaluation passes and its "when" holds. If it would match but the alert
// is younger than the rule's wait (min_age and the longest evaluation
// duration), it is Deferred.
func Compile(data []byte) (*rule.Rule, Matcher, error) {
	def, err := rule.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	m := &matcher{wait: def.Wait()}
	evs, errs := compileV1(def)
	m.v1 = evs
	if def.When != nil {
		when, werrs := compileCond(def.When, "when")
		errs = append(errs, werrs...)
		m.when = when
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	m.tags = requiredTags(def, m.when)
	for _, t := range dedupe(m.tags) {
		id := tagIDs.intern(t)
		m.tagIDs = append(m.tagIDs, id)
		m.maxTagID = max(m.maxTagID, id)
	}
	m.lits = necessaryLiterals(m)
	return def, m, nil
}

type matcher struct {
	v1       []v1Evaluation
	when     node // nil: no "when"
	wait     time.Duration
	tags     []string // tags every matching alert has
	tagIDs   []int    // the same, interned
	maxTagID int
	lits     []necessary // texts every matching alert has
}

// necessary is a literal some alert field must contain for a rule to
// match: checked first, it rules most rules out without walking their
// conditions.
type necessary struct {
	id      int // interned path
	path    string
	lit     string
	scalars bool // a number or boolean there is decided by the full check (v1 text)
}

func (n *necessary) holds(a *Alert) bool {
	s, t := a.text(n.id, n.path)
	switch t {
	case gjson.String:
		return strings.Contains(s, n.lit)
	case gjson.Number, gjson.True, gjson.False:
		return n.scalars
	}
	return false
}

// necessaryLiterals collects literals from v1 search texts and from the
// string leaves "when" needs to hold (its root, through "all" blocks).
func necessaryLiterals(m *matcher) []necessary {
	var out []necessary
	add := func(path, lit string, scalars bool) {
		if lit != "" {
			out = append(out, necessary{id: pathIDs.intern(path), path: path, lit: lit, scalars: scalars})
		}
	}
	for _, ev := range m.v1 {
		if ev.re != nil {
			add(ev.path, ev.re.Literal(), true)
		}
	}
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *allNode:
			for _, k := range n.kids {
				walk(k)
			}
		case *leaf:
			add(n.path, n.lit, false)
		}
	}
	if m.when != nil {
		walk(m.when)
	}
	return out
}

// Match implements Matcher.
func (m *matcher) Match(a *Alert, now time.Time) (Outcome, error) {
	if !a.hasTagIDs(m.tagIDs, m.maxTagID) {
		return NoMatch, nil
	}
	for i := range m.lits {
		if !m.lits[i].holds(a) {
			return NoMatch, nil
		}
	}
	for i := range m.v1 {
		if !m.v1[i].pass(a) {
			return NoMatch, nil
		}
	}
	if m.when != nil && !m.when.eval(a, emptyResult, false) {
		return NoMatch, nil
	}
	return m.age(a, now)
}

// Explain implements Matcher.
func (m *matcher) Explain(a *Alert, now time.Time) (Outcome, *Failure, error) {
	for i := range m.v1 {
		if f := m.v1[i].explain(a); f != nil {
			return NoMatch, f, nil
		}
	}
	if m.when != nil {
		if f := m.when.explain(a, emptyResult, false); f != nil {
			return NoMatch, f, nil
		}
	}
	out, err := m.age(a, now)
	return out, nil, err
}

// Wait implements Matcher.
func (m *matcher) Wait() time.Duration { return m.wait }

// RequiredTags implements Matcher.
func (m *matcher) RequiredTags() []string { return m.tags }

// age decides Matched or Deferred for an alert the conditions hold for.
func (m *matcher) age(a *Alert, now time.Time) (Outcome, error) {
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

// requiredTags lists tags an alert must carry for the rule to match: those
// of every v1 evaluation and of tags tests on "tags" that must hold (the
// root of "when" and, recursively, members of its "all" blocks).
func requiredTags(def *rule.Rule, when node) []string {
	var tags []string
	for _, ev := range def.Evaluations {
		tags = append(tags, ev.Evaluation.Tags...)
	}
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *allNode:
			for _, k := range n.kids {
				walk(k)
			}
		case *leaf:
			if n.tags {
				tags = append(tags, n.strs...)
			}
		}
	}
	if when != nil {
		walk(when)
	}
	return tags
}
