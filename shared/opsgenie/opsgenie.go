// Package opsgenie is Alexis's OpsGenie integration: listing and fetching
// alerts for the poller and writing notes and teams back for the classifier
// and action handler. Every call goes through opsgenie-go-sdk-v2.
package opsgenie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/ticket"
	ogalert "github.com/opsgenie/opsgenie-go-sdk-v2/alert"
	ogclient "github.com/opsgenie/opsgenie-go-sdk-v2/client"
	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
)

// PageSize is the most alerts the List Alerts API returns per page.
const PageSize = 100

// maxOffset is the largest offset the List Alerts API accepts.
const maxOffset = 20000

// Source and User are what Alexis signs its write-backs with.
const (
	Source = "Alexis"
	User   = "Alexis"
)

// Hosts of OpsGenie's API.
const (
	HostUS = "api.opsgenie.com"    // the default
	HostEU = "api.eu.opsgenie.com" // accounts in the EU region
)

// Config is the "opsgenie" block of a service configuration.
type Config struct {
	// APIURL is the API host: api.opsgenie.com (default), api.eu.opsgenie.com
	// (EU accounts), or a compatible server or proxy. A bare host[:port]
	// speaks HTTPS, except on a loopback address (127.0.0.1:PORT, a local
	// test server), which speaks plain HTTP. To choose the scheme yourself,
	// write it: https://opsgenie-proxy.example:8443 or http://10.0.0.5:9100.
	APIURL     string          `yaml:"api_url"`
	APIKeyFile string          `yaml:"api_key_file"` // file holding the GenieKey
	Timeout    config.Duration `yaml:"timeout"`      // per request; default 15s
	Retries    int             `yaml:"retries"`      // SDK retries on 429/5xx; default 2
}

// Validate reports problems, each prefixed with prefix ("opsgenie.").
func (c Config) Validate(prefix string) error {
	var p config.Problems
	if c.APIKeyFile == "" {
		p.Addf(prefix+"api_key_file", "required")
	}
	if _, _, err := c.endpoint(); err != nil {
		p.Addf(prefix+"api_url", "%v", err)
	}
	if c.Timeout < 0 {
		p.Addf(prefix+"timeout", "must not be negative")
	}
	if c.Retries < 0 || c.Retries > 10 {
		p.Addf(prefix+"retries", "must be 0..10")
	}
	return p.Err()
}

// endpoint splits APIURL into the host the SDK is given and the scheme
// requests must use.
func (c Config) endpoint() (host, scheme string, err error) {
	raw := strings.TrimSpace(c.APIURL)
	if raw == "" {
		return HostUS, "https", nil
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return "", "", fmt.Errorf("bad URL %q: %v", raw, err)
		case u.Scheme != "http" && u.Scheme != "https":
			return "", "", fmt.Errorf("scheme must be http or https, got %q", raw)
		case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
			return "", "", fmt.Errorf("want scheme://host[:port] without path, query or credentials, got %q", raw)
		}
		return u.Host, u.Scheme, nil
	}
	if strings.ContainsAny(raw, "/?@ ") {
		return "", "", fmt.Errorf("want host[:port] or scheme://host[:port], got %q", raw)
	}
	h := raw
	if hh, _, err := net.SplitHostPort(raw); err == nil {
		h = hh
	}
	if h == "localhost" || net.ParseIP(h).IsLoopback() {
		return raw, "http", nil
	}
	return raw, "https", nil
}

// schemeTransport makes every request use one scheme: the SDK picks http or
// https from whether the host name contains "api", which is not a rule a
// configuration should depend on.
type schemeTransport struct {
	scheme string
	next   http.RoundTripper
}

func (t schemeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != t.scheme {
		r = r.Clone(r.Context())
		r.URL.Scheme = t.scheme
	}
	return t.next.RoundTrip(r)
}

// Client talks to one OpsGenie account.
type Client struct {
	alerts *ogalert.Client
}

