// Package field renders the templated fields of tasks, for the task
// types under shared/task: parsing when a rule loads (so the classifier
// refuses a bad template) and rendering for one alert and entity when the
// action handler runs the task.
//
// Task fields other than run_command (local argv and env, http url,
// headers and body) are templates too, always: Go text/template syntax
// with the alert as data, like run_command templates (shared/command), and
// the same functions:
//
//	{{ .details.service }}              a value of the alert
//	{{ alert "details.pods.0" }}         the value at a gjson path
//	{{ alert_or "details.ns" "default" }} with a fallback when missing or null
//	{{ entity }}                         the host the task runs for
//	{{ secret "lb_token" }}              a secret of the action handler's configuration
//	                                     (only whole, in env, headers or body: secret.go;
//	                                     redacted everywhere)
//
// No shell reads these, so values are escaped for where they land instead
// of shell-quoted: percent-encoded in url, JSON-escaped in a JSON body
// (the default content type; the rendered body must then be valid JSON),
// form-encoded in a form body, as they are in argv, env, headers and other
// bodies. Missing values, null, objects and arrays are errors, never "".
package field

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/tidwall/gjson"
)

// TemplateData is what a task's templates are rendered with.
type TemplateData struct {
	Alert  []byte // the alert (the envelope's JSON object)
	Entity string // the host the task runs for
	// Secret returns a configured secret's value; nil: none are configured.
	Secret func(name string) (string, error)
}

// Template function names beyond shared/command's.
const (
	FuncEntity = "entity"
	FuncSecret = "secret"
)

// Escapers: the function appended to every printing action of a field.
const (
	EscText = "_alexis_text" // the value as text
	EscURL  = "_alexis_url"  // percent-encoded: safe in a path segment or a query value
	EscJSON = "_alexis_json" // JSON string escaping, without the quotes
	EscForm = "_alexis_form" // application/x-www-form-urlencoded
)

// envName is what an env key may be.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse parses one templated field, esc the escaper of where it lands
// (EscText, EscURL, EscJSON, EscForm), secrets whether it may hold
// {{ secret }} (secret.go); name is its JSON path in errors.
func Parse(name, text, esc string, secrets bool) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(fieldFuncs(TemplateData{}, secrets)).Parse(text)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: ")
		if !secrets && strings.Contains(msg, `"`+FuncSecret+`" not defined`) {
			msg = name + ": secret is not allowed here (argv shows in the process list): pass secrets in env"
			if name == "url" {
				msg = name + ": secret is not allowed in the url (it is recorded as the step's command): send it in a header"
			}
		}
		return nil, errors.New(msg)
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("%s: define, block and template are not supported", name)
	}
	if secrets && t.Tree != nil && t.Root != nil {
		if err := checkSecrets(t.Root, secretPlace(name, esc)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if t.Tree != nil && t.Root != nil {
		if err := addEscaper(t.Root, esc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return t, nil
}

// addEscaper appends esc to every action that prints.
func addEscaper(l *parse.ListNode, esc string) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				continue
			}
			for _, c := range n.Pipe.Cmds {
				for _, a := range c.Args {
					if id, ok := a.(*parse.IdentifierNode); ok && strings.HasPrefix(id.Ident, "_alexis_") {
						return fmt.Errorf("%s is internal", id.Ident)
					}
				}
			}
			e := esc
			if bareSecret(n.Pipe) {
				// A secret is inserted as it is, or escaped for the body
				// it is one value of; never typed or checked like an
				// alert value.
				if e = secretEscapers[esc]; e == "" {
					continue
				}
			}
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Position(),
				Args: []parse.Node{parse.NewIdentifier(e).SetTree(nil).SetPos(n.Position())}})
		case *parse.IfNode:
			if err := branches(&n.BranchNode, esc); err != nil {
				return err
			}
		case *parse.RangeNode:
			if err := branches(&n.BranchNode, esc); err != nil {
				return err
			}
		case *parse.WithNode:
			if err := branches(&n.BranchNode, esc); err != nil {
				return err
			}
		case *parse.TemplateNode:
			return errors.New("template calls are not supported")
		}
	}
	return nil
}

func branches(b *parse.BranchNode, esc string) error {
	if err := addEscaper(b.List, esc); err != nil {
		return err
	}
	return addEscaper(b.ElseList, esc)
}

// fieldFuncs are the template functions for d (empty d while parsing).
func fieldFuncs(d TemplateData, secrets bool) template.FuncMap {
	lookup := func(path string) gjson.Result {
		if d.Alert == nil {
			return gjson.Result{}
		}
		return gjson.GetBytes(d.Alert, path)
	}
	fm := template.FuncMap{
		"alert": func(path string) (any, error) {
			v := lookup(path)
			if !v.Exists() {
				return nil, fmt.Errorf("alert has no value at %q", path)
			}
			return command.Scalar(path, v)
		},
		"alert_or": func(path string, fallback any) (any, error) {
			v := lookup(path)
			if !v.Exists() || v.Type == gjson.Null {
				return fallback, nil
			}
			return command.Scalar(path, v)
		},
		FuncEntity: func() string { return d.Entity },
		EscText:    command.Text,
		EscURL: func(v any) (string, error) {
			s, err := command.Text(v)
			return percentEncode(s), err
		},
		EscJSON: func(v any) (string, error) {
			s, err := command.Text(v)
			if err != nil {
				return "", err
			}
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1]), nil
		},
		EscForm: func(v any) (string, error) {
			s, err := command.Text(v)
			return url.QueryEscape(s), err
		},
		escSecretJSON: func(s string) string {
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1])
		},
		escSecretForm: url.QueryEscape,
	}
	if secrets {
		fm[FuncSecret] = func(name string) (string, error) {
			if d.Secret == nil {
				return "", fmt.Errorf("secret %q: no secrets configured", name)
			}
			return d.Secret(name)
		}
	}
	return fm
}

