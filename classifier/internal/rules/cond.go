package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/tidwall/gjson"
)

// v2 condition semantics (docs/rules.md is the user's reference):
//
//   - A leaf reads the value at its gjson path; on a missing value every
//     operator is false except not_exists (so not_equals and not_in need the
//     field to be there; wrap a condition in "not" for "missing or other").
//     exists is true for any value but null; not_exists for missing or null.
//   - equals, not_equals, in, not_in compare JSON type and value: "17" is not
//     17; numbers compare as numbers (17 equals 17.0).
//   - iequals, contains, icontains, starts_with, ends_with, regex, iregex
//     need a string; case-insensitive ones fold Unicode case. Regular
//     expressions are Go RE2, unanchored (use ^ and $).
//   - gt, gte, lt, lte with a number compare a number, or a string holding a
//     decimal number (OpsGenie details are strings), or an RFC 3339 time as
//     epoch milliseconds; with an RFC 3339 time they compare an RFC 3339
//     string or epoch milliseconds.
//   - tags_include: the value is an array holding every listed string.
//   - any: the value is an array and some element satisfies cond, whose
//     paths are relative to the element ("" or "@this": the element).

// node is a compiled condition.
type node interface {
	// eval decides the condition against the alert, or against elem when
	// inElem (inside an "any" leaf).
	eval(a *Alert, elem gjson.Result, inElem bool) bool
	// explain returns why the condition does not hold, or nil if it holds.
	explain(a *Alert, elem gjson.Result, inElem bool) *Failure
}

// compileCond compiles a parsed condition tree; path is its JSON path in
// the rule file. rule.Parse has checked it, so errors here are only those
// rule.Parse cannot see.
func compileCond(c *rule.Cond, path string) (node, rule.Errors) {
	switch c.Kind() {
	case rule.KindAll, rule.KindAny:
		kids, key := c.All, "all"
		if c.Kind() == rule.KindAny {
			kids, key = c.Any, "any"
		}
		var errs rule.Errors
		var nodes []node
		for i := range kids {
			n, e := compileCond(&kids[i], fmt.Sprintf("%s.%s[%d]", path, key, i))
			errs = append(errs, e...)
			nodes = append(nodes, n)
		}
		if len(errs) > 0 {
			return nil, errs
		}
		if key == "all" {
			return &allNode{kids: nodes}, nil
		}
		return &anyNode{path: path + ".any", kids: nodes}, nil
	case rule.KindNot:
		inner, errs := compileCond(c.Not, path+".not")
		if errs != nil {
			return nil, errs
		}
		return &notNode{path: path + ".not", inner: inner}, nil
	}
	return compileLeaf(c, path)
}

type allNode struct{ kids []node }

func (n *allNode) eval(a *Alert, elem gjson.Result, inElem bool) bool {
	for _, k := range n.kids {
		if !k.eval(a, elem, inElem) {
			return false
		}
	}
	return true
}

func (n *allNode) explain(a *Alert, elem gjson.Result, inElem bool) *Failure {
	for _, k := range n.kids {
		if f := k.explain(a, elem, inElem); f != nil {
			return f
		}
	}
	return nil
}

type anyNode struct {
	path string
	kids []node
}

func (n *anyNode) eval(a *Alert, elem gjson.Result, inElem bool) bool {
	for _, k := range n.kids {
		if k.eval(a, elem, inElem) {
			return true
		}
	}
	return false
}

func (n *anyNode) explain(a *Alert, elem gjson.Result, inElem bool) *Failure {
	f := &Failure{RulePath: n.path, Op: "any", Reason: fmt.Sprintf("none of the %d conditions holds", len(n.kids))}
	for _, k := range n.kids {
		kf := k.explain(a, elem, inElem)
		if kf == nil {
			return nil
		}
		f.Alternatives = append(f.Alternatives, kf)
	}
	return f
}

type notNode struct {
	path  string
	inner node
}

func (n *notNode) eval(a *Alert, elem gjson.Result, inElem bool) bool {
	return !n.inner.eval(a, elem, inElem)
}

