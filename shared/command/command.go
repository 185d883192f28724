// Package command renders the command line of a rule task from the alert it
// runs for, safely: every value taken from the alert reaches the shell as
// one literal word, whatever bytes it holds.
//
// A command template is Go text/template syntax with the alert as data:
//
//	sudo systemctl restart {{ .details.service }}
//	grep -c {{ alert "details.pattern" }} /var/log/app.log
//	ping -c 1 {{ alert_or "details.ip" "127.0.0.1" }}
//	{{ range .tags }}echo {{ . }}; {{ end }}
//
// After parsing, every action that prints something gets the shell-quoting
// function shquote appended to its pipeline (as html/template appends its
// escapers), so a value prints as a POSIX single-quoted word: ' becomes '\”
// and nothing else is special inside. The one way to insert a value
// unquoted is to end the action with raw_unsafe ({{ .details.args |
// raw_unsafe }}); rules must say why (the task's unsafe_reason).
//
// Quoting only protects a word where the shell reads words, so Parse refuses
// an action anywhere else in the command text: inside '...' or "..." or
// `...`, after a backslash or a $, in a comment, in $((...)), ((...)),
// $[...] or ${...}, or after a here-document's <<. Templates cannot define
// or call other templates.
//
// Values: a string as is, a number as written in the alert, true or false.
// A missing key or path, null, an object or an array is a render error, never
// an empty string. A value holding a NUL byte is refused: a command line is
// a C string, so no shell could receive it, and cutting it short silently
// would run something else than the rule says.
//
// The quoting is POSIX: the remote login shell must be sh, dash, bash, ksh
// or zsh (not fish or csh, whose single quotes differ).
package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
}

// ErrNUL is returned (wrapped) when a value or the command holds a NUL byte.
var ErrNUL = errors.New("contains a NUL byte, which no shell command can carry")

// Parse parses and checks a command template.
func Parse(text string) (*Template, error) {
	if strings.IndexByte(text, 0) >= 0 {
		return nil, fmt.Errorf("command %w", ErrNUL)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(funcs(nil)).Parse(text)
	if err != nil {
		return nil, errors.New(tidy(err.Error()))
	}
	if len(tmpl.Templates()) > 1 {
		return nil, errors.New("define, block and template are not supported in commands")
	}
	t := &Template{text: text, tmpl: tmpl}
	if tmpl.Tree == nil || tmpl.Root == nil {
		return t, nil // empty text
	}
	w := walker{t: t}
	if _, err := w.list(tmpl.Root, shellState{wordStart: true}); err != nil {
		return nil, err
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
	tmpl.Funcs(funcs(alertJSON))
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

// funcs returns the template functions; alertJSON is nil while parsing.
func funcs(alertJSON []byte) template.FuncMap {
	lookup := func(path string) gjson.Result {
		if alertJSON == nil {
			return gjson.Result{}
		}
		return gjson.GetBytes(alertJSON, path)
	}
	return template.FuncMap{
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
		funcQuote: func(v any) (string, error) {
			s, err := Text(v)
			if err != nil {
				return "", err
			}
			return Quote(s)
		},
	}
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

// tidy drops text/template's mention of the internal quoting function.
func tidy(msg string) string {
	msg = strings.ReplaceAll(msg, `executing "`+name+`" at <`+funcQuote+`>: error calling `+funcQuote+`: `, "")
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
	t *Template
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
			st = st.scan(string(n.Text))
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
	cmds := n.Pipe.Cmds
	for i, c := range cmds {
		if isIdent(c, FuncRawUnsafe) && i != len(cmds)-1 {
			return st, w.errorf(n.Position(), "%s must be the last function of an action: %s", FuncRawUnsafe, n)
		}
		for _, a := range c.Args {
			if id, ok := a.(*parse.IdentifierNode); ok && id.Ident == funcQuote {
				return st, w.errorf(n.Position(), "%s is applied automatically; do not call it: %s", funcQuote, n)
			}
		}
	}
	if len(n.Pipe.Decl) > 0 {
		return st, nil // a variable declaration prints nothing
	}
	if why := st.unsafe(); why != "" {
		return st, w.errorf(n.Position(), "action %s is %s, where a quoted value would not stay one word: "+
			"put it where the shell reads a plain word (values are quoted for you)", n, why)
	}
	if isIdent(cmds[len(cmds)-1], FuncRawUnsafe) {
		w.t.raw = true
		// Taken to be a well-formed shell fragment: whatever it holds is
		// the rule's declared risk already.
		st.wordStart = false
		st.afterDollar = false
		return st, nil
	}
	n.Pipe.Cmds = append(cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      n.Position(),
		Args:     []parse.Node{parse.NewIdentifier(funcQuote).SetTree(nil).SetPos(n.Position())},
	})
	st.wordStart = false
	st.afterDollar = false
	return st, nil
}

// branch walks if/with/range: every branch starts from st and must end in
// the same state (a range body must also end where it started, as it may
// run again).
func (w *walker) branch(n *parse.BranchNode, st shellState, kind string, loops bool) (shellState, error) {
	end, err := w.list(n.List, st)
	if err != nil {
		return st, err
	}
	if loops && !end.same(st) {
		return st, w.errorf(n.Position(), "the body of {{%s}} changes the shell quoting state; close every quote inside it", kind)
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
	return end, nil
}

func (w *walker) errorf(pos parse.Pos, format string, args ...any) error {
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