// New builds a client, reading the API key from cfg.APIKeyFile. Its
// connections are pooled and kept open between calls (httpclient.Transport).
func New(cfg Config, log zerolog.Logger) (*Client, error) {
	tr, err := httpclient.Transport(httpclient.TransportOptions{})
	if err != nil {
		return nil, fmt.Errorf("opsgenie: %w", err)
	}
	return build(cfg, tr)
}

func build(cfg Config, rt http.RoundTripper) (*Client, error) {
	key, err := config.ReadSecret(cfg.APIKeyFile)
	if err != nil {
		return nil, fmt.Errorf("opsgenie: %w", err)
	}
	host, scheme, err := cfg.endpoint()
	if err != nil {
		return nil, fmt.Errorf("opsgenie: api_url: %w", err)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	retries := cfg.Retries
	if retries == 0 {
		retries = 2
	}
	lr := logrus.New()
	lr.SetOutput(io.Discard) // the SDK's own chatter; errors come back to us
	ac, err := ogalert.NewClient(&ogclient.Config{
		ApiKey:         key.Reveal(),
		OpsGenieAPIURL: ogclient.ApiUrl(host),
		RequestTimeout: timeout,
		RetryCount:     retries,
		Backoff:        backoff,
		Logger:         lr,
		HttpClient:     &http.Client{Timeout: timeout, Transport: schemeTransport{scheme: scheme, next: rt}},
	})
	if err != nil {
		return nil, fmt.Errorf("opsgenie: %w", err)
	}
	return &Client{alerts: ac}, nil
}

// backoff honours a Retry-After or X-RateLimit-Period-In-Sec answer and
// otherwise doubles from min to max.
func backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		for _, h := range []string{"Retry-After", "X-RateLimit-Period-In-Sec"} {
			var secs int
			if _, err := fmt.Sscanf(resp.Header.Get(h), "%d", &secs); err == nil && secs > 0 {
				d := time.Duration(secs) * time.Second
				if d > max {
					d = max
				}
				return d
			}
		}
	}
	if attempt > 30 { // min << attempt would overflow
		return max
	}
	d := min << attempt
	if d > max || d <= 0 {
		d = max
	}
	return d
}

// Summary is one alert as the List Alerts API returns it.
type Summary struct {
	ID        string
	TinyID    string
	CreatedAt time.Time
}

// List returns every alert matching query (OpsGenie search syntax), oldest
// first, paging 100 at a time. Sorting oldest first keeps offsets stable
// while new alerts arrive; an alert seen on two pages is listed once.
func (c *Client) List(ctx context.Context, query string) ([]Summary, error) {
	var out []Summary
	seen := map[string]bool{}
	for offset := 0; offset <= maxOffset; offset += PageSize {
		res, err := call(ctx, func() (*ogalert.ListAlertResult, error) {
			return c.alerts.List(ctx, &ogalert.ListAlertRequest{
				Query:  query,
				Limit:  PageSize,
				Offset: offset,
				Sort:   ogalert.CreatedAt,
				Order:  ogalert.Asc,
			})
		})
		if err != nil {
			return out, fmt.Errorf("opsgenie list alerts (offset %d): %w", offset, err)
		}
		for _, a := range res.Alerts {
			if !seen[a.Id] {
				seen[a.Id] = true
				out = append(out, Summary{ID: a.Id, TinyID: a.TinyID, CreatedAt: a.CreatedAt})
			}
		}
		if len(res.Alerts) < PageSize {
			return out, nil
		}
	}
	return out, nil
}

// metadataKeys are the SDK's response metadata, not part of the alert.
var metadataKeys = []string{"requestId", "took", "RateLimitState", "RateLimitReason", "RateLimitPeriod", "RetryCount"}

