package opsgenietest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file implements the part of OpsGenie's alert search syntax that
// Alexis and its tests use:
//
//	status: open AND teams: ops AND NOT tag: "no auto"
//	(message: disk OR description: "disk full") AND createdAt > 1700000000000
//	teams: (ops OR dba) priority: P1      // juxtaposition means AND
//	details.host: db01 AND tinyId >= 40
//	timeout                               // free text over the text fields
//
// Keywords (AND, OR, NOT) are case-insensitive; NOT binds tighter than AND,
// which binds tighter than OR. Unquoted values may use the wildcards * and
// ?; quoted values are literal. Keyword fields (status, tag, teams, alias,
// ...) compare whole values case-insensitively; text fields (message,
// description) match words or phrases; numeric fields (createdAt, updatedAt,
// lastOccurredAt in epoch milliseconds, tinyId, count) also take > >= < <=.
// Anything else — an unknown field, a comparison on a text field, a dangling
// operator — is an error, answered 422 like the real API, never "match all".

// maxQueryDepth bounds nesting of parentheses and NOTs.
const maxQueryDepth = 64

// maxQueryLen bounds the query string.
const maxQueryLen = 4096

// QueryError is a query the parser rejects.
type QueryError struct {
	Pos int // byte offset in the query
	Msg string
}

func (e *QueryError) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos, e.Msg) }

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tQuoted
	tLParen
	tRParen
	tColon
	tCmp
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tQuoted:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// isKeyword reports whether t is the bare word kw (case-insensitive).
func (t token) isKeyword(kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

func (t token) isAnyKeyword() bool {
	return t.isKeyword("AND") || t.isKeyword("OR") || t.isKeyword("NOT")
}

// lex splits a query into tokens.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return nil, &QueryError{i, "invalid UTF-8"}
		case unicode.IsSpace(r):
			i += size
		case r == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case r == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case r == ':':
			toks = append(toks, token{tColon, ":", i})
			i++
		case r == '>' || r == '<':
			op := string(r)
			if i+1 < len(s) && s[i+1] == '=' {
				op += "="
			}
			toks = append(toks, token{tCmp, op, i})
			i += len(op)
		case r == '=' || r == '!':
			return nil, &QueryError{i, fmt.Sprintf("unsupported operator %q (use field: value, NOT, > >= < <=)", r)}
		case r == '"':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, &QueryError{start, "unterminated quoted value"}
			}
			toks = append(toks, token{tQuoted, b.String(), start})
		default:
			start := i
			for i < len(s) {
				r, size := utf8.DecodeRuneInString(s[i:])
				if unicode.IsSpace(r) || strings.ContainsRune(`():"<>=!`, r) || (r == utf8.RuneError && size == 1) {
					break
				}
				i += size
			}
			toks = append(toks, token{tWord, s[start:i], start})
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

// node is a parsed query (sub)expression.
type node interface {
	match(a *Alert) bool
}

type matchAll struct{}

func (matchAll) match(*Alert) bool { return true }

type andNode struct{ l, r node }

func (n andNode) match(a *Alert) bool { return n.l.match(a) && n.r.match(a) }

type orNode struct{ l, r node }

func (n orNode) match(a *Alert) bool { return n.l.match(a) || n.r.match(a) }

type notNode struct{ n node }

func (n notNode) match(a *Alert) bool { return !n.n.match(a) }

// parseQuery parses an alert search query. An empty query matches every
// alert, as when the API is called without one.
func parseQuery(q string) (node, error) {
	if len(q) > maxQueryLen {
		return nil, &QueryError{maxQueryLen, fmt.Sprintf("query longer than %d bytes", maxQueryLen)}
	}
	if strings.TrimSpace(q) == "" {
		return matchAll{}, nil
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or(nil)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &QueryError{t.pos, "unexpected " + t.String()}
	}
	return n, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxQueryDepth {
		return &QueryError{t.pos, "query nested too deeply"}
	}
	return nil
}

// or parses a disjunction. f is the field a parenthesised value group
// belongs to ("teams: (a OR b)"), nil at the top level.
func (p *parser) or(f *field) (node, error) {
	left, err := p.and(f)
	if err != nil {
		return nil, err
	}
	for p.peek().isKeyword("OR") {
		p.next()
		right, err := p.and(f)
		if err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
	return left, nil
}

// and parses a conjunction; juxtaposed terms are joined with AND.
func (p *parser) and(f *field) (node, error) {
	left, err := p.unary(f)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.isKeyword("AND"):
			p.next()
		case t.isKeyword("OR"), t.kind == tEOF, t.kind == tRParen:
			return left, nil
		}
		right, err := p.unary(f)
		if err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
}

func (p *parser) unary(f *field) (node, error) {
	t := p.peek()
	if !t.isKeyword("NOT") {
		return p.primary(f)
	}
	p.next()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	n, err := p.unary(f)
	p.depth--
	if err != nil {
		return nil, err
	}
	return notNode{n}, nil
}

