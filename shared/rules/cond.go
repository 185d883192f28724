package rules

import (
	"encoding/json"
	"fmt"

	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/tidwall/gjson"
)

// v2 condition trees compile to nodes: all, any and not here, and leaves
// whose operator comes from the shared operator table (rule.LookupOperator;
// the semantics of each are documented there and in docs/rules.md). A leaf
// reads the value at its gjson path and hands it to its operator's
// rule.Test; on a missing value it is false ("not in the alert") unless the
// operator SeesMissing. What an operator's Test says about itself keeps
// matching fast: a rule.LiteralTest gives a literal checked before any
// condition is walked, a rule.TagsTest on "tags" is decided with the
// alert's tag bitset and indexes the rule by its tags.

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

type leaf struct {
	rulePath    string // JSON path of the leaf in the rule file
	path        string // gjson path into the alert (or the element)
	elemSelf    bool   // path names the element itself
	op          string
	expected    json.RawMessage
	test        rule.Test
	seesMissing bool     // the operator decides missing values itself
	lit         string   // rule.LiteralTest: a literal the string value holds
	tags        bool     // rule.TagsTest on the alert's own "tags"
	strs        []string // its tags
}

func compileLeaf(c *rule.Cond, path string) (node, rule.Errors) {
	op, ok := rule.LookupOperator(c.Op)
	if !ok { // rule.Parse refuses it: only a Cond built by hand
		return nil, rule.Errors{{Path: path + ".op", Msg: fmt.Sprintf("unknown operator %q", c.Op)}}
	}
	l := &leaf{rulePath: path, path: c.Path, elemSelf: rule.ElementPath(c.Path), op: c.Op, expected: c.Value, seesMissing: op.SeesMissing}
	arg := rule.Arg{Value: c.Value}
	if op.Operand == rule.OperandCond {
		sub, errs := compileCond(c.Cond, path+".cond")
		if errs != nil {
			return nil, errs
		}
		// Inside an element, nodes read only the element, never the alert.
		arg.Elem = func(e gjson.Result) bool { return sub.eval(nil, e, true) }
	}
	test, err := op.Compile(arg)
	if err != nil {
		return nil, rule.Errors{{Path: path + ".value", Msg: err.Error()}}
	}
	l.test = test
	if lt, ok := test.(rule.LiteralTest); ok {
		l.lit = lt.Literal()
	}
	if tt, ok := test.(rule.TagsTest); ok && c.Path == "tags" { // outside "any", the alert's cached tags
		l.tags, l.strs = true, tt.Tags()
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
	ok, _ := l.check(l.value(a, elem, inElem), false)
	return ok
}

func (l *leaf) explain(a *Alert, elem gjson.Result, inElem bool) *Failure {
	v := l.value(a, elem, inElem)
	ok, reason := l.check(v, true)
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
func (l *leaf) check(v gjson.Result, why bool) (bool, string) {
	if !l.seesMissing && !v.Exists() {
		return false, "not in the alert"
	}
	return l.test.Test(v, why)
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
