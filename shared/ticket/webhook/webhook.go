// Package webhook is the generic outbound ticket system: every write-back
// operation is POSTed as JSON to a configured URL, for Slack-like chat
// (the "text" field is what such incoming webhooks show) or any system
// with an HTTP endpoint:
//
//	{"source": "Alexis", "alert_id": "...", "feed_type": "OpsGenie",
//	 "op": "add_team", "value": "ops_unix", "values": [...], "note": "...",
//	 "text": "Alexis routed OpsGenie alert ... to team ops_unix."}
//
// The request carries "Authorization: Bearer <token>" when a token file is
// configured. Any 2xx answer is success; anything else is an error naming
// the status. Nothing is retried: chat is best effort.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// DefaultTimeout bounds one POST.
const DefaultTimeout = 10 * time.Second

// AllFeedTypes in feed_types makes a webhook serve every feed type.
const AllFeedTypes = "*"

// Config is one entry of the "webhooks" list of the tickets block.
type Config struct {
	Name      string          `yaml:"name"`       // for logs and errors
	URL       string          `yaml:"url"`        // http(s) endpoint
	TokenFile string          `yaml:"token_file"` // optional: sent as a bearer token
	Timeout   config.Duration `yaml:"timeout"`    // default 10s
	CAFile    string          `yaml:"ca_file"`    // optional PEM bundle for https
	// FeedTypes are the feed types whose alerts it gets ("OpsGenie",
	// "Dynatrace", or "*" for all). For a feed type that has its own
	// ticket system, the webhook gets a copy of every operation.
	FeedTypes []string `yaml:"feed_types"`
	// Kinds are the operations forwarded (default: all of ticket.Kinds).
	Kinds []string `yaml:"kinds"`
}