// percentEncode escapes everything but RFC 3986 unreserved characters and
// also ".", so a value stays one path segment or one query value and never
// becomes or completes a dot-segment ("." or ".." would move the path).
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Render executes a field parsed by Parse for d.
func Render(t *template.Template, d TemplateData, secrets bool) (string, error) {
	var data map[string]any
	if d.Alert != nil {
		dec := json.NewDecoder(bytes.NewReader(d.Alert))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return "", fmt.Errorf("alert is not a JSON object: %v", err)
		}
	}
	c, err := t.Clone()
	if err != nil {
		return "", err
	}
	c.Funcs(fieldFuncs(d, secrets))
	var b strings.Builder
	if err := c.Execute(&b, data); err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: ")
		for _, esc := range []string{EscText, EscURL, EscJSON, EscForm, escSecretJSON, escSecretForm} {
			msg = strings.ReplaceAll(msg, "error calling "+esc+": ", "")
			msg = strings.ReplaceAll(msg, " at <"+esc+">", "")
		}
		return "", errors.New(msg)
	}
	return b.String(), nil
}

// RenderArgv renders an argv list for d. Values are typed as in
// run_command templates (shared/command): the default type is a token
// (no leading "-", no spaces or shell characters), filters int, host,
// match, path and text say otherwise; a value that does not fit its type
// refuses the task with a *command.ValueError.
func RenderArgv(argv []string, d TemplateData) ([]string, error) {
	a, err := ParseArgv(argv)
	if err != nil {
		return nil, err
	}
	return a.Render(d.Alert, argvFuncs(d.Entity))
}

// ParseArgv parses an argv list; errors name the element
// (*command.ElemError).
func ParseArgv(argv []string) (*command.Argv, error) {
	a, err := command.ParseArgv(argv, argvFuncs(""))
	if err != nil && strings.Contains(err.Error(), `"`+FuncSecret+`" not defined`) {
		var ee *command.ElemError
		if errors.As(err, &ee) {
			return nil, &command.ElemError{Index: ee.Index, Err: errors.New("secret is not allowed here (argv shows in the process list): pass secrets in env")}
		}
	}
	return a, err
}

// argvFuncs are the functions argv templates have beyond shared/command's.
func argvFuncs(entity string) template.FuncMap {
	return template.FuncMap{FuncEntity: func() command.Entity { return command.Entity(entity) }}
}

// Problem is one problem of a field, at its path relative to the task
// object ("env.PATH", "argv[1]").
type Problem struct {
	Path string
	Msg  string
}

// CheckEnv checks an env block (of local or plugin tasks): names, the
// variables the action handler sets, and the templates.
func CheckEnv(env map[string]string) []Problem {
	var ps []Problem
	for _, k := range slices.Sorted(maps.Keys(env)) {
		switch {
		case !envName.MatchString(k):
			ps = append(ps, Problem{"env." + k, "not an environment variable name"})
		case k == "PATH" || strings.HasPrefix(k, "ALEXIS_"):
			ps = append(ps, Problem{"env." + k, "set by the action handler; a task cannot change it"})
		default:
			if _, err := Parse("env."+k, env[k], EscText, true); err != nil {
				ps = append(ps, Problem{"env." + k, err.Error()})
			}
		}
	}
	return ps
}

// RenderEnv renders an env block for d.
func RenderEnv(env map[string]string, d TemplateData) (map[string]string, error) {
	out := make(map[string]string, len(env))
	for k, v := range env {
		tmpl, err := Parse("env."+k, v, EscText, true)
		if err != nil {
			return nil, err
		}
		if out[k], err = Render(tmpl, d, true); err != nil {
			return nil, err
		}
		if strings.IndexByte(out[k], 0) >= 0 {
			return nil, fmt.Errorf("env.%s: contains a NUL byte", k)
		}
	}
	return out, nil
}

// EntityHost is an entity without its port: "app01" for "app01:2222",
// "[::1]" for "[::1]:2222" or "::1".
func EntityHost(entity string) string {
	e := strings.TrimSpace(entity)
	switch n := strings.Count(e, ":"); {
	case strings.HasPrefix(e, "["):
		if end := strings.Index(e, "]"); end > 0 {
			return e[:end+1]
		}
	case n == 1:
		h, _, _ := strings.Cut(e, ":")
		return h
	case n > 1:
		return "[" + e + "]"
	}
	return e
}
