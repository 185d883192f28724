package rule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp/syntax"
	"sort"
	"strings"
	"time"
)

// Cond is one node of a v2 condition tree (a rule's "when"): exactly one of
//
//	{"all": [cond, ...]}                      every condition holds (non-empty)
//	{"any": [cond, ...]}                      at least one holds (non-empty)
//	{"not": cond}                             the condition does not hold
//	{"path": "details.host", "op": "equals", "value": "app01"}
//	{"path": "tags", "op": "any", "cond": cond}   some array element satisfies cond
//
// A leaf reads the alert at Path (a gjson path). Inside an "any" leaf's
// cond, paths are relative to the element; "" or "@this" is the element.
type Cond struct {
	All   []Cond
	Any   []Cond
	Not   *Cond
	Path  string
	Op    string
	Value json.RawMessage // the operand as written (ops other than exists, not_exists, any)
	Cond  *Cond           // op "any": the condition on each element
}

// Kinds of condition nodes.
const (
	KindAll  = "all"
	KindAny  = "any"
	KindNot  = "not"
	KindLeaf = "leaf"
)

// Kind says which of all, any, not or leaf the node is.
func (c *Cond) Kind() string {
	switch {
	case c.All != nil:
		return KindAll
	case c.Any != nil:
		return KindAny
	case c.Not != nil:
		return KindNot
	}
	return KindLeaf
}

// MaxCondDepth bounds the nesting of a condition tree.
const MaxCondDepth = 32

// ElementPath reports whether path, inside an "any" leaf's cond, names the
// element itself.
func ElementPath(path string) bool { return path == "" || path == "@this" }

// MarshalJSON writes the node in the form it was read.
func (c Cond) MarshalJSON() ([]byte, error) {
	switch c.Kind() {
	case KindAll:
		return json.Marshal(map[string][]Cond{"all": c.All})
	case KindAny:
		return json.Marshal(map[string][]Cond{"any": c.Any})
	case KindNot:
		return json.Marshal(map[string]*Cond{"not": c.Not})
	}
	leaf := struct {
		Path  string          `json:"path"`
		Op    string          `json:"op"`
		Value json.RawMessage `json:"value,omitempty"`
		Cond  *Cond           `json:"cond,omitempty"`
	}{c.Path, c.Op, c.Value, c.Cond}
	return json.Marshal(leaf)
}

// UnmarshalJSON reads and checks a condition tree strictly; problems come
// back as Errors with paths relative to the node.
func (c *Cond) UnmarshalJSON(data []byte) error {
	parsed, errs := ParseCond(data, "", false)
	if len(errs) > 0 {
		return errs
	}
	*c = *parsed
	return nil
}

// ParseCond reads and checks a condition tree. path is the JSON path of the
// node in its file (e.g. "when"), used in every error; element is true
// inside an "any" leaf's cond, where a leaf's path may name the element.
func ParseCond(data []byte, path string, element bool) (*Cond, Errors) {
	p := condParser{}
	c := p.node(data, path, element, 0)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return c, nil
}

type condParser struct {
	errs Errors
}

