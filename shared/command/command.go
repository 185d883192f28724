// Package command renders the command line of a rule task from the alert it
// runs for, safely: every value taken from the alert is typed, and reaches
// the shell as one literal word in a place where that type cannot become
// code, an option or a program.
//
// A command template is Go text/template syntax with the alert as data:
//
//	sudo systemctl restart {{ .details.service }}
//	kill {{ .details.pid | int }}
//	ping -c 1 {{ alert_or "details.ip" "127.0.0.1" | host }}
//	{{ range .tags }}echo {{ . }}; {{ end }}
//
// Types (value.go): a value names its type with a filter that ends its
// action (int, host, path, match "RE", text); without one it is a token
// (letters, digits, _ then also . : + @ % , -; no leading -, at most 256
// bytes). A value that does not fit its type makes Render fail with a
// *ValueError (errors.Is ErrValueRefused) naming the field and the type:
// nothing runs.
//
// After parsing, every action that prints something gets the checking and
// shell-quoting function shquote appended to its pipeline (as html/template
// appends its escapers), with the action's field and type, so a value
// prints as a POSIX single-quoted word: ' becomes '\” and nothing else is
// special inside. The one way to insert a value unquoted and unchecked is
// to end the action with raw_unsafe ({{ .details.args | raw_unsafe }});
// rules must say why (the task's unsafe_reason).
//
// Quoting only protects a word where the shell reads words, so Parse refuses
// an action anywhere else in the command text: inside '...' or "..." or
// `...`, after a backslash or a $, in a comment, in $((...)), ((...)),
// $[...] or ${...}, or after a here-document's <<. And a word is not inert
// everywhere, so Parse also follows each simple command (shell.go) and
// refuses a value in the command name's place, as a wrapper's or an
// interpreter's program, as an argument of eval or a shell, inside [[ ]],
// let, declare or a subscript unless it is int, in a command that evaluates
// arithmetic or runs a command named at run time unless every value is
// int, and text anywhere but after echo, printf '%s' or logger --.
// Templates cannot define or call other templates.
//
// Values: a string as is, a number as written in the alert, true or false,
// then checked as text. A missing key or path, null, an object or an array
// is a render error, never an empty string. A value holding a NUL byte is
// refused: a command line is a C string, so no shell could receive it, and
// cutting it short silently would run something else than the rule says.
//
// The quoting is POSIX: the remote login shell must be sh, dash, bash, ksh
// or zsh (not fish or csh, whose single quotes differ).
package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/tidwall/gjson"
)

// MaxLen is the longest rendered command. Linux refuses a single argument
// over 128 KiB (the command reaches the remote shell as one "-c" argument);
// half of that leaves room and keeps notes and logs readable.
const MaxLen = 64 << 10

// Function names usable in templates.
const (
	FuncAlert     = "alert"      // alert "gjson.path": the value at a path into the alert
	FuncAlertOr   = "alert_or"   // alert_or "path" "fallback": same, with a fallback when missing or null
	FuncRawUnsafe = "raw_unsafe" // last in an action: insert the value unquoted
	funcQuote     = "shquote"    // appended to every other printing action
)

// name is the template's name, shown in its error messages.
const name = "run_command"

// Template is a parsed command template. It is safe for concurrent use.
type Template struct {
	text string
	tmpl *template.Template
	raw  bool // some action ends with raw_unsafe
	// regexps are the compiled match patterns, by pattern.
	regexps map[string]*regexp.Regexp
}

// ErrNUL is returned (wrapped) when a value or the command holds a NUL byte.
var ErrNUL = errors.New("contains a NUL byte, which no shell command can carry")

