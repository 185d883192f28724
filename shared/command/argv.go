package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// funcArgv checks a value printed into an argv element (no quoting: no
// shell reads argv).
const funcArgv = "argvcheck"

// Argv is a parsed argv template (a local task's program and arguments):
// each element a template whose values are typed as in commands, and
// refused where a command template would refuse them (the program's place,
// a wrapper's program, a shell's or eval's arguments, arithmetic commands,
// text anywhere but after echo, printf '%s' or logger --). It is safe for
// concurrent use.
type Argv struct {
	elems   []*template.Template
	regexps map[string]*regexp.Regexp
}

// Entity is the host a task runs for, checked by the action handler
// already. Printed where a token is expected, it may also be an IPv6
// address in brackets, with a port ("[::1]:2222").
type Entity string

// ElemError is an argv element's parse or render error.
type ElemError struct {
	Index int
	Err   error
}

func (e *ElemError) Error() string { return fmt.Sprintf("argv[%d]: %v", e.Index, e.Err) }
func (e *ElemError) Unwrap() error { return e.Err }

// ParseArgv parses the elements of an argv template. extra are further
// template functions (stand-ins are fine: they are replaced at Render).
func ParseArgv(argv []string, extra template.FuncMap) (*Argv, error) {
	a := &Argv{regexps: map[string]*regexp.Regexp{}}
	t := &Template{regexps: a.regexps}
	w := walker{t: t, argv: true}
	st := shellState{wordStart: true, cmd: cmdState{start: true}}
	for i, text := range argv {
		elemName := fmt.Sprintf("argv[%d]", i)
		if strings.IndexByte(text, 0) >= 0 {
			return nil, &ElemError{i, fmt.Errorf("element %w", ErrNUL)}
		}
		tmpl, err := template.New(elemName).Option("missingkey=error").Funcs(funcs(nil, nil)).Funcs(extra).Parse(text)
		if err != nil {
			return nil, &ElemError{i, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "template: "))}
		}
		if len(tmpl.Templates()) > 1 {
			return nil, &ElemError{i, fmt.Errorf("define, block and template are not supported")}
		}
		t.text = text
		if tmpl.Tree != nil && tmpl.Root != nil {
			if st, err = w.list(tmpl.Root, st); err != nil {
				return nil, &ElemError{i, err}
			}
		}
		st.endWord()
		a.elems = append(a.elems, tmpl)
	}
	return a, nil
}

// Render renders every element for an alert; extra are the functions given
// to ParseArgv, for this alert.
func (a *Argv) Render(alertJSON []byte, extra template.FuncMap) ([]string, error) {
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(alertJSON))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("render argv: alert is not a JSON object: %v", err)
	}
	out := make([]string, len(a.elems))
	for i, e := range a.elems {
		tmpl, err := e.Clone()
		if err != nil {
			return nil, &ElemError{i, err}
		}
		tmpl.Funcs(funcs(alertJSON, a.regexps)).Funcs(extra)
		var b strings.Builder
		if err := tmpl.Execute(&b, data); err != nil {
			msg := argvCall.ReplaceAllLiteralString(strings.TrimPrefix(err.Error(), "template: "), "")
			msg = argvPos.ReplaceAllLiteralString(msg, "")
			return nil, &ElemError{i, &renderError{msg: msg, cause: err}}
		}
		if out[i] = b.String(); strings.IndexByte(out[i], 0) >= 0 {
			return nil, &ElemError{i, fmt.Errorf("%w", ErrNUL)}
		}
	}
	return out, nil
}

// argvPos is text/template's element name and position, which ElemError
// replaces.
var argvPos = regexp.MustCompile(`^argv\[[0-9]+\]:[0-9]+:[0-9]+: `)

// argvCall is text/template's mention of the internal checking function.
var argvCall = regexp.MustCompile(`executing "argv\[[0-9]+\]" at <` + funcArgv + `[^>]*>: error calling ` + funcArgv + `: `)