func (n *notNode) explain(a *Alert, elem gjson.Result, inElem bool) *Failure {
	if !n.inner.eval(a, elem, inElem) {
		return nil
	}
	f := &Failure{RulePath: n.path, Op: "not", Reason: "the condition under not holds"}
	if l, ok := n.inner.(*leaf); ok {
		v := l.value(a, elem, inElem)
		f.AlertPath, f.Expected, f.Actual = l.path, l.expected, actual(v)
		f.Reason = fmt.Sprintf("the condition under not holds (%s %s)", l.path, l.op)
	}
	return f
}

// opcodes.
type opcode int

const (
	opEquals opcode = iota
	opNotEquals
	opIEquals
	opContains
	opIContains
	opStartsWith
	opEndsWith
	opRegex
	opExists
	opNotExists
	opGT
	opGTE
	opLT
	opLTE
	opIn
	opNotIn
	opTagsInclude
	opAny
)

var opcodes = map[string]opcode{
	rule.OpEquals: opEquals, rule.OpNotEquals: opNotEquals, rule.OpIEquals: opIEquals,
	rule.OpContains: opContains, rule.OpIContains: opIContains, rule.OpStartsWith: opStartsWith,
	rule.OpEndsWith: opEndsWith, rule.OpRegex: opRegex, rule.OpIRegex: opRegex,
	rule.OpExists: opExists, rule.OpNotExists: opNotExists,
	rule.OpGT: opGT, rule.OpGTE: opGTE, rule.OpLT: opLT, rule.OpLTE: opLTE,
	rule.OpIn: opIn, rule.OpNotIn: opNotIn, rule.OpTagsInclude: opTagsInclude, rule.OpAnyElement: opAny,
}

// scalar is a JSON scalar operand.
type scalar struct {
	t gjson.Type // gjson.String, Number, True, False or Null
	s string
	n float64
}

func (s scalar) equal(v gjson.Result) bool {
	switch v.Type {
	case gjson.String:
		return s.t == gjson.String && s.s == v.Str
	case gjson.Number:
		return s.t == gjson.Number && s.n == v.Num
	case gjson.True, gjson.False:
		return s.t == v.Type
	case gjson.Null:
		return s.t == gjson.Null && v.Exists()
	}
	return false // object or array
}

type leaf struct {
	rulePath string // JSON path of the leaf in the rule file
	path     string // gjson path into the alert (or the element)
	elemSelf bool   // path names the element itself
	op       string
	code     opcode
	expected json.RawMessage

	str     string         // string operand
	re      *regexp.Regexp // regex, iregex, icontains
	lit     string         // literal re needs
	litOnly bool           // re is exactly lit: strings.Contains suffices
	list    []scalar       // equals (one), in, not_in
	strs    []string       // tags_include
	num     float64        // gt...: number, or epoch milliseconds
	isTime  bool           // gt...: the operand is a time
	sub     node           // any
	tags    bool           // tags_include on the alert's own "tags"
}

func compileLeaf(c *rule.Cond, path string) (node, rule.Errors) {
	l := &leaf{rulePath: path, path: c.Path, elemSelf: rule.ElementPath(c.Path), op: c.Op, code: opcodes[c.Op], expected: c.Value}
	bad := func(msg string) (node, rule.Errors) {
		return nil, rule.Errors{{Path: path + ".value", Msg: msg}}
	}
	switch l.code {
	case opEquals, opNotEquals, opIn, opNotIn:
		var items []json.RawMessage
		if l.code == opEquals || l.code == opNotEquals {
			items = []json.RawMessage{c.Value}
		} else if err := json.Unmarshal(c.Value, &items); err != nil {
			return bad(err.Error())
		}
		for _, it := range items {
			v := gjson.ParseBytes(it)
			l.list = append(l.list, scalar{t: v.Type, s: v.Str, n: v.Num})
		}
	case opIEquals, opContains, opStartsWith, opEndsWith:
		if err := json.Unmarshal(c.Value, &l.str); err != nil {
			return bad(err.Error())
		}
	case opIContains, opRegex:
		if err := json.Unmarshal(c.Value, &l.str); err != nil {
			return bad(err.Error())
		}
		expr := l.str
		switch c.Op {
		case rule.OpIContains:
			expr = "(?i)" + regexp.QuoteMeta(l.str)
		case rule.OpIRegex:
			expr = "(?i)" + l.str
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return bad("invalid regular expression: " + rule.RegexpProblem(err))
		}
		l.re = re
		l.lit, l.litOnly = literalOf(re)
	case opGT, opGTE, opLT, opLTE:
		n, isTime, ok := rule.OrderedOperand(c.Value)
		if !ok {
			return bad("want a number or an RFC 3339 time")
		}
		l.num, l.isTime = n, isTime
	case opTagsInclude:
		if err := json.Unmarshal(c.Value, &l.strs); err != nil {
			return bad(err.Error())
		}
		l.tags = c.Path == "tags" // outside "any", the alert's cached tags
	case opAny:
		sub, errs := compileCond(c.Cond, path+".cond")
		if errs != nil {
			return nil, errs
		}
		l.sub = sub
	}
	return l, nil
}

