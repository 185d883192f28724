// Package dynatrace is Alexis's Dynatrace integration over the Problems API
// v2: listing and fetching problems for the poller, and writing back as
// problem comments (and closing problems) for the classifier and action
// handler.
//
//	GET  /api/v2/problems                       list (problemSelector, entitySelector, from, to, pageSize, fields; then nextPageKey)
//	GET  /api/v2/problems/{problemId}           one problem with all its details
//	POST /api/v2/problems/{problemId}/comments  {"message", "context"} → 201
//	POST /api/v2/problems/{problemId}/close     {"message"} → 200
//
// Every request carries "Authorization: Api-Token <token>" (the token needs
// problems.read, and problems.write for write-back). Answers 429 (rate
// limit: Retry-After / X-RateLimit-Reset) and 5xx are retried a few times
// with a bounded wait; writes are retried only on 429 and 503, where the
// request was not processed, so a comment is not posted twice.
package dynatrace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// Defaults.
const (
	DefaultTimeout  = 15 * time.Second
	DefaultRetries  = 2
	DefaultPageSize = 100
	MaxPageSize     = 500 // the most problems the list API returns per page
	// CommentContext is the "context" of the comments Alexis writes.
	CommentContext = "Alexis"
	// MaxRetryWait bounds how long one retry waits, whatever the server asks.
	MaxRetryWait = 30 * time.Second
)

// maxPages bounds one listing (at MaxPageSize, 500,000 problems).
const maxPages = 1000

// maxAnswer bounds the answer bodies read.
const maxAnswer = 16 << 20

// Config is the "dynatrace" block of a service configuration.
type Config struct {
	// APIURL is the environment's base URL, without /api/v2:
	// https://{environment-id}.live.dynatrace.com (SaaS),
	// https://{activegate}:9999/e/{environment-id} (ActiveGate), or the URL
	// of a compatible local server.
	APIURL       string          `yaml:"api_url"`
	APITokenFile string          `yaml:"api_token_file"` // file holding the API token
	Timeout      config.Duration `yaml:"timeout"`        // per request; default 15s
	Retries      int             `yaml:"retries"`        // retries on 429/5xx; default 2 (-1: none)
	CAFile       string          `yaml:"ca_file"`        // PEM bundle to verify the server; "" uses the system roots
}