// Parse parses and checks a command template.
func Parse(text string) (*Template, error) {
	if strings.IndexByte(text, 0) >= 0 {
		return nil, fmt.Errorf("command %w", ErrNUL)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(funcs(nil, nil)).Parse(text)
	if err != nil {
		return nil, errors.New(tidy(err.Error()))
	}
	if len(tmpl.Templates()) > 1 {
		return nil, errors.New("define, block and template are not supported in commands")
	}
	t := &Template{text: text, tmpl: tmpl, regexps: map[string]*regexp.Regexp{}}
	if tmpl.Tree == nil || tmpl.Root == nil {
		return t, nil // empty text
	}
	w := walker{t: t}
	end, err := w.list(tmpl.Root, shellState{wordStart: true, cmd: cmdState{start: true}})
	if err != nil {
		return nil, err
	}
	end.endWord() // the last word counts too
	if w.nonInt != nil && end.arith {
		return nil, w.errorf(w.nonInt.Position(), "the command evaluates arithmetic ((( )), $(( )), let, declare -i, [[ -gt ]], ...), "+
			"where bash reads a variable or parameter holding a value as an expression (and runs $(...) in its subscripts): "+
			"every value in it must be | int, and %s is not (compare with [ ] or test instead, which do not evaluate)", w.nonIntText)
	}
	if w.nonInt != nil && end.dynamic {
		return nil, w.errorf(w.nonInt.Position(), "the command runs a program or code named at run time "+
			"($v or $(...) as a command name, or in the arguments of eval, sh -c, sudo, ...), which may be a value "+
			"stored in a variable: every value in it must be | int, and %s is not", w.nonIntText)
	}
	if w.nonInt != nil && end.codeReader && (end.plumbing || end.pendingPipe) {
		return nil, w.errorf(w.nonInt.Position(), "the command has a pipe or redirection and runs something that reads code "+
			"from it (sh, bash, eval, source, xargs, ...): a value could be piped into it, so every value must be | int, and %s is not", w.nonIntText)
	}
	if w.text != nil && (end.plumbing || end.pendingPipe) {
		return nil, w.errorf(w.text.Position(), "%s is used, but the command has an unquoted |, < or > (outside [[ ]]), "+
			"through which printed text could reach something that reads it as code: take text out, or name a stricter type", TypeText)
	}
	return t, nil
}

// Text returns the template as written.
func (t *Template) Text() string { return t.text }

// UsesRaw reports whether some action inserts a value unquoted (raw_unsafe).
func (t *Template) UsesRaw() bool { return t.raw }

// Render executes the template for an alert (the envelope's JSON object).
func (t *Template) Render(alertJSON []byte) (string, error) {
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(alertJSON))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return "", fmt.Errorf("render %s: alert is not a JSON object: %v", name, err)
	}
	tmpl, err := t.tmpl.Clone()
	if err != nil {
		return "", fmt.Errorf("render %s: %v", name, err)
	}
	tmpl.Funcs(funcs(alertJSON, t.regexps))
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", &renderError{msg: "render " + name + ": " + tidy(err.Error()), cause: err}
	}
	out := b.String()
	if strings.IndexByte(out, 0) >= 0 {
		return "", fmt.Errorf("render %s: command %w", name, ErrNUL)
	}
	if len(out) > MaxLen {
		return "", fmt.Errorf("render %s: command is %d bytes, over the %d-byte limit", name, len(out), MaxLen)
	}
	return out, nil
}

// Quote returns s as one POSIX shell word: single-quoted, each ' written as
// '\”. It refuses s holding a NUL byte.
func Quote(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("value %w", ErrNUL)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b.WriteString(`'\''`)
		} else {
			b.WriteByte(s[i])
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// funcs returns the template functions; alertJSON and regexps are nil
// while parsing.
func funcs(alertJSON []byte, regexps map[string]*regexp.Regexp) template.FuncMap {
	lookup := func(path string) gjson.Result {
		if alertJSON == nil {
			return gjson.Result{}
		}
		return gjson.GetBytes(alertJSON, path)
	}
	fm := template.FuncMap{
		FuncAlert: func(path string) (any, error) {
			v := lookup(path)
			if !v.Exists() {
				return nil, fmt.Errorf("alert has no value at %q", path)
			}
			return Scalar(path, v)
		},
		FuncAlertOr: func(path string, fallback any) (any, error) {
			v := lookup(path)
			if !v.Exists() || v.Type == gjson.Null {
				return fallback, nil
			}
			return Scalar(path, v)
		},
		FuncRawUnsafe: func(v any) (string, error) {
			s, err := Text(v)
			if err != nil {
				return "", err
			}
			if strings.IndexByte(s, 0) >= 0 {
				return "", fmt.Errorf("value %w", ErrNUL)
			}
			return s, nil
		},
		funcArgv: check,
		funcQuote: func(field, kind, flags string, v any) (string, error) {
			s, err := check(field, kind, flags, v)
			if err != nil {
				return "", err
			}
			return Quote(s)
		},
	}
	for k, f := range filterFuncs(regexps) {
		fm[k] = f
	}
	return fm
}

// Scalar turns the gjson value at path into a template value (string,
// json.Number, bool or nil); an object or array is an error.
func Scalar(path string, v gjson.Result) (any, error) {
	switch v.Type {
	case gjson.String:
		return v.Str, nil
	case gjson.Number:
		return json.Number(v.Raw), nil
	case gjson.True:
		return true, nil
	case gjson.False:
		return false, nil
	case gjson.Null:
		return nil, nil
	}
	if v.IsArray() {
		return nil, fmt.Errorf("value at %q is an array, not a single value", path)
	}
	return nil, fmt.Errorf("value at %q is an object, not a single value", path)
}

// Text is the word a template value prints as; null, objects and arrays
// are errors, never an empty string.
func Text(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		if v {
			return "true", nil
		}
		return "false", nil
	case nil:
		return "", errors.New("value is null")
	case map[string]any:
		return "", errors.New("value is an object, not a single value")
	case []any:
		return "", errors.New("value is an array, not a single value")
	case fmt.Stringer, error:
		return "", fmt.Errorf("value of type %T cannot be printed", v)
	}
	return fmt.Sprint(v), nil // numbers from len, printf results, ...
}