func (p *parser) primary(f *field) (node, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		n, err := p.or(f)
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, &QueryError{c.pos, "expected ')' to close '(' at position " + strconv.Itoa(t.pos) + ", got " + c.String()}
		}
		return n, nil
	case tQuoted:
		p.next()
		return f.term(t, true)
	case tWord:
		if t.isAnyKeyword() {
			return nil, &QueryError{t.pos, "unexpected " + strings.ToUpper(t.text) + " (quote it to search for the word)"}
		}
		if after := p.peekAt(1); after.kind == tColon || after.kind == tCmp {
			if f != nil {
				return nil, &QueryError{t.pos, fmt.Sprintf("field %q inside the value group of %q", t.text, f.name)}
			}
			return p.fieldExpr()
		}
		p.next()
		return f.term(t, false)
	case tEOF:
		return nil, &QueryError{t.pos, "unexpected end of query: a term is missing"}
	}
	return nil, &QueryError{t.pos, "unexpected " + t.String()}
}

// fieldExpr parses "field: value", "field: (values)" or "field > N".
func (p *parser) fieldExpr() (node, error) {
	name := p.next()
	f, err := lookupField(name)
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind == tCmp {
		v := p.next()
		if f.kind != numericField {
			return nil, &QueryError{op.pos, fmt.Sprintf("%s does not take %s: only createdAt, updatedAt, lastOccurredAt, tinyId and count do", f.name, op.text)}
		}
		if v.kind != tWord || v.isAnyKeyword() {
			return nil, &QueryError{v.pos, fmt.Sprintf("%s %s needs a number, got %s", f.name, op.text, v)}
		}
		n, err := strconv.ParseInt(v.text, 10, 64)
		if err != nil {
			return nil, &QueryError{v.pos, fmt.Sprintf("%s %s needs an integer, got %s", f.name, op.text, v)}
		}
		return cmpNode{f: f, op: op.text, n: n}, nil
	}
	switch v := p.peek(); {
	case v.kind == tLParen:
		return p.primary(f)
	case v.kind == tQuoted:
		p.next()
		return f.term(v, true)
	case v.kind == tWord && !v.isAnyKeyword():
		p.next()
		return f.term(v, false)
	default:
		return nil, &QueryError{v.pos, fmt.Sprintf("%s: needs a value, got %s", f.name, v)}
	}
}

type fieldKind int

const (
	keywordField fieldKind = iota // whole value, case-insensitive
	textField                     // words or phrases
	numericField                  // integers; also > >= < <=
	boolField                     // true or false
)

// field is a searchable alert field.
type field struct {
	name   string
	kind   fieldKind
	values func(a *Alert) []string // keyword and text fields
	number func(a *Alert) int64    // numeric and bool (0/1) fields
}

func (f *field) displayName() string {
	if f == nil {
		return "free text"
	}
	return f.name
}

func str(get func(a *Alert) string) func(a *Alert) []string {
	return func(a *Alert) []string { return []string{get(a)} }
}

func boolNum(get func(a *Alert) bool) func(a *Alert) int64 {
	return func(a *Alert) int64 {
		if get(a) {
			return 1
		}
		return 0
	}
}

// fields by lower-case name.
var fields = map[string]*field{}

func init() {
	add := func(f *field, names ...string) {
		for _, n := range names {
			fields[strings.ToLower(n)] = f
		}
	}
	kw := func(name string, get func(a *Alert) []string) *field {
		return &field{name: name, kind: keywordField, values: get}
	}
	num := func(name string, get func(a *Alert) int64) *field {
		return &field{name: name, kind: numericField, number: get}
	}
	add(kw("id", str(func(a *Alert) string { return a.ID })), "id")
	add(kw("status", str(func(a *Alert) string { return a.Status })), "status")
	add(kw("alias", str(func(a *Alert) string { return a.Alias })), "alias")
	add(kw("entity", str(func(a *Alert) string { return a.Entity })), "entity")
	add(kw("source", str(func(a *Alert) string { return a.Source })), "source")
	add(kw("owner", str(func(a *Alert) string { return a.Owner })), "owner")
	add(kw("priority", str(func(a *Alert) string { return a.Priority })), "priority")
	add(kw("tag", func(a *Alert) []string { return a.Tags }), "tag", "tags")
	add(kw("teams", func(a *Alert) []string { return a.Teams }), "teams", "team")
	add(kw("details.key", func(a *Alert) []string {
		keys := make([]string, 0, len(a.Details))
		for k := range a.Details {
			keys = append(keys, k)
		}
		return keys
	}), "details.key")
	add(kw("details.value", func(a *Alert) []string {
		vals := make([]string, 0, len(a.Details))
		for _, v := range a.Details {
			vals = append(vals, v)
		}
		return vals
	}), "details.value")
	add(&field{name: "message", kind: textField, values: str(func(a *Alert) string { return a.Message })}, "message")
	add(&field{name: "description", kind: textField, values: str(func(a *Alert) string { return a.Description })}, "description")
	add(num("tinyId", func(a *Alert) int64 { n, _ := strconv.ParseInt(a.TinyID, 10, 64); return n }), "tinyId")
	add(num("count", func(a *Alert) int64 { return int64(a.Count) }), "count")
	add(num("createdAt", func(a *Alert) int64 { return a.CreatedAt.UnixMilli() }), "createdAt")
	add(num("updatedAt", func(a *Alert) int64 { return a.UpdatedAt.UnixMilli() }), "updatedAt")
	add(num("lastOccurredAt", func(a *Alert) int64 { return a.LastOccurredAt.UnixMilli() }), "lastOccurredAt")
	add(&field{name: "acknowledged", kind: boolField, number: boolNum(func(a *Alert) bool { return a.Acknowledged })}, "acknowledged")
	add(&field{name: "isSeen", kind: boolField, number: boolNum(func(a *Alert) bool { return a.IsSeen })}, "isSeen")
	add(&field{name: "snoozed", kind: boolField, number: boolNum(func(a *Alert) bool { return a.Snoozed })}, "snoozed")
}