func (l *leaf) value(a *Alert, elem gjson.Result, inElem bool) gjson.Result {
	switch {
	case !inElem:
		return a.Get(l.path)
	case l.elemSelf:
		return elem
	}
	return elem.Get(l.path)
}

func (l *leaf) eval(a *Alert, elem gjson.Result, inElem bool) bool {
	if !inElem && l.tags {
		return a.HasTags(l.strs)
	}
	ok, _ := l.check(a, l.value(a, elem, inElem), false)
	return ok
}

func (l *leaf) explain(a *Alert, elem gjson.Result, inElem bool) *Failure {
	v := l.value(a, elem, inElem)
	ok, reason := l.check(a, v, true)
	if ok {
		return nil
	}
	path := l.path
	if inElem {
		path = "(element)." + path
		if l.elemSelf {
			path = "(element)"
		}
	}
	return &Failure{RulePath: l.rulePath, AlertPath: path, Op: l.op, Expected: l.expected, Actual: actual(v), Reason: reason}
}

// check decides the operator on v; the reason is only worked out when
// why is true.
func (l *leaf) check(a *Alert, v gjson.Result, why bool) (bool, string) {
	missing := !v.Exists()
	switch l.code {
	case opExists:
		switch {
		case missing:
			return false, "not in the alert"
		case v.Type == gjson.Null:
			return false, "value is null"
		}
		return true, ""
	case opNotExists:
		if v.Type == gjson.Null {
			return true, ""
		}
		return false, "value exists"
	}
	if missing {
		return false, "not in the alert"
	}
	switch l.code {
	case opEquals:
		return l.list[0].equal(v), mismatch(why, v, l.list[0].t)
	case opNotEquals:
		if l.list[0].equal(v) {
			return false, "value is equal"
		}
		return true, ""
	case opIn, opNotIn:
		in := false
		for _, s := range l.list {
			if s.equal(v) {
				in = true
				break
			}
		}
		if l.code == opIn {
			return in, reason(why, !in, "value is not in the list")
		}
		return !in, reason(why, in, "value is in the list")
	case opTagsInclude:
		if !v.IsArray() {
			return false, reason(why, true, "value is "+typeName(v)+", not an array")
		}
		for _, want := range l.strs {
			found := false
			v.ForEach(func(_, e gjson.Result) bool {
				found = e.Type == gjson.String && e.Str == want
				return !found
			})
			if !found {
				if why {
					return false, fmt.Sprintf("%q is not in the array", want)
				}
				return false, ""
			}
		}
		return true, ""
	case opAny:
		if !v.IsArray() {
			return false, reason(why, true, "value is "+typeName(v)+", not an array")
		}
		n, found := 0, false
		v.ForEach(func(_, e gjson.Result) bool {
			n++
			found = l.sub.eval(a, e, true)
			return !found
		})
		if !found && why {
			return false, fmt.Sprintf("no element of %d satisfies cond", n)
		}
		return found, ""
	case opGT, opGTE, opLT, opLTE:
		x, ok := l.ordered(v)
		if !ok {
			if l.isTime {
				return false, reason(why, true, "value is "+typeName(v)+", not an RFC 3339 time or epoch milliseconds")
			}
			return false, reason(why, true, "value is "+typeName(v)+", not a number")
		}
		var holds bool
		switch l.code {
		case opGT:
			holds = x > l.num
		case opGTE:
			holds = x >= l.num
		case opLT:
			holds = x < l.num
		default:
			holds = x <= l.num
		}
		return holds, reason(why, !holds, "comparison is false")
	}
	// String operators.
	if v.Type != gjson.String {
		return false, reason(why, true, "value is "+typeName(v)+", not a string")
	}
	s := v.Str
	var holds bool
	switch l.code {
	case opIEquals:
		holds = strings.EqualFold(s, l.str)
	case opContains:
		holds = strings.Contains(s, l.str)
	case opStartsWith:
		holds = strings.HasPrefix(s, l.str)
	case opEndsWith:
		holds = strings.HasSuffix(s, l.str)
	case opIContains, opRegex:
		holds = matchLiteral(l.re, l.lit, l.litOnly, s)
	}
	return holds, reason(why, !holds, "no match")
}