// Get returns the full alert record (the Get Alert API's "data" object) as
// JSON, ready to be wrapped in an envelope.
func (c *Client) Get(ctx context.Context, id string) (json.RawMessage, error) {
	res, err := call(ctx, func() (*ogalert.GetAlertResult, error) {
		return c.alerts.Get(ctx, &ogalert.GetAlertRequest{IdentifierType: ogalert.ALERTID, IdentifierValue: id})
	})
	if err != nil {
		return nil, fmt.Errorf("opsgenie get alert %s: %w", id, err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range metadataKeys {
		delete(m, k)
	}
	if res.SnoozedUntil.IsZero() {
		delete(m, "snoozedUntil")
	}
	return json.Marshal(m)
}

// System is the name of this ticket system in ticket.Error and labels.
const System = "opsgenie"

// fail makes err of op a ticket.Error, with the status of OpsGenie's
// answer.
func fail(op string, err error) error {
	return ticket.NewError(System, op, StatusCode(err), err)
}

// AddNote adds a note to alert id.
func (c *Client) AddNote(ctx context.Context, id, note string) error {
	return fail(ticket.KindNote, c.addNote(ctx, id, note))
}

// AddTeam adds team (by name) to alert id.
func (c *Client) AddTeam(ctx context.Context, id, team string) error {
	return fail(ticket.KindAddTeam, c.addTeam(ctx, id, team))
}

// IsOpen implements ticket.StatusReader: whether alert id is not closed
// (open or acknowledged). It reports true with the error when the alert
// cannot be read.
func (c *Client) IsOpen(ctx context.Context, id string) (bool, error) {
	raw, err := c.Get(ctx, id)
	if err != nil {
		return true, fail("get alert", err)
	}
	var a struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(raw, &a)
	return !strings.EqualFold(a.Status, "closed"), nil
}

var _ ticket.StatusReader = (*Client)(nil)

// Do applies op to alert id: every kind of ticket.Kinds. Each call is
// accepted only with a 202 answer carrying a requestId (ErrNoRequestID
// otherwise). Op.Note, when set, is added by OpsGenie as a note with the
// action. An escalation or responder value "id:..." names it by id.
// Failures are *ticket.Error.
func (c *Client) Do(ctx context.Context, id string, op ticket.Op) error {
	return fail(op.Kind, c.do(ctx, id, op))
}

func (c *Client) addNote(ctx context.Context, id, note string) error {
	res, err := call(ctx, func() (*ogalert.AsyncAlertResult, error) {
		return c.alerts.AddNote(ctx, &ogalert.AddNoteRequest{
			IdentifierType: ogalert.ALERTID, IdentifierValue: id,
			Note: truncate(note, MaxNote), User: User, Source: Source,
		})
	})
	return accepted("add note", id, res, err)
}

func (c *Client) addTeam(ctx context.Context, id, team string) error {
	res, err := call(ctx, func() (*ogalert.AsyncAlertResult, error) {
		return c.alerts.AddTeam(ctx, &ogalert.AddTeamRequest{
			IdentifierType: ogalert.ALERTID, IdentifierValue: id,
			Team: ogalert.Team{Name: team}, User: User, Source: Source,
		})
	})
	return accepted("add team", id, res, err)
}

func (c *Client) do(ctx context.Context, id string, op ticket.Op) error {
	if err := op.Validate(); err != nil {
		return fmt.Errorf("opsgenie %s on %s: %w", op.Kind, id, err)
	}
	note := truncate(op.Note, MaxNote)
	var f func() (*ogalert.AsyncAlertResult, error)
	switch op.Kind {
	case ticket.KindNote:
		return c.addNote(ctx, id, op.Value)
	case ticket.KindAddTeam:
		return c.addTeam(ctx, id, op.Value)
	case ticket.KindAddTags:
		f = func() (*ogalert.AsyncAlertResult, error) {
			return c.alerts.AddTags(ctx, &ogalert.AddTagsRequest{
				IdentifierType: ogalert.ALERTID, IdentifierValue: id,
				Tags: op.Values, User: User, Source: Source, Note: note,
			})
		}
	case ticket.KindRemoveTags:
		f = func() (*ogalert.AsyncAlertResult, error) {
			return c.alerts.RemoveTags(ctx, &ogalert.RemoveTagsRequest{
				IdentifierType: ogalert.ALERTID, IdentifierValue: id,
				Tags: strings.Join(op.Values, ","), User: User, Source: Source, Note: note,
			})
		}
	case ticket.KindAcknowledge:
		f = func() (*ogalert.AsyncAlertResult, error) {
			return c.alerts.Acknowledge(ctx, &ogalert.AcknowledgeAlertRequest{
				IdentifierType: ogalert.ALERTID, IdentifierValue: id, User: User, Source: Source, Note: note,
			})
		}
	case ticket.KindClose:
		f = func() (*ogalert.AsyncAlertResult, error) {
			return c.alerts.Close(ctx, &ogalert.CloseAlertRequest{
				IdentifierType: ogalert.ALERTID, IdentifierValue: id, User: User, Source: Source, Note: note,
			})
		}
	case ticket.KindEscalate:
		esc := ogalert.Escalation{Name: strings.TrimSpace(op.Value)}
		if v, ok := strings.CutPrefix(esc.Name, "id:"); ok {
			esc = ogalert.Escalation{ID: strings.TrimSpace(v)}
		}
		f = func() (*ogalert.AsyncAlertResult, error) {
			return c.alerts.EscalateToNext(ctx, &ogalert.EscalateToNextRequest{
				IdentifierType: ogalert.ALERTID, IdentifierValue: id,
				Escalation: esc, User: User, Source: Source, Note: note,
			})
		}
	case ticket.KindAddResponder:
		typ, name := op.Responder()
		r := ogalert.Responder{Type: ogalert.TeamResponder, Name: name}
		if typ == ticket.ResponderUser {
			r = ogalert.Responder{Type: ogalert.UserResponder, Username: name}
		}
		if v, ok := strings.CutPrefix(name, "id:"); ok {
			r = ogalert.Responder{Type: r.Type, Id: strings.TrimSpace(v)}
		}
		f = func() (*ogalert.AsyncAlertResult, error) {
			return c.alerts.AddResponder(ctx, &ogalert.AddResponderRequest{
				IdentifierType: ogalert.ALERTID, IdentifierValue: id,
				Responder: r, User: User, Source: Source, Note: note,
			})
		}
	default:
		return fmt.Errorf("opsgenie %s on %s: %w", op.Kind, id, ticket.ErrUnsupported)
	}
	res, err := call(ctx, f)
	return accepted(strings.ReplaceAll(op.Kind, "_", " "), id, res, err)
}

// Supports reports true for every kind of ticket.Kinds.
func (c *Client) Supports(kind string) bool { return slices.Contains(ticket.Kinds, kind) }

var _ ticket.Operator = (*Client)(nil)

// call runs one SDK call so that it returns ctx's error as soon as ctx is
// done. The SDK ignores contexts (its retry loop sleeps regardless), so the
// abandoned call finishes on its own in the background, bounded by the
// request timeout and retry count; a write may still land after that.
func call[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// MaxNote is OpsGenie's limit on a note's length.
const MaxNote = 25000

// StatusCode returns the HTTP status of the OpsGenie API answer behind err
// (404 for an alert that does not exist, 401 for a bad key, ...), or 0 when
// err did not come from an answer.
func StatusCode(err error) int {
	var ae *ogclient.ApiError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// ErrNoRequestID is returned when a write call's answer has no requestId:
// OpsGenie answers every accepted write with one.
var ErrNoRequestID = errors.New("answer has no requestId")

func accepted(op, id string, res *ogalert.AsyncAlertResult, err error) error {
	if err != nil {
		return fmt.Errorf("opsgenie %s on %s: %w", op, id, err)
	}
	if res == nil || res.RequestId == "" {
		return fmt.Errorf("opsgenie %s on %s: %w", op, id, ErrNoRequestID)
	}
	return nil
}

// trimmed marks a cut note.
const trimmed = "…[trimmed]"

// truncate cuts s to at most n runes, marker included.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-len([]rune(trimmed))]) + trimmed
}