// lookupField resolves a field name token; "details.<key>" names one
// custom property (key compared exactly).
func lookupField(t token) (*field, error) {
	if f, ok := fields[strings.ToLower(t.text)]; ok {
		return f, nil
	}
	if key, ok := strings.CutPrefix(t.text, "details."); ok && key != "" {
		return &field{name: t.text, kind: keywordField, values: func(a *Alert) []string {
			if v, ok := a.Details[key]; ok {
				return []string{v}
			}
			return nil
		}}, nil
	}
	return nil, &QueryError{t.pos, fmt.Sprintf("unknown field %q", t.text)}
}

// term builds the node matching one value of f (nil: free text).
func (f *field) term(t token, quoted bool) (node, error) {
	v := valueMatcher{raw: t.text, glob: !quoted && strings.ContainsAny(t.text, "*?")}
	if f == nil {
		return freeText{v}, nil
	}
	switch f.kind {
	case numericField:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, &QueryError{t.pos, fmt.Sprintf("%s: needs an integer, got %s", f.name, t)}
		}
		return cmpNode{f: f, op: "=", n: n}, nil
	case boolField:
		switch strings.ToLower(t.text) {
		case "true":
			return cmpNode{f: f, op: "=", n: 1}, nil
		case "false":
			return cmpNode{f: f, op: "=", n: 0}, nil
		}
		return nil, &QueryError{t.pos, fmt.Sprintf("%s: needs true or false, got %s", f.name, t)}
	}
	return termNode{f: f, v: v}, nil
}

type valueMatcher struct {
	raw  string
	glob bool
}

// keyword matches a whole value.
func (m valueMatcher) keyword(s string) bool {
	if m.glob {
		return globMatch(strings.ToLower(m.raw), strings.ToLower(s))
	}
	return strings.EqualFold(m.raw, s)
}

// text matches a word (or, with wildcards, a word pattern) or a phrase of
// consecutive words in s.
func (m valueMatcher) text(s string) bool {
	hay := words(s)
	if m.glob {
		pat := strings.ToLower(m.raw)
		for _, w := range hay {
			if globMatch(pat, w) {
				return true
			}
		}
		return false
	}
	needle := words(m.raw)
	if len(needle) == 0 {
		return m.raw != "" && strings.Contains(strings.ToLower(s), strings.ToLower(m.raw))
	}
	for i := 0; i+len(needle) <= len(hay); i++ {
		match := true
		for j := range needle {
			if hay[i+j] != needle[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

type termNode struct {
	f *field
	v valueMatcher
}

func (n termNode) match(a *Alert) bool {
	for _, s := range n.f.values(a) {
		if n.f.kind == textField && n.v.text(s) || n.f.kind == keywordField && n.v.keyword(s) {
			return true
		}
	}
	return false
}

type cmpNode struct {
	f  *field
	op string
	n  int64
}

func (n cmpNode) match(a *Alert) bool {
	v := n.f.number(a)
	switch n.op {
	case ">":
		return v > n.n
	case ">=":
		return v >= n.n
	case "<":
		return v < n.n
	case "<=":
		return v <= n.n
	}
	return v == n.n
}

// freeText searches message, description, alias, entity, source, tags,
// teams and detail values.
type freeText struct{ v valueMatcher }

func (n freeText) match(a *Alert) bool {
	candidates := []string{a.Message, a.Description, a.Alias, a.Entity, a.Source}
	candidates = append(candidates, a.Tags...)
	candidates = append(candidates, a.Teams...)
	for _, v := range a.Details {
		candidates = append(candidates, v)
	}
	for _, c := range candidates {
		if n.v.text(c) {
			return true
		}
	}
	return false
}

// words splits s into lower-case runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// globMatch matches s against pattern, where * is any run of characters
// and ? is one character.
func globMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
