// Package opsgenie is the poller's OpsGenie feed (feeds[].type opsgenie):
// it lists the open alerts matching the feed's query inside its lookback
// window and fetches each new one's full record through the OpsGenie API.
// It owns its block of a feeds[] entry (Config) and its envelopes
// (feed_type OpsGenie, unique_key tinyId by default).
//
//   - name: incoming
//     type: opsgenie
//     query: "status: open AND teams: incoming"   # required
//     opsgenie: {api_url: api.opsgenie.com, api_key_file: /run/secrets/opsgenie_key, timeout: 15s, retries: 2}
package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/rs/zerolog"
)

// FeedType is the feed_type of the envelopes this feed builds.
const FeedType = alert.FeedTypeOpsGenie

// Key is the key of the feed's block in a feeds[] entry.
const Key = "opsgenie"

// DefaultUniqueKey is the default unique_key: the alert's short id.
const DefaultUniqueKey = "tinyId"

// Type is the feed type, for package feeds.
func Type() feed.Type {
	return feed.Define(feed.Spec[*Config]{Name: FeedType, Key: Key, UniqueKey: DefaultUniqueKey,
		Query: feed.QueryRequired, Zero: func() *Config { return &Config{} }})
}

// Config is the opsgenie block of a feeds[] entry: the account's client.
type Config struct {
	opsgenie.Config `yaml:",inline"`
}

// Validate reports the block's problems.
func (c *Config) Validate(key string, _ feed.Settings) error {
	return c.Config.Validate(key + Key + ".")
}

// SecretFiles is the API key file.
func (c *Config) SecretFiles(key string) []secretfile.File {
	return []secretfile.File{{Field: key + Key + ".api_key_file", Path: c.APIKeyFile}}
}

// New builds the feed.
func (c *Config) New(s feed.Settings, log zerolog.Logger) (feed.Feed, error) {
	f, err := New(s, *c, log)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Client is the part of the OpsGenie client the feed uses.
type Client interface {
	List(ctx context.Context, query string) ([]opsgenie.Summary, error)
	Get(ctx context.Context, id string) (json.RawMessage, error)
}

// Options configure NewWithClient.
type Options struct {
	Name      string
	Query     string        // OpsGenie search query
	Lookback  time.Duration // only alerts created this recently
	UniqueKey string        // gjson path of the record field identifying an alert
	Now       func() time.Time
}

// Feed polls one OpsGenie query.
type Feed struct {
	o      Options
	client Client
}

// New builds the feed of a validated feeds[] entry.
func New(s feed.Settings, cfg Config, log zerolog.Logger) (*Feed, error) {
	c, err := opsgenie.New(cfg.Config, log)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", s.Name, err)
	}
	return NewWithClient(c, Options{
		Name: s.Name, Query: s.Query, Lookback: s.Lookback, UniqueKey: s.UniqueKey,
	}), nil
}

// NewWithClient builds a feed on an existing client.
func NewWithClient(c Client, o Options) *Feed {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Feed{o: o, client: c}
}

// Name is the configured feed name.
func (f *Feed) Name() string { return f.o.Name }

// Type is "OpsGenie".
func (f *Feed) Type() string { return FeedType }

// Query is the search the feed runs at now: the configured query,
// parenthesised, restricted to alerts created within the lookback window.
func (f *Feed) Query(now time.Time) string {
	return fmt.Sprintf("(%s) AND createdAt > %d", f.o.Query, now.Add(-f.o.Lookback).UnixMilli())
}

// List returns the ids of the matching alerts, oldest first.
func (f *Feed) List(ctx context.Context) ([]string, error) {
	sums, err := f.client.List(ctx, f.Query(f.o.Now()))
	if err != nil {
		return nil, rateLimited(err)
	}
	ids := make([]string, 0, len(sums))
	for _, s := range sums {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// Fetch gets alert id's record and wraps it with its alexis meta.
func (f *Feed) Fetch(ctx context.Context, id string) (*alert.Envelope, error) {
	rec, err := f.client.Get(ctx, id)
	if opsgenie.StatusCode(err) == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %w", feed.ErrGone, err)
	}
	if err != nil {
		return nil, rateLimited(err)
	}
	return feed.Envelope(rec, id, f.o.UniqueKey, FeedType, f.o.Name)
}

// rateLimited marks a 429 the SDK gave up retrying. The SDK does not show
// the answer's headers, so the poller picks the wait.
func rateLimited(err error) error {
	if opsgenie.StatusCode(err) == http.StatusTooManyRequests {
		return &feed.RateLimitError{Err: err}
	}
	return err
}

var (
	_ feed.Feed  = (*Feed)(nil)
	_ feed.Block = (*Config)(nil)
)
