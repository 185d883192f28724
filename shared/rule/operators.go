package rule

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// The built-in operators (LookupOperator finds any registered one too).
const (
	OpEquals      = "equals"
	OpNotEquals   = "not_equals"
	OpIEquals     = "iequals"
	OpContains    = "contains"
	OpIContains   = "icontains"
	OpStartsWith  = "starts_with"
	OpEndsWith    = "ends_with"
	OpRegex       = "regex"
	OpIRegex      = "iregex"
	OpExists      = "exists"
	OpNotExists   = "not_exists"
	OpGT          = "gt"
	OpGTE         = "gte"
	OpLT          = "lt"
	OpLTE         = "lte"
	OpIn          = "in"
	OpNotIn       = "not_in"
	OpTagsInclude = "tags_include"
	OpAnyElement  = "any"
)

// The built-in operators (docs/rules.md is the user's reference):
//
//   - On a missing value every operator is false except not_exists (so
//     not_equals and not_in need the field to be there; wrap a condition in
//     "not" for "missing or other"). exists is true for any value but null;
//     not_exists for missing or null.
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
func builtinOperators() []Operator {
	return []Operator{
		{Name: OpEquals, Operand: OperandScalar, Compile: compileEquals},
		{Name: OpNotEquals, Operand: OperandScalar, Compile: compileNotEquals},
		{Name: OpIEquals, Operand: OperandString, Compile: stringOp(false, strings.EqualFold)},
		{Name: OpContains, Operand: OperandString, Compile: stringOp(true, strings.Contains)},
		{Name: OpStartsWith, Operand: OperandString, Compile: stringOp(true, strings.HasPrefix)},
		{Name: OpEndsWith, Operand: OperandString, Compile: stringOp(true, strings.HasSuffix)},
		{Name: OpIContains, Operand: OperandString, Compile: regexOp(func(s string) string { return "(?i)" + regexp.QuoteMeta(s) })},
		{Name: OpRegex, Operand: OperandRegex, Compile: regexOp(func(s string) string { return s })},
		{Name: OpIRegex, Operand: OperandRegex, Compile: regexOp(func(s string) string { return "(?i)" + s })},
		{Name: OpExists, Operand: OperandNone, SeesMissing: true, Compile: compileExists},
		{Name: OpNotExists, Operand: OperandNone, SeesMissing: true, Compile: compileNotExists},
		{Name: OpGT, Operand: OperandOrdered, Compile: orderedOp(func(x, y float64) bool { return x > y })},
		{Name: OpGTE, Operand: OperandOrdered, Compile: orderedOp(func(x, y float64) bool { return x >= y })},
		{Name: OpLT, Operand: OperandOrdered, Compile: orderedOp(func(x, y float64) bool { return x < y })},
		{Name: OpLTE, Operand: OperandOrdered, Compile: orderedOp(func(x, y float64) bool { return x <= y })},
		{Name: OpIn, Operand: OperandScalarList, Compile: listOp(true)},
		{Name: OpNotIn, Operand: OperandScalarList, Compile: listOp(false)},
		{Name: OpTagsInclude, Operand: OperandStringList, Compile: compileTagsInclude},
		{Name: OpAnyElement, Operand: OperandCond, Compile: compileAnyElement},
	}
}

func compileExists(Arg) (Test, error) {
	return TestFunc(func(v gjson.Result, _ bool) (bool, string) {
		switch {
		case !v.Exists():
			return false, "not in the alert"
		case v.Type == gjson.Null:
			return false, "value is null"
		}
		return true, ""
	}), nil
}

func compileNotExists(Arg) (Test, error) {
	return TestFunc(func(v gjson.Result, _ bool) (bool, string) {
		if v.Type == gjson.Null { // missing too
			return true, ""
		}
		return false, "value exists"
	}), nil
}

// literalTest is a Test with the literal every string it accepts holds.
type literalTest struct {
	TestFunc
	lit string
}

func (t literalTest) Literal() string { return t.lit }

func compileEquals(arg Arg) (Test, error) {
	want := scalarOf(arg.Value)
	test := TestFunc(func(v gjson.Result, why bool) (bool, string) {
		return want.equal(v), mismatch(why, v, want.t)
	})
	if want.t == gjson.String {
		return literalTest{test, want.s}, nil
	}
	return test, nil
}

func compileNotEquals(arg Arg) (Test, error) {
	want := scalarOf(arg.Value)
	return TestFunc(func(v gjson.Result, _ bool) (bool, string) {
		if want.equal(v) {
			return false, "value is equal"
		}
		return true, ""
	}), nil
}

func listOp(in bool) func(Arg) (Test, error) {
	return func(arg Arg) (Test, error) {
		var items []json.RawMessage
		if err := json.Unmarshal(arg.Value, &items); err != nil {
			return nil, err
		}
		list := make([]scalar, 0, len(items))
		for _, it := range items {
			list = append(list, scalarOf(it))
		}
		return TestFunc(func(v gjson.Result, why bool) (bool, string) {
			found := false
			for _, s := range list {
				if s.equal(v) {
					found = true
					break
				}
			}
			if in {
				return found, reason(why, !found, "value is not in the list")
			}
			return !found, reason(why, found, "value is in the list")
		}), nil
	}
}