// internalCall is text/template's mention of the internal quoting function.
var internalCall = regexp.MustCompile(`executing "` + name + `" at <` + funcQuote + `[^>]*>: error calling ` + funcQuote + `: `)

// tidy drops text/template's mention of the internal quoting function.
func tidy(msg string) string {
	msg = internalCall.ReplaceAllLiteralString(msg, "")
	msg = strings.ReplaceAll(msg, "error calling "+funcQuote+": ", "")
	return strings.TrimPrefix(msg, "template: ")
}

// renderError keeps the cause (e.g. ErrNUL) of a tidied message.
type renderError struct {
	msg   string
	cause error
}

func (e *renderError) Error() string { return e.msg }
func (e *renderError) Unwrap() error { return e.cause }

// walker checks a parsed template and adds the quoting function.
type walker struct {
	t          *Template
	dry        bool              // only compute states (a range body's first pass): change nothing
	argv       bool              // an argv element: no shell reads it (Argv)
	text       *parse.ActionNode // the first action printing a text value
	nonInt     *parse.ActionNode // the first action printing a value that is not int
	nonIntText string            // as written
}

// list walks a list of nodes from shell state st and returns the state
// after it.
func (w *walker) list(l *parse.ListNode, st shellState) (shellState, error) {
	if l == nil {
		return st, nil
	}
	for _, n := range l.Nodes {
		var err error
		switch n := n.(type) {
		case *parse.TextNode:
			if w.argv {
				st = st.literal(n.Text)
			} else {
				st = st.scan(string(n.Text))
			}
		case *parse.ActionNode:
			st, err = w.action(n, st)
		case *parse.IfNode:
			st, err = w.branch(&n.BranchNode, st, "if", false)
		case *parse.WithNode:
			st, err = w.branch(&n.BranchNode, st, "with", false)
		case *parse.RangeNode:
			st, err = w.branch(&n.BranchNode, st, "range", true)
		case *parse.TemplateNode:
			err = w.errorf(n.Position(), "template calls are not supported in commands")
		case *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		default:
			err = w.errorf(n.Position(), "unsupported template element %s", n)
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

func (w *walker) action(n *parse.ActionNode, st shellState) (shellState, error) {
	kind, err := w.pipeline(n)
	if err != nil {
		return st, err
	}
	if len(n.Pipe.Decl) > 0 {
		return st, nil // a variable declaration prints nothing
	}
	if why := st.unsafe(); why != "" && !w.argv {
		return st, w.errorf(n.Position(), "action %s is %s, where a quoted value would not stay one word: "+
			"put it where the shell reads a plain word (values are quoted for you)", n, why)
	}
	if kind == FuncRawUnsafe && w.argv {
		return st, w.errorf(n.Position(), "%s is not supported in argv: name a type (int, host, path, match, text)", FuncRawUnsafe)
	}
	if kind == FuncRawUnsafe {
		w.t.raw = true
		// Taken to be a well-formed shell fragment: whatever it holds is
		// the rule's declared risk already.
		st.wordStart = false
		st.afterDollar = false
		st.cmd.wordDyn = true
		return st, nil
	}
	if why := st.valueContext(kind); why != "" {
		return st, w.errorf(n.Position(), "action %s (type %s) is %s", n, kind, why)
	}
	if kind == TypeText && w.text == nil {
		w.text = n
	}
	if kind != TypeInt && w.nonInt == nil {
		w.nonInt = n
		w.nonIntText = n.String()
	}
	w.escape(n, kind, st.cmd.dashdash)
	st.wordStart = false
	st.afterDollar = false
	st.cmd.wordDyn = true
	return st, nil
}

// pipeline checks an action's functions and returns the type of the value
// it prints: a filter's name, TypeToken when it names none, or
// FuncRawUnsafe. It compiles match patterns.
func (w *walker) pipeline(n *parse.ActionNode) (string, error) {
	kind := TypeToken
	cmds := n.Pipe.Cmds
	for i, c := range cmds {
		id := ""
		if len(c.Args) > 0 {
			if in, ok := c.Args[0].(*parse.IdentifierNode); ok {
				id = in.Ident
			}
		}
		if (id == FuncRawUnsafe || filterNames[id]) && i != len(cmds)-1 {
			return "", w.errorf(n.Position(), "%s must be the last function of an action: %s", id, n)
		}
		if id == FuncRawUnsafe || filterNames[id] {
			kind = id
		}
		if id == TypeMatch {
			if len(c.Args) < 2 {
				return "", w.errorf(n.Position(), `match needs a pattern: {{ .details.x | match "^[a-z]+$" }}`)
			}
			p, ok := c.Args[1].(*parse.StringNode)
			if !ok {
				return "", w.errorf(n.Position(), "the pattern of match must be a literal string: %s", n)
			}
			re, err := compileMatch(p.Text)
			if err != nil {
				return "", w.errorf(n.Position(), "%v", err)
			}
			w.t.regexps[p.Text] = re
		}
		for j, a := range c.Args {
			if err := w.nested(n, a, j == 0); err != nil {
				return "", err
			}
		}
	}
	return kind, nil
}

// nested refuses the internal quoting function anywhere, and filters and
// raw_unsafe inside parenthesized pipelines (first: a is a command's
// function).
func (w *walker) nested(n *parse.ActionNode, a parse.Node, first bool) error {
	switch a := a.(type) {
	case *parse.IdentifierNode:
		if a.Ident == funcQuote || a.Ident == funcArgv {
			return w.errorf(n.Position(), "%s is applied automatically; do not call it: %s", funcQuote, n)
		}
		if !first && (filterNames[a.Ident] || a.Ident == FuncRawUnsafe) {
			return w.errorf(n.Position(), "%s must be the last function of an action: %s", a.Ident, n)
		}
	case *parse.PipeNode:
		for _, c := range a.Cmds {
			for _, b := range c.Args {
				if id, ok := b.(*parse.IdentifierNode); ok && (filterNames[id.Ident] || id.Ident == FuncRawUnsafe) {
					return w.errorf(n.Position(), "%s must be the last function of an action, not inside ( ): %s", id.Ident, n)
				}
				if err := w.nested(n, b, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// escape appends the checking and quoting function to an action's
// pipeline: shquote FIELD KIND FLAGS.
func (w *walker) escape(n *parse.ActionNode, kind string, dashdash bool) {
	if w.dry {
		return
	}
	flags := ""
	if dashdash {
		flags = "dd"
	}
	pos := n.Position()
	str := func(s string) parse.Node {
		return &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(s), Text: s}
	}
	fn := funcQuote
	if w.argv {
		fn = funcArgv
	}
	n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      pos,
		Args:     []parse.Node{parse.NewIdentifier(fn).SetTree(nil).SetPos(pos), str(fieldOf(n.Pipe)), str(kind), str(flags)},
	})
}

// fieldOf names where an action's value comes from, for error messages:
// "details.pid", `alert "details.ip"`, "$h", "." (a range element).
func fieldOf(p *parse.PipeNode) string {
	if len(p.Cmds) == 0 || len(p.Cmds[0].Args) == 0 {
		return "the value"
	}
	c := p.Cmds[0]
	var s string
	switch a := c.Args[0].(type) {
	case *parse.FieldNode:
		s = strings.Join(a.Ident, ".")
	case *parse.IdentifierNode:
		if (a.Ident == FuncAlert || a.Ident == FuncAlertOr) && len(c.Args) > 1 {
			if str, ok := c.Args[1].(*parse.StringNode); ok {
				s = str.Text
				break
			}
		}
		s = c.String()
	default:
		s = c.String()
	}
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

// branch walks if/with/range: every branch starts from st and must end in
// the same state (a range body must also end where it started, as it may
// run again).
func (w *walker) branch(n *parse.BranchNode, st shellState, kind string, loops bool) (shellState, error) {
	if loops {
		// The body may run after itself: walk it once to see where it
		// ends, then for real from what both starts have in common.
		dry := *w
		dry.dry = true
		end, err := dry.list(n.List, st)
		if err != nil {
			return st, err
		}
		if !end.same(st) {
			return st, w.errorf(n.Position(), "the body of {{%s}} changes the shell quoting state; close every quote inside it", kind)
		}
		st = st.merge(end)
	}
	end, err := w.list(n.List, st)
	if err != nil {
		return st, err
	}
	endElse := st
	if n.ElseList != nil {
		if endElse, err = w.list(n.ElseList, st); err != nil {
			return st, err
		}
	}
	if !end.same(endElse) {
		return st, w.errorf(n.Position(), "the branches of {{%s}} leave the shell in different quoting states; close every quote inside each branch", kind)
	}
	return end.merge(endElse), nil
}

func (w *walker) errorf(pos parse.Pos, format string, args ...any) error {
	if w.argv {
		return fmt.Errorf(format, args...) // ElemError names the element
	}
	line := 1 + strings.Count(w.t.text[:min(int(pos), len(w.t.text))], "\n")
	return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
}

func isIdent(c *parse.CommandNode, ident string) bool {
	if len(c.Args) == 0 {
		return false
	}
	id, ok := c.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == ident
}