// Validate reports problems, each prefixed with prefix ("dynatrace.").
func (c Config) Validate(prefix string) error {
	var p config.Problems
	switch u, err := url.Parse(c.APIURL); {
	case c.APIURL == "":
		p.Addf(prefix+"api_url", "required (e.g. https://abc12345.live.dynatrace.com)")
	case err != nil:
		p.Addf(prefix+"api_url", "bad URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Addf(prefix+"api_url", "URL must be http:// or https://, got %q", c.APIURL)
	case u.Host == "":
		p.Addf(prefix+"api_url", "URL has no host: %q", c.APIURL)
	case u.User != nil || u.RawQuery != "":
		p.Addf(prefix+"api_url", "URL must not carry credentials or a query; the token comes from api_token_file")
	case strings.Contains(u.Path, "/api/"):
		p.Addf(prefix+"api_url", "give the environment URL without /api/v2, got %q", c.APIURL)
	}
	if c.APITokenFile == "" {
		p.Addf(prefix+"api_token_file", "required")
	}
	if c.Timeout < 0 {
		p.Addf(prefix+"timeout", "must not be negative")
	}
	if c.Retries < -1 || c.Retries > 10 {
		p.Addf(prefix+"retries", "must be -1..10")
	}
	return p.Err()
}

// Client talks to one Dynatrace environment.
type Client struct {
	base    string // APIURL without a trailing slash
	token   config.Secret
	http    *http.Client
	retries int
	log     zerolog.Logger

	// minWait is the first retry wait without a server hint (then doubled).
	minWait time.Duration
	now     func() time.Time
}

// New builds a client, reading the token from cfg.APITokenFile.
func New(cfg Config, log zerolog.Logger) (*Client, error) {
	if err := cfg.Validate("dynatrace."); err != nil {
		return nil, err
	}
	token, err := config.ReadSecret(cfg.APITokenFile)
	if err != nil {
		return nil, fmt.Errorf("dynatrace: api_token_file: %w", err)
	}
	tr, err := httpclient.Transport(httpclient.TransportOptions{CAFile: cfg.CAFile})
	if err != nil {
		return nil, fmt.Errorf("dynatrace: ca_file: %w", err)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	return &Client{
		base:    strings.TrimRight(cfg.APIURL, "/"),
		token:   token,
		http:    &http.Client{Timeout: timeout, Transport: tr},
		retries: retries,
		log:     log,
		minWait: time.Second,
		now:     time.Now,
	}, nil
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Op         string        // what was asked, e.g. "list problems"
	Code       int           // HTTP status
	Message    string        // the answer's error.message (or its start)
	RetryAfter time.Duration // for 429: how long the server asked to wait
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("dynatrace %s: status %d: %s", e.Op, e.Code, e.Message)
}

// StatusCode returns the HTTP status of the answer behind err (404 for a
// problem that does not exist, 401 for a bad token, ...), or 0 when err did
// not come from an answer.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// RetryAfter returns how long the server asked to wait before err's request
// is tried again (429 answers), or 0.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// apiError is the error body of the Dynatrace API.
type apiError struct {
	Error struct {
		Code                 int    `json:"code"`
		Message              string `json:"message"`
		ConstraintViolations []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"constraintViolations"`
	} `json:"error"`
}

// errorMessage makes a short message of an error answer's body.
func errorMessage(body []byte) string {
	var ae apiError
	if json.Unmarshal(body, &ae) == nil && ae.Error.Message != "" {
		msg := ae.Error.Message
		for _, v := range ae.Error.ConstraintViolations {
			msg += "; " + strings.TrimPrefix(v.Path+": ", ": ") + v.Message
		}
		return clip(msg, 300)
	}
	return clip(strings.TrimSpace(string(body)), 200)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// do sends one API request, retrying as the package doc says, and decodes
// a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("dynatrace %s: encode body: %w", op, err)
		}
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, op, method, u, payload, out)
		if err == nil || attempt >= c.retries || ctx.Err() != nil || !c.retryable(method, err) {
			return err
		}
		wait := c.wait(attempt, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		c.log.Debug().Str(logging.Event, "dynatrace_retry").Int(logging.Status, StatusCode(err)).
			Int64(logging.DelayMS, wait.Milliseconds()).Msg(op)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// retryable reports whether a failed request may be sent again: reads on
// any 429, 5xx or transport error; writes only on 429 and 503.
func (c *Client) retryable(method string, err error) bool {
	code := StatusCode(err)
	if method == http.MethodGet {
		return code == 0 || code == http.StatusTooManyRequests || code >= 500
	}
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// wait is how long to wait before retry attempt+1: what a 429 asked for,
// or else minWait doubled per attempt; at most MaxRetryWait.
func (c *Client) wait(attempt int, err error) time.Duration {
	d := RetryAfter(err)
	if d <= 0 {
		d = c.minWait << min(attempt, 16)
	}
	return min(d, MaxRetryWait)
}

func (c *Client) once(ctx context.Context, op, method, u string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("dynatrace %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Api-Token "+c.token.Reveal())
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("dynatrace %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("dynatrace %s: read answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Op: op, Code: resp.StatusCode, Message: errorMessage(data)}
		if resp.StatusCode == http.StatusTooManyRequests {
			se.RetryAfter = retryAfter(resp.Header, c.now())
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("dynatrace %s: decode answer: %w", op, err)
		}
	}
	return nil
}

// retryAfter reads a 429's wait: X-RateLimit-Reset (the time the limit
// resets, in microseconds since the epoch) when it lies ahead, or else
// Retry-After (seconds).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if us, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && us > 0 {
		if d := time.UnixMicro(us).Sub(now); d > 0 {
			return d
		}
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// ListOptions select the problems ListProblems returns.
type ListOptions struct {
	ProblemSelector string // e.g. status("open"),severityLevel("ERROR")
	EntitySelector  string // e.g. type("HOST"),tag("team:db")
	From            string // e.g. now-24h, an ISO time or epoch milliseconds; "" = the API's default (now-2h)
	To              string // "" = now
	PageSize        int    // 1..500; 0 = DefaultPageSize
	Fields          string // extra fields: evidenceDetails, impactAnalysis, recentComments
}

// Problem is one problem of a listing: the fields Alexis reads, and the
// whole record as the API sent it.
type Problem struct {
	ProblemID     string `json:"problemId"`
	DisplayID     string `json:"displayId"`
	Title         string `json:"title"`
	Status        string `json:"status"` // OPEN or CLOSED
	SeverityLevel string `json:"severityLevel"`
	ImpactLevel   string `json:"impactLevel"`
	StartTime     int64  `json:"startTime"` // epoch milliseconds
	EndTime       int64  `json:"endTime"`   // -1 while open

	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the whole record in Raw.
func (p *Problem) UnmarshalJSON(data []byte) error {
	type plain Problem
	if err := json.Unmarshal(data, (*plain)(p)); err != nil {
		return err
	}
	p.Raw = append(json.RawMessage(nil), data...)
	return nil
}

// page is one answer of the list API.
type page struct {
	TotalCount  int       `json:"totalCount"`
	PageSize    int       `json:"pageSize"`
	NextPageKey string    `json:"nextPageKey"`
	Problems    []Problem `json:"problems"`
}

// ListProblems returns every problem matching o, following nextPageKey:
// the first request carries the selectors, timeframe and page size; the
// next ones carry only nextPageKey (and fields, which is per page), as the
// API requires. A problem on two pages is listed once.
func (c *Client) ListProblems(ctx context.Context, o ListOptions) ([]Problem, error) {
	q := url.Values{}
	size := o.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	q.Set("pageSize", strconv.Itoa(min(size, MaxPageSize)))
	for k, v := range map[string]string{"problemSelector": o.ProblemSelector, "entitySelector": o.EntitySelector, "from": o.From, "to": o.To, "fields": o.Fields} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out []Problem
	seen := map[string]bool{}
	for n := 0; n < maxPages; n++ {
		var p page
		if err := c.do(ctx, "list problems", http.MethodGet, "/api/v2/problems", q, nil, &p); err != nil {
			return out, err
		}
		for _, pr := range p.Problems {
			if pr.ProblemID != "" && !seen[pr.ProblemID] {
				seen[pr.ProblemID] = true
				out = append(out, pr)
			}
		}
		if p.NextPageKey == "" {
			return out, nil
		}
		q = url.Values{"nextPageKey": {p.NextPageKey}}
		if o.Fields != "" {
			q.Set("fields", o.Fields)
		}
	}
	return out, fmt.Errorf("dynatrace list problems: more than %d pages", maxPages)
}

// GetProblem returns problem id's full record as JSON.
func (c *Client) GetProblem(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "get problem "+id, http.MethodGet, problemPath(id, ""), nil, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// MaxComment bounds the comments Alexis writes (the API documents no
// limit; notes longer than this are cut and marked).
const MaxComment = 25000

// AddComment posts a comment with its context on problem id.
func (c *Client) AddComment(ctx context.Context, id, message, commentContext string) error {
	body := map[string]string{"message": truncate(message, MaxComment), "context": commentContext}
	return c.do(ctx, "comment on problem "+id, http.MethodPost, problemPath(id, "/comments"), nil, body, nil)
}

// CloseResult is the answer to closing a problem.
type CloseResult struct {
	ProblemID string `json:"problemId"`
	Closing   bool   `json:"closing"` // false: it was not open
}

// CloseProblem closes problem id with a closing comment.
func (c *Client) CloseProblem(ctx context.Context, id, message string) (CloseResult, error) {
	var res CloseResult
	body := map[string]string{"message": truncate(message, MaxComment)}
	err := c.do(ctx, "close problem "+id, http.MethodPost, problemPath(id, "/close"), nil, body, &res)
	return res, err
}

func problemPath(id, suffix string) string {
	return "/api/v2/problems/" + url.PathEscape(id) + suffix
}

// trimmed marks a cut comment.
const trimmed = "…[trimmed]"

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-len([]rune(trimmed))]) + trimmed
}

// Operations Dynatrace supports as a ticket system. Problems have no
// teams, tags (entity tags belong to entities), acknowledgement,
// escalations or responders in the Problems API; routing to a team is
// recorded as a comment so the default Alexis write-back (note + team)
// works for Dynatrace problems too.
var supported = []string{ticket.KindNote, ticket.KindAddTeam, ticket.KindClose}

// ClosedMessage is the closing comment when a close op brings no note.
const ClosedMessage = "Closed by Alexis."

// System is the name of this ticket system in ticket.Error and labels.
const System = "dynatrace"

// fail makes err of op a ticket.Error, with the status of the answer.
func fail(op string, err error) error {
	return ticket.NewError(System, op, StatusCode(err), err)
}

// AddNote comments on problem id (context "Alexis").
func (c *Client) AddNote(ctx context.Context, id, note string) error {
	return fail(ticket.KindNote, c.addNote(ctx, id, note))
}

// AddTeam records the routing to team as a comment on problem id.
func (c *Client) AddTeam(ctx context.Context, id, team string) error {
	return fail(ticket.KindAddTeam, c.addTeam(ctx, id, team))
}

func (c *Client) addNote(ctx context.Context, id, note string) error {
	return c.AddComment(ctx, id, note, CommentContext)
}

func (c *Client) addTeam(ctx context.Context, id, team string) error {
	return c.AddComment(ctx, id, "Alexis routed this problem to team "+team+".", CommentContext)
}

// IsOpen implements ticket.StatusReader: whether problem id is not
// CLOSED. It reports true with the error when the problem cannot be read.
func (c *Client) IsOpen(ctx context.Context, id string) (bool, error) {
	raw, err := c.GetProblem(ctx, id)
	if err != nil {
		return true, fail("get problem", err)
	}
	var p struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(raw, &p)
	return !strings.EqualFold(p.Status, "CLOSED"), nil
}

var _ ticket.StatusReader = (*Client)(nil)

// Do applies op to problem id: note and add_team become comments, close
// closes the problem with op.Note (or ClosedMessage) as closing comment.
// Other kinds wrap ticket.ErrUnsupported. Failures are *ticket.Error.
func (c *Client) Do(ctx context.Context, id string, op ticket.Op) error {
	return fail(op.Kind, c.apply(ctx, id, op))
}

func (c *Client) apply(ctx context.Context, id string, op ticket.Op) error {
	if err := op.Validate(); err != nil {
		return fmt.Errorf("dynatrace %s on %s: %w", op.Kind, id, err)
	}
	switch op.Kind {
	case ticket.KindNote:
		return c.addNote(ctx, id, op.Value)
	case ticket.KindAddTeam:
		if err := c.addTeam(ctx, id, op.Value); err != nil {
			return err
		}
		if op.Note != "" {
			return c.addNote(ctx, id, op.Note)
		}
		return nil
	case ticket.KindClose:
		msg := op.Note
		if strings.TrimSpace(msg) == "" {
			msg = ClosedMessage
		}
		_, err := c.CloseProblem(ctx, id, msg)
		return err
	}
	return fmt.Errorf("dynatrace %s on %s: %w", op.Kind, id, ticket.ErrUnsupported)
}

// Supports reports note, add_team and close.
func (c *Client) Supports(kind string) bool { return slices.Contains(supported, kind) }

var _ ticket.Operator = (*Client)(nil)