// stringOp is an operator deciding a string value with match(value,
// operand); literal: every string it accepts holds the operand.
func stringOp(literal bool, match func(s, operand string) bool) func(Arg) (Test, error) {
	return func(arg Arg) (Test, error) {
		var operand string
		if err := json.Unmarshal(arg.Value, &operand); err != nil {
			return nil, err
		}
		test := TestFunc(func(v gjson.Result, why bool) (bool, string) {
			if v.Type != gjson.String {
				return false, reason(why, true, "value is "+TypeName(v)+", not a string")
			}
			holds := match(v.Str, operand)
			return holds, reason(why, !holds, "no match")
		})
		if literal {
			return literalTest{test, operand}, nil
		}
		return test, nil
	}
}

// regexOp is an operator matching a string value with the regular
// expression expr(operand).
func regexOp(expr func(operand string) string) func(Arg) (Test, error) {
	return func(arg Arg) (Test, error) {
		var operand string
		if err := json.Unmarshal(arg.Value, &operand); err != nil {
			return nil, err
		}
		re, err := regexp.Compile(expr(operand))
		if err != nil {
			return nil, errors.New("invalid regular expression: " + RegexpProblem(err))
		}
		p := NewPattern(re)
		return literalTest{TestFunc(func(v gjson.Result, why bool) (bool, string) {
			if v.Type != gjson.String {
				return false, reason(why, true, "value is "+TypeName(v)+", not a string")
			}
			holds := p.MatchString(v.Str)
			return holds, reason(why, !holds, "no match")
		}), p.lit}, nil
	}
}

func orderedOp(holds func(value, operand float64) bool) func(Arg) (Test, error) {
	return func(arg Arg) (Test, error) {
		num, isTime, ok := OrderedOperand(arg.Value)
		if !ok {
			return nil, errors.New("want a number or an RFC 3339 time")
		}
		return TestFunc(func(v gjson.Result, why bool) (bool, string) {
			x, ok := orderedValue(v, isTime)
			if !ok {
				if isTime {
					return false, reason(why, true, "value is "+TypeName(v)+", not an RFC 3339 time or epoch milliseconds")
				}
				return false, reason(why, true, "value is "+TypeName(v)+", not a number")
			}
			h := holds(x, num)
			return h, reason(why, !h, "comparison is false")
		}), nil
	}
}

// orderedValue reads v for gt, gte, lt, lte.
func orderedValue(v gjson.Result, isTime bool) (float64, bool) {
	switch v.Type {
	case gjson.Number:
		return v.Num, true
	case gjson.String:
		if !isTime {
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

// tagsTest is tags_include.
type tagsTest struct {
	TestFunc
	tags []string
}

func (t tagsTest) Tags() []string { return t.tags }

func compileTagsInclude(arg Arg) (Test, error) {
	var tags []string
	if err := json.Unmarshal(arg.Value, &tags); err != nil {
		return nil, err
	}
	return tagsTest{TestFunc(func(v gjson.Result, why bool) (bool, string) {
		if !v.IsArray() {
			return false, reason(why, true, "value is "+TypeName(v)+", not an array")
		}
		for _, want := range tags {
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
	}), tags}, nil
}

func compileAnyElement(arg Arg) (Test, error) {
	elem := arg.Elem
	return TestFunc(func(v gjson.Result, why bool) (bool, string) {
		if !v.IsArray() {
			return false, reason(why, true, "value is "+TypeName(v)+", not an array")
		}
		n, found := 0, false
		v.ForEach(func(_, e gjson.Result) bool {
			n++
			found = elem(e)
			return !found
		})
		if !found && why {
			return false, fmt.Sprintf("no element of %d satisfies cond", n)
		}
		return found, ""
	}), nil
}

// scalar is a JSON scalar operand.
type scalar struct {
	t gjson.Type // gjson.String, Number, True, False or Null
	s string
	n float64
}

func scalarOf(raw json.RawMessage) scalar {
	v := gjson.ParseBytes(raw)
	return scalar{t: v.Type, s: v.Str, n: v.Num}
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
	return "value is " + TypeName(v) + ", not " + kindName(want)
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

// TypeName names a value's JSON type as explanations do ("a string", "an
// array", "missing").
func TypeName(v gjson.Result) string {
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

// Pattern is a regular expression with the literal every match of it
// contains, which rules most strings out faster than the expression.
type Pattern struct {
	re   *regexp.Regexp
	lit  string
	only bool // re is exactly lit, unanchored: strings.Contains decides
}

// NewPattern works out re's literal.
func NewPattern(re *regexp.Regexp) *Pattern {
	p := &Pattern{re: re}
	p.lit, p.only = literalOf(re)
	return p
}

// Literal is a case-sensitive literal every match contains ("" if none is
// known).
func (p *Pattern) Literal() string { return p.lit }

// MatchString reports whether the expression matches s.
func (p *Pattern) MatchString(s string) bool {
	if p.only {
		return strings.Contains(s, p.lit)
	}
	if p.lit != "" && !strings.Contains(s, p.lit) {
		return false
	}
	return p.re.MatchString(s)
}

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