// Validate reports problems, each prefixed with prefix ("webhooks[0].").
func (c Config) Validate(prefix string) error {
	var p config.Problems
	if strings.TrimSpace(c.Name) == "" {
		p.Addf(prefix+"name", "required")
	}
	switch u, err := url.Parse(c.URL); {
	case c.URL == "":
		p.Addf(prefix+"url", "required")
	case err != nil:
		p.Addf(prefix+"url", "bad URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Addf(prefix+"url", "URL must be http:// or https://, got %q", c.URL)
	case u.Host == "":
		p.Addf(prefix+"url", "URL has no host")
	case u.User != nil:
		p.Addf(prefix+"url", "URL must not carry credentials; use token_file")
	}
	if c.Timeout < 0 {
		p.Addf(prefix+"timeout", "must not be negative")
	}
	if len(c.FeedTypes) == 0 {
		p.Addf(prefix+"feed_types", `required (e.g. [OpsGenie, Dynatrace] or ["*"])`)
	}
	for i, ft := range c.FeedTypes {
		if strings.TrimSpace(ft) == "" || strings.Contains(ft, "/") {
			p.Addf(fmt.Sprintf("%sfeed_types[%d]", prefix, i), "bad feed type %q", ft)
		}
	}
	for i, k := range c.Kinds {
		if !slices.Contains(ticket.Kinds, k) {
			p.Addf(fmt.Sprintf("%skinds[%d]", prefix, i), "unknown operation %q (one of: %s)", k, strings.Join(ticket.Kinds, ", "))
		}
	}
	return p.Err()
}

// Serves reports whether the webhook gets alerts of feedType.
func (c Config) Serves(feedType string) bool {
	return slices.ContainsFunc(c.FeedTypes, func(ft string) bool { return ft == AllFeedTypes || strings.EqualFold(ft, feedType) })
}

// Message is the JSON body of one POST.
type Message struct {
	Source   string   `json:"source"` // "Alexis"
	AlertID  string   `json:"alert_id"`
	FeedType string   `json:"feed_type,omitempty"`
	Op       string   `json:"op"`
	Value    string   `json:"value,omitempty"`
	Values   []string `json:"values,omitempty"`
	Note     string   `json:"note,omitempty"`
	Text     string   `json:"text"`
}

// Webhook posts the operations on one feed type's alerts.
type Webhook struct {
	name     string
	url      string
	feedType string
	kinds    []string
	client   *httpclient.Client
}

// New builds the webhook of cfg for alerts of feedType ("" when it serves
// several and the type is not known).
func New(cfg Config, feedType string) (*Webhook, error) {
	var token config.Secret
	if cfg.TokenFile != "" {
		var err error
		if token, err = config.ReadSecret(cfg.TokenFile); err != nil {
			return nil, fmt.Errorf("webhook %s: token_file: %w", cfg.Name, err)
		}
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	c, err := httpclient.New(httpclient.Options{Token: token, Timeout: timeout, CAFile: cfg.CAFile})
	if err != nil {
		return nil, fmt.Errorf("webhook %s: ca_file: %w", cfg.Name, err)
	}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = ticket.Kinds
	}
	return &Webhook{name: cfg.Name, url: cfg.URL, feedType: feedType, kinds: slices.Clone(kinds), client: c}, nil
}

// AddNote posts a note.
func (w *Webhook) AddNote(ctx context.Context, id, note string) error {
	return w.Do(ctx, id, ticket.Op{Kind: ticket.KindNote, Value: note})
}

// AddTeam posts a routing.
func (w *Webhook) AddTeam(ctx context.Context, id, team string) error {
	return w.Do(ctx, id, ticket.Op{Kind: ticket.KindAddTeam, Value: team})
}

// System is the name of this ticket system in ticket.Error and labels.
const System = "webhook"

// Do posts op on alert id. Failures are *ticket.Error.
func (w *Webhook) Do(ctx context.Context, id string, op ticket.Op) error {
	err := w.do(ctx, id, op)
	var se *httpclient.StatusError
	code := 0
	if errors.As(err, &se) {
		code = se.Code
	}
	return ticket.NewError(System, op.Kind, code, err)
}

func (w *Webhook) do(ctx context.Context, id string, op ticket.Op) error {
	if err := op.Validate(); err != nil {
		return fmt.Errorf("webhook %s: %s on %s: %w", w.name, op.Kind, id, err)
	}
	if !w.Supports(op.Kind) {
		return fmt.Errorf("webhook %s: %s: %w", w.name, op.Kind, ticket.ErrUnsupported)
	}
	m := Message{
		Source: "Alexis", AlertID: id, FeedType: w.feedType, Op: op.Kind,
		Value: op.Value, Values: op.Values, Note: op.Note, Text: Text(w.feedType, id, op),
	}
	if _, err := w.client.PostJSON(ctx, w.url, m, nil); err != nil {
		return fmt.Errorf("webhook %s: %s on %s: %w", w.name, op.Kind, id, err)
	}
	return nil
}

// Supports reports the configured kinds.
func (w *Webhook) Supports(kind string) bool { return slices.Contains(w.kinds, kind) }

var _ ticket.Operator = (*Webhook)(nil)

// Text is the human sentence for op on alert id of feedType.
func Text(feedType, id string, op ticket.Op) string {
	what := "alert " + id
	if feedType != "" {
		what = feedType + " alert " + id
	}
	var s string
	switch op.Kind {
	case ticket.KindNote:
		s = fmt.Sprintf("Alexis on %s: %s", what, op.Value)
	case ticket.KindAddTeam:
		s = fmt.Sprintf("Alexis routed %s to team %s.", what, op.Value)
	case ticket.KindAddTags:
		s = fmt.Sprintf("Alexis tagged %s: %s.", what, strings.Join(op.Values, ", "))
	case ticket.KindRemoveTags:
		s = fmt.Sprintf("Alexis removed tags from %s: %s.", what, strings.Join(op.Values, ", "))
	case ticket.KindAcknowledge:
		s = fmt.Sprintf("Alexis acknowledged %s.", what)
	case ticket.KindClose:
		s = fmt.Sprintf("Alexis closed %s.", what)
	case ticket.KindEscalate:
		s = fmt.Sprintf("Alexis escalated %s to %s.", what, op.Value)
	case ticket.KindAddResponder:
		typ, name := op.Responder()
		s = fmt.Sprintf("Alexis added %s %s as responder to %s.", typ, name, what)
	default:
		s = fmt.Sprintf("Alexis: %s on %s.", op.Kind, what)
	}
	if op.Note != "" {
		s += " " + op.Note
	}
	return s
}