// ordered reads v for gt, gte, lt, lte.
func (l *leaf) ordered(v gjson.Result) (float64, bool) {
	switch v.Type {
	case gjson.Number:
		return v.Num, true
	case gjson.String:
		if !l.isTime {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, true
			}
		}
		if t, err := time.Parse(time.RFC3339Nano, v.Str); err == nil {
			return float64(t.UnixNano()) / 1e6, true
		}
	}
	return 0, false
}

func reason(why, failed bool, msg string) string {
	if why && failed {
		return msg
	}
	return ""
}

func mismatch(why bool, v gjson.Result, want gjson.Type) string {
	if !why {
		return ""
	}
	if sameKind(v.Type, want) {
		return "value differs"
	}
	return "value is " + typeName(v) + ", not " + kindName(want)
}

func sameKind(a, b gjson.Type) bool {
	boolish := func(t gjson.Type) bool { return t == gjson.True || t == gjson.False }
	return a == b || boolish(a) && boolish(b)
}

func kindName(t gjson.Type) string {
	switch t {
	case gjson.String:
		return "a string"
	case gjson.Number:
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	return "JSON"
}

// typeName names a value's JSON type.
func typeName(v gjson.Result) string {
	switch {
	case !v.Exists():
		return "missing"
	case v.IsArray():
		return "an array"
	case v.IsObject():
		return "an object"
	}
	return kindName(v.Type)
}

// maxActual is the most of a value shown in an explanation.
const maxActual = 200

// actual is a value as shown in an explanation: its JSON, trimmed.
func actual(v gjson.Result) string {
	if !v.Exists() {
		return "(missing)"
	}
	return trimActual(v.Raw)
}

func trimActual(s string) string {
	if len(s) <= maxActual {
		return s
	}
	cut := maxActual
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// literalOf returns a case-sensitive literal every match of re contains
// (the longest one found), and whether re is exactly that literal,
// unanchored, so that strings.Contains decides it alone.
func literalOf(re *regexp.Regexp) (lit string, only bool) {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return "", false
	}
	t = t.Simplify()
	for t.Op == syntax.OpCapture && len(t.Sub) == 1 {
		t = t.Sub[0]
	}
	// A literal holding U+FFFD could match an invalid byte the literal
	// search would not find: no shortcut for those.
	isLit := func(s *syntax.Regexp) bool {
		return s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0 && !slices.Contains(s.Rune, utf8.RuneError)
	}
	switch {
	case isLit(t):
		return string(t.Rune), true
	case t.Op == syntax.OpConcat:
		for _, s := range t.Sub {
			if isLit(s) && len(string(s.Rune)) > len(lit) {
				lit = string(s.Rune)
			}
		}
	}
	return lit, false
}

// matchRegexp reports whether re matches s, ruling out most misses with
// the literal re needs first.
func matchRegexp(re *regexp.Regexp, lit, s string) bool {
	if lit != "" && !strings.Contains(s, lit) {
		return false
	}
	return re.MatchString(s)
}

func matchLiteral(re *regexp.Regexp, lit string, only bool, s string) bool {
	if only {
		return strings.Contains(s, lit)
	}
	return matchRegexp(re, lit, s)
}
