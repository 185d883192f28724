package rule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/tidwall/gjson"
)

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

// TemplateData is what a task's templates are rendered with.
type TemplateData struct {
	Alert  []byte // the alert (the envelope's JSON object)
	Entity string // the host the task runs for
	// Secret returns a configured secret's value; nil: none are configured.
	Secret func(name string) (string, error)
}

// HTTPRequest is an http task rendered for one host.
type HTTPRequest struct {
	Method  string
	URL     string
	Headers map[string]string
	Body    string
}

// Template function names beyond shared/command's.
const (
	FuncEntity = "entity"
	FuncSecret = "secret"
)

// escapers: the function appended to every printing action of a field.
const (
	escText = "_alexis_text" // the value as text
	escURL  = "_alexis_url"  // percent-encoded: safe in a path segment or a query value
	escJSON = "_alexis_json" // JSON string escaping, without the quotes
	escForm = "_alexis_form" // application/x-www-form-urlencoded
)

// Content types of http bodies that get their own escaping.
const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

// HTTPMethods an http task may use.
var HTTPMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

var (
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	urlPrefix  = regexp.MustCompile(`^https?://[^/{}?#]+/`)
	// entityURL: a url whose host is the entity itself ("http://{{ entity }}:8080/health").
	entityURL  = regexp.MustCompile(`^(https?://)\{\{-?\s*entity\s*-?\}\}`)
	entityRest = regexp.MustCompile(`^(:[0-9]+)?(/|$)`)
)

// parseField parses one templated field; name is its JSON path in errors.
func parseField(name, text, esc string, secrets bool) (*template.Template, error) {
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
		escText:    command.Text,
		escURL: func(v any) (string, error) {
			s, err := command.Text(v)
			return percentEncode(s), err
		},
		escJSON: func(v any) (string, error) {
			s, err := command.Text(v)
			if err != nil {
				return "", err
			}
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1]), nil
		},
		escForm: func(v any) (string, error) {
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

// render executes t for d.
func render(t *template.Template, d TemplateData, secrets bool) (string, error) {
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
		for _, esc := range []string{escText, escURL, escJSON, escForm, escSecretJSON, escSecretForm} {
			msg = strings.ReplaceAll(msg, "error calling "+esc+": ", "")
			msg = strings.ReplaceAll(msg, " at <"+esc+">", "")
		}
		return "", errors.New(msg)
	}
	return b.String(), nil
}

// RenderArgv renders a local task's argv for d. Values are typed as in
// run_command templates (shared/command): the default type is a token
// (no leading "-", no spaces or shell characters), filters int, host,
// match, path and text say otherwise; a value that does not fit its type
// refuses the task with a *command.ValueError.
func (t Task) RenderArgv(d TemplateData) ([]string, error) {
	a, err := parseArgv(t.Argv)
	if err != nil {
		return nil, err
	}
	return a.Render(d.Alert, argvFuncs(d.Entity))
}

// parseArgv parses a local task's argv; errors name the element.
func parseArgv(argv []string) (*command.Argv, error) {
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

// RenderEnv renders a local or plugin task's env for d.
func (t Task) RenderEnv(d TemplateData) (map[string]string, error) {
	out := make(map[string]string, len(t.Env))
	for k, v := range t.Env {
		tmpl, err := parseField("env."+k, v, escText, true)
		if err != nil {
			return nil, err
		}
		if out[k], err = render(tmpl, d, true); err != nil {
			return nil, err
		}
		if strings.IndexByte(out[k], 0) >= 0 {
			return nil, fmt.Errorf("env.%s: contains a NUL byte", k)
		}
	}
	return out, nil
}

// RenderHTTP renders an http task's request for d.
func (t Task) RenderHTTP(d TemplateData) (HTTPRequest, error) {
	req := HTTPRequest{Method: t.HTTPMethod(), Headers: map[string]string{}}
	text, prefix := t.URL, ""
	if m := entityURL.FindStringSubmatch(text); m != nil {
		// The host is the entity's (without its SSH port), not escaped.
		text, prefix = text[len(m[0]):], m[1]+EntityHost(d.Entity)
	}
	u, err := parseField("url", text, escURL, false)
	if err != nil {
		return req, err
	}
	if req.URL, err = render(u, d, false); err != nil {
		return req, err
	}
	req.URL = prefix + req.URL
	for k, v := range t.Headers {
		h, err := parseField("headers."+k, v, escText, true)
		if err != nil {
			return req, err
		}
		val, err := render(h, d, true)
		if err != nil {
			return req, err
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			return req, fmt.Errorf("headers.%s: value holds a line break or NUL", k)
		}
		req.Headers[k] = val
	}
	if t.Body == "" {
		return req, nil
	}
	ct := t.ContentType()
	b, err := parseField("body", t.Body, bodyEscaper(ct), true)
	if err != nil {
		return req, err
	}
	if req.Body, err = render(b, d, true); err != nil {
		return req, err
	}
	if ct == contentJSON && !json.Valid([]byte(req.Body)) {
		return req, errors.New("body: the rendered body is not valid JSON (values are inserted JSON-escaped: put them inside quotes)")
	}
	if _, ok := req.Headers["Content-Type"]; !ok && !hasHeader(req.Headers, "Content-Type") {
		req.Headers["Content-Type"] = ct
	}
	return req, nil
}

// bodyEscaper is the escaper of a body of content type ct.
func bodyEscaper(ct string) string {
	switch ct {
	case contentJSON:
		return escJSON
	case contentForm:
		return escForm
	}
	return escText
}

// HTTPMethod is the http task's method: as written, else POST with a body
// and GET without.
func (t Task) HTTPMethod() string {
	if t.Method != "" {
		return strings.ToUpper(t.Method)
	}
	if t.Body != "" {
		return "POST"
	}
	return "GET"
}

// ContentType is the media type of the body: the Content-Type header's
// (without parameters, lower case), default application/json.
func (t Task) ContentType() string {
	for k, v := range t.Headers {
		if strings.EqualFold(k, "Content-Type") {
			mt, _, _ := strings.Cut(v, ";")
			return strings.ToLower(strings.TrimSpace(mt))
		}
	}
	return contentJSON
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
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
