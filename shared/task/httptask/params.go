package httptask

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/field"
)

// Params are an http task's own fields: the request (url, headers and body
// are templates: shared/task/field) and the status codes that mean
// success (default any 2xx).
type Params struct {
	Method       string            `json:"method,omitempty"`
	URL          string            `json:"url,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
	ExpectStatus []int             `json:"expect_status,omitempty"`
}

// Request is an http task rendered for one host.
type Request struct {
	Method  string
	URL     string
	Headers map[string]string
	Body    string
}

// Methods an http task may use.
var Methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// Content types of bodies that get their own escaping.
const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

var (
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	urlPrefix  = regexp.MustCompile(`^https?://[^/{}?#]+/`)
	// entityURL: a url whose host is the entity itself ("http://{{ entity }}:8080/health").
	entityURL  = regexp.MustCompile(`^(https?://)\{\{-?\s*entity\s*-?\}\}`)
	entityRest = regexp.MustCompile(`^(:[0-9]+)?(/|$)`)
)

// Type is the http task type.
type Type struct{}

// Name implements task.Type.
func (Type) Name() string { return Name }

// Fields implements task.Type.
func (Type) Fields() []string { return []string{"method", "url", "headers", "body", "expect_status"} }

// NewRunner implements task.Type.
func (Type) NewRunner(env task.Env) (task.Runner, error) {
	o, err := task.OptionsOf[Options](env, Name)
	if err != nil {
		return nil, err
	}
	if o.OutputLimit == 0 {
		o.OutputLimit = env.OutputLimit
	}
	return New(o), nil
}

// params are the step's.
func params(t task.Task) (*Params, error) { return task.ParamsOf[*Params](Type{}, t) }

// Decode implements task.Type.
func (Type) Decode(_ task.Task, raw json.RawMessage) (any, []task.Problem) {
	var t Params
	if probs := task.DecodeFields(raw, &t); probs != nil {
		return nil, probs
	}
	var errs []task.Problem
	add := func(path, format string, args ...any) {
		errs = append(errs, task.Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if t.Method != "" && !Methods[strings.ToUpper(t.Method)] {
		add("method", "want GET, HEAD, POST, PUT, PATCH or DELETE, got %q", t.Method)
	}
	switch {
	case strings.TrimSpace(t.URL) == "":
		add("url", "required for http")
	default:
		// Where the request goes is the rule's, never the alert's: the
		// scheme and host are written out.
		prefix, _, templated := strings.Cut(t.URL, "{{")
		u, err := url.Parse(t.URL)
		badEntityURL := false
		if m := entityURL.FindStringSubmatch(t.URL); m != nil {
			// http://{{ entity }}:8080/...: the host is the entity itself.
			rest := t.URL[len(m[0]):]
			prefix, _, _ = strings.Cut(rest, "{{")
			badEntityURL = !entityRest.MatchString(prefix)
			templated = false
			u, err = url.Parse(m[1] + "entity" + rest)
		}
		switch {
		case badEntityURL:
			add("url", "after http://{{ entity }} comes an optional :port, then the path")
		case templated && !urlPrefix.MatchString(prefix):
			add("url", "scheme and host must be written out before any {{ }} (http://host/..., or http://{{ entity }}:port/...)")
		case !templated && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""):
			add("url", "want an http:// or https:// URL, got %q", t.URL)
		}
		if _, err := field.Parse("url", t.URL, field.EscURL, false); err != nil {
			add("url", "%v", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.Headers)) {
		if !headerName.MatchString(k) {
			add("headers."+k, "not a header name")
			continue
		}
		if _, err := field.Parse("headers."+k, t.Headers[k], field.EscText, true); err != nil {
			add("headers."+k, "%v", err)
		}
	}
	if t.Body != "" {
		if _, err := field.Parse("body", t.Body, bodyEscaper(t.ContentType()), true); err != nil {
			add("body", "%v", err)
		}
		if t.HTTPMethod() == "GET" || t.HTTPMethod() == "HEAD" {
			add("body", "a %s request has no body", t.HTTPMethod())
		}
	}
	for i, c := range t.ExpectStatus {
		if c < 100 || c > 599 {
			add(fmt.Sprintf("expect_status[%d]", i), "not an HTTP status code: %d", c)
		}
	}
	return &t, errs
}

// HostFromAlert: the url takes its host from the alert
// (http://{{ entity }}:8080/...; the only form validation lets through),
// so the action handler calls it only with a non-empty http.allowed_hosts.
func (t *Params) HostFromAlert() bool {
	return entityURL.MatchString(t.URL)
}

// Render renders the request for d.
func (t *Params) Render(d field.TemplateData) (Request, error) {
	req := Request{Method: t.HTTPMethod(), Headers: map[string]string{}}
	text, prefix := t.URL, ""
	if m := entityURL.FindStringSubmatch(text); m != nil {
		// The host is the entity's (without its SSH port), not escaped.
		text, prefix = text[len(m[0]):], m[1]+field.EntityHost(d.Entity)
	}
	u, err := field.Parse("url", text, field.EscURL, false)
	if err != nil {
		return req, err
	}
	if req.URL, err = field.Render(u, d, false); err != nil {
		return req, err
	}
	req.URL = prefix + req.URL
	for k, v := range t.Headers {
		h, err := field.Parse("headers."+k, v, field.EscText, true)
		if err != nil {
			return req, err
		}
		val, err := field.Render(h, d, true)
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
	b, err := field.Parse("body", t.Body, bodyEscaper(ct), true)
	if err != nil {
		return req, err
	}
	if req.Body, err = field.Render(b, d, true); err != nil {
		return req, err
	}
	if ct == contentJSON && !json.Valid([]byte(req.Body)) {
		return req, errors.New("body: the rendered body is not valid JSON (values are inserted JSON-escaped: put them inside quotes)")
	}
	if !hasHeader(req.Headers, "Content-Type") {
		req.Headers["Content-Type"] = ct
	}
	return req, nil
}

// bodyEscaper is the escaper of a body of content type ct.
func bodyEscaper(ct string) string {
	switch ct {
	case contentJSON:
		return field.EscJSON
	case contentForm:
		return field.EscForm
	}
	return field.EscText
}

// HTTPMethod is the method: as written, else POST with a body and GET
// without.
func (t *Params) HTTPMethod() string {
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
func (t *Params) ContentType() string {
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
