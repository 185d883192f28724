// Package opsgenie is the poller's OpsGenie feed: it lists the open alerts
// matching the feed's query inside its lookback window and fetches each
// new one's full record through the OpsGenie API.
package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/config"
	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/rs/zerolog"
)

// FeedType is the feed_type of the envelopes this feed builds.
const FeedType = "OpsGenie"

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

// New builds the feed of a validated configuration entry.
func New(cfg config.Feed, log zerolog.Logger) (*Feed, error) {
	if cfg.OpsGenie == nil {
		return nil, fmt.Errorf("feed %s: no opsgenie block", cfg.Name)
	}
	c, err := opsgenie.New(*cfg.OpsGenie, log)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", cfg.Name, err)
	}
	return NewWithClient(c, Options{
		Name: cfg.Name, Query: cfg.Query, Lookback: cfg.Lookback.D(), UniqueKey: cfg.UniqueKey,
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

var _ feed.Feed = (*Feed)(nil)