func (p *condParser) add(path, format string, args ...any) {
	p.errs = append(p.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var condKeys = map[string]bool{"all": true, "any": true, "not": true, "path": true, "op": true, "value": true, "cond": true}

func (p *condParser) node(data []byte, path string, element bool, depth int) *Cond {
	where := path
	if where == "" {
		where = "$"
	}
	if depth > MaxCondDepth {
		p.add(where, "conditions nested deeper than %d", MaxCondDepth)
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		p.add(where, "want a condition object ({\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or {\"path\": ..., \"op\": ..., \"value\": ...}), got %s", jsonKind(data))
		return nil
	}
	var keys []string
	for k := range obj {
		if !condKeys[k] {
			p.add(join(path, k), "unknown field")
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	_, hasAll := obj["all"]
	_, hasAny := obj["any"]
	_, hasNot := obj["not"]
	_, hasPath := obj["path"]
	_, hasOp := obj["op"]
	leafish := hasPath || hasOp || obj["value"] != nil || obj["cond"] != nil
	n := 0
	for _, b := range []bool{hasAll, hasAny, hasNot, leafish} {
		if b {
			n++
		}
	}
	switch {
	case len(keys) == 0 && len(obj) == 0:
		p.add(where, "empty condition: a condition that tests nothing would match every alert")
		return nil
	case n == 0:
		return nil // only unknown keys, reported above
	case n > 1:
		p.add(where, "a condition is exactly one of all, any, not, or a leaf (path, op, value); this one has %s", strings.Join(keys, ", "))
		return nil
	case hasAll || hasAny:
		key := "all"
		if hasAny {
			key = "any"
		}
		kids := p.list(obj[key], join(path, key), element, depth)
		if kids == nil {
			return nil
		}
		if hasAll {
			return &Cond{All: kids}
		}
		return &Cond{Any: kids}
	case hasNot:
		inner := p.node(obj["not"], join(path, "not"), element, depth+1)
		if inner == nil {
			return nil
		}
		return &Cond{Not: inner}
	}
	return p.leaf(obj, path, where, element, depth)
}

func (p *condParser) list(data []byte, path string, element bool, depth int) []Cond {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil || items == nil {
		p.add(path, "want a non-empty array of conditions, got %s", jsonKind(data))
		return nil
	}
	if len(items) == 0 {
		p.add(path, "empty: a block with no conditions would decide nothing; remove it or add conditions")
		return nil
	}
	kids := make([]Cond, 0, len(items))
	ok := true
	for i, item := range items {
		c := p.node(item, fmt.Sprintf("%s[%d]", path, i), element, depth+1)
		if c == nil {
			ok = false
			continue
		}
		kids = append(kids, *c)
	}
	if !ok {
		return nil
	}
	return kids
}

func (p *condParser) leaf(obj map[string]json.RawMessage, path, where string, element bool, depth int) *Cond {
	c := &Cond{}
	bad := false
	if raw, ok := obj["path"]; !ok {
		if !element {
			p.add(join(path, "path"), "required: the gjson path of the alert field to test, e.g. \"details.host\"")
			bad = true
		}
	} else if err := json.Unmarshal(raw, &c.Path); err != nil {
		p.add(join(path, "path"), "want a string, got %s", jsonKind(raw))
		bad = true
	} else if !element && ElementPath(c.Path) {
		p.add(join(path, "path"), "empty path: name the alert field to test (\"\" and \"@this\" mean the element only inside an \"any\" condition)")
		bad = true
	}
	raw, ok := obj["op"]
	if !ok {
		p.add(join(path, "op"), "required: one of %s", opNames())
		return nil
	}
	if err := json.Unmarshal(raw, &c.Op); err != nil {
		p.add(join(path, "op"), "want a string, got %s", jsonKind(raw))
		return nil
	}
	op, known := LookupOperator(c.Op)
	if !known {
		p.add(join(path, "op"), "unknown operator %q (known: %s)", c.Op, opNames())
		return nil
	}
	kind := op.Operand
	value, hasValue := obj["value"]
	cond, hasCond := obj["cond"]
	if hasCond && kind != OperandCond {
		p.add(join(path, "cond"), "only the any operator takes a cond")
		bad = true
	}
	switch {
	case kind == OperandNone:
		if hasValue {
			p.add(join(path, "value"), "%s takes no value", c.Op)
			bad = true
		}
	case kind == OperandCond:
		if hasValue {
			p.add(join(path, "value"), "any takes a cond (the condition on each element), not a value")
			bad = true
		}
		if !hasCond {
			p.add(join(path, "cond"), "required: the condition each element is tested with, e.g. {\"path\": \"\", \"op\": \"starts_with\", \"value\": \"db-\"}")
			return nil
		}
		c.Cond = p.node(cond, join(path, "cond"), true, depth+1)
		if c.Cond == nil {
			bad = true
		}
	case !hasValue:
		p.add(join(path, "value"), "required for %s: %s", c.Op, operandHelp[kind])
		bad = true
	default:
		value = bytes.TrimSpace(value)
		if msg := checkOperand(c.Op, kind, value); msg != "" {
			p.add(join(path, "value"), "%s", msg)
			bad = true
		} else if _, err := op.Compile(Arg{Value: value}); err != nil {
			p.add(join(path, "value"), "%s", err.Error())
			bad = true
		}
		c.Value = append(json.RawMessage(nil), value...)
	}
	if bad {
		return nil
	}
	return c
}

var operandHelp = map[string]string{
	OperandScalar:     "a string, number, boolean or null",
	OperandString:     "a non-empty string",
	OperandRegex:      "a regular expression (Go RE2 syntax)",
	OperandOrdered:    "a number, or a time as an RFC 3339 string (\"2026-01-02T15:04:05Z\")",
	OperandScalarList: "a non-empty array of strings, numbers, booleans or null",
	OperandStringList: "a non-empty array of strings",
}

// checkOperand returns what is wrong with a value of operand kind kind for
// operator op, or "" (the operator's Compile then has its say).
func checkOperand(op, kind string, value json.RawMessage) string {
	want := func() string { return fmt.Sprintf("%s wants %s, got %s", op, operandHelp[kind], jsonKind(value)) }
	switch kind {
	case OperandScalar:
		if !isScalar(value) {
			return want()
		}
	case OperandString, OperandRegex:
		var s string
		if json.Unmarshal(value, &s) != nil {
			return want()
		}
		if s == "" {
			return fmt.Sprintf("empty %s value: it would match every string", op)
		}
	case OperandOrdered:
		if _, _, ok := OrderedOperand(value); !ok {
			return want()
		}
	case OperandScalarList, OperandStringList:
		var items []json.RawMessage
		if json.Unmarshal(value, &items) != nil || items == nil {
			return want()
		}
		if len(items) == 0 {
			return fmt.Sprintf("empty list: %s would never match", op)
		}
		for i, it := range items {
			var s string
			if kind == OperandStringList && json.Unmarshal(it, &s) != nil ||
				kind == OperandScalarList && !isScalar(it) {
				return fmt.Sprintf("element %d: %s wants %s, got %s", i, op, operandHelp[kind], jsonKind(it))
			}
		}
	}
	return ""
}

// OrderedOperand reads the value of gt, gte, lt, lte: a number (isTime
// false) or an RFC 3339 time, returned as milliseconds since the epoch.
func OrderedOperand(value json.RawMessage) (num float64, isTime bool, ok bool) {
	var f float64
	if json.Unmarshal(value, &f) == nil {
		return f, false, !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	var s string
	if json.Unmarshal(value, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return float64(t.UnixNano()) / 1e6, true, true
		}
	}
	return 0, false, false
}

func isScalar(v json.RawMessage) bool {
	switch jsonKind(v) {
	case "string", "number", "boolean", "null":
		return true
	}
	return false
}

// jsonKind names the JSON type of raw.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func opNames() string { return operators.names() }

// RegexpProblem phrases a regexp error without repeating the whole pattern
// twice ("missing closing ): `(a`").
func RegexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
	}
	return err.Error()
}
