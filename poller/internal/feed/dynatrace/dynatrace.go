// Package dynatrace is the poller's Dynatrace feed: it lists the problems
// matching the feed's problem selector whose start (or end) lies inside its
// lookback window, through the Problems API v2, and fetches each new one's
// full record.
package dynatrace

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/config"
	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/dynatrace"
	"github.com/rs/zerolog"
)

// FeedType is the feed_type of the envelopes this feed builds.
const FeedType = "Dynatrace"

// Client is the part of the Dynatrace client the feed uses.
type Client interface {
	ListProblems(ctx context.Context, o dynatrace.ListOptions) ([]dynatrace.Problem, error)
	GetProblem(ctx context.Context, id string) (json.RawMessage, error)
}

// Options configure NewWithClient.
type Options struct {
	Name            string
	ProblemSelector string        // e.g. status("open")
	EntitySelector  string        // optional
	PageSize        int           // problems per page
	Lookback        time.Duration // only problems that started or ended this recently
	UniqueKey       string        // gjson path of the record field identifying a problem
	Now             func() time.Time
}

// Feed polls one Dynatrace problem selector.
type Feed struct {
	o      Options
	client Client
}

// New builds the feed of a validated configuration entry.
func New(cfg config.Feed, log zerolog.Logger) (*Feed, error) {
	if cfg.Dynatrace == nil {
		return nil, fmt.Errorf("feed %s: no dynatrace block", cfg.Name)
	}
	c, err := dynatrace.New(cfg.Dynatrace.Config, log)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", cfg.Name, err)
	}
	return NewWithClient(c, Options{
		Name: cfg.Name, ProblemSelector: cfg.Dynatrace.ProblemSelector, EntitySelector: cfg.Dynatrace.EntitySelector,
		PageSize: cfg.Dynatrace.PageSize, Lookback: cfg.Lookback.D(), UniqueKey: cfg.UniqueKey,
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

// Type is "Dynatrace".
func (f *Feed) Type() string { return FeedType }

// ListOptions is the listing the feed asks for at now: its selectors, from
// the start of the lookback window (epoch milliseconds).
func (f *Feed) ListOptions(now time.Time) dynatrace.ListOptions {
	return dynatrace.ListOptions{
		ProblemSelector: f.o.ProblemSelector,
		EntitySelector:  f.o.EntitySelector,
		From:            strconv.FormatInt(now.Add(-f.o.Lookback).UnixMilli(), 10),
		PageSize:        f.o.PageSize,
	}
}

// List returns the ids of the matching problems, oldest first.
func (f *Feed) List(ctx context.Context) ([]string, error) {
	probs, err := f.client.ListProblems(ctx, f.ListOptions(f.o.Now()))
	if err != nil {
		return nil, rateLimited(err)
	}
	slices.SortStableFunc(probs, func(a, b dynatrace.Problem) int {
		return cmp.Or(cmp.Compare(a.StartTime, b.StartTime), cmp.Compare(a.ProblemID, b.ProblemID))
	})
	ids := make([]string, 0, len(probs))
	for _, p := range probs {
		ids = append(ids, p.ProblemID)
	}
	return ids, nil
}

// Fetch gets problem id's full record and wraps it with its alexis meta.
func (f *Feed) Fetch(ctx context.Context, id string) (*alert.Envelope, error) {
	rec, err := f.client.GetProblem(ctx, id)
	if dynatrace.StatusCode(err) == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %w", feed.ErrGone, err)
	}
	if err != nil {
		return nil, rateLimited(err)
	}
	return feed.Envelope(rec, id, f.o.UniqueKey, FeedType, f.o.Name)
}

// rateLimited marks a 429 the client gave up retrying, with the wait the
// server asked for.
func rateLimited(err error) error {
	if dynatrace.StatusCode(err) == http.StatusTooManyRequests {
		return &feed.RateLimitError{RetryAfter: dynatrace.RetryAfter(err), Err: err}
	}
	return err
}

var _ feed.Feed = (*Feed)(nil)
