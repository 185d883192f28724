// Package dynatrace is the poller's Dynatrace feed: it lists the problems
// matching the feed's problem selector whose start (or end) lies inside its
// lookback window, through the Problems API v2, and fetches each new one's
// full record. It owns its block of a feeds[] entry (Config) and its
// envelopes (feed_type Dynatrace, unique_key problemId by default).
//
//   - name: problems
//     type: dynatrace               # no query: the problem selector says what to poll
//     lookback: 24h                 # from=now-24h: problems that started (or ended) since
//     dynatrace:
//     api_url: https://abc12345.live.dynatrace.com
//     api_token_file: /run/secrets/dynatrace_token
//     timeout: 15s
//     retries: 2
//     problem_selector: 'status("open"),entityTags("team:db")'   # default status("open")
//     entity_selector: ""         # optional
//     page_size: 100              # 1..500
package dynatrace

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/shared/alert"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/dynatrace"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/rs/zerolog"
)

// FeedType is the feed_type of the envelopes this feed builds.
const FeedType = alert.FeedTypeDynatrace

// Key is the key of the feed's block in a feeds[] entry.
const Key = "dynatrace"

// Defaults.
const (
	DefaultUniqueKey       = "problemId" // displayId also works
	DefaultProblemSelector = `status("open")`
)

// Type is the feed type, for package feeds.
func Type() feed.Type {
	return feed.Define(feed.Spec[*Config]{Name: FeedType, Key: Key, UniqueKey: DefaultUniqueKey,
		Query: feed.QueryRefused, QueryHint: "use dynatrace.problem_selector", Zero: func() *Config { return &Config{} }})
}

// Config is the dynatrace block of a feeds[] entry: the client's
// configuration and what to poll.
type Config struct {
	dynatrace.Config `yaml:",inline"`
	ProblemSelector  string `yaml:"problem_selector"` // default status("open")
	EntitySelector   string `yaml:"entity_selector"`  // optional
	PageSize         int    `yaml:"page_size"`        // default 100, at most 500
}

// Validate fills in the selector and page size left out, then reports the
// block's problems.
func (c *Config) Validate(key string, _ feed.Settings) error {
	if strings.TrimSpace(c.ProblemSelector) == "" {
		c.ProblemSelector = DefaultProblemSelector
	}
	if c.PageSize == 0 {
		c.PageSize = dynatrace.DefaultPageSize
	}
	var p sconfig.Problems
	if c.PageSize < 0 || c.PageSize > dynatrace.MaxPageSize {
		p.Addf(key+Key+".page_size", "must be 1..%d", dynatrace.MaxPageSize)
	}
	return errors.Join(p.Err(), c.Config.Validate(key+Key+"."))
}

// SecretFiles is the API token file.
func (c *Config) SecretFiles(key string) []secretfile.File {
	return []secretfile.File{{Field: key + Key + ".api_token_file", Path: c.APITokenFile}}
}

// New builds the feed.
func (c *Config) New(s feed.Settings, log zerolog.Logger) (feed.Feed, error) {
	f, err := New(s, *c, log)
	if err != nil {
		return nil, err
	}
	return f, nil
}

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

// New builds the feed of a validated feeds[] entry.
func New(s feed.Settings, cfg Config, log zerolog.Logger) (*Feed, error) {
	c, err := dynatrace.New(cfg.Config, log)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", s.Name, err)
	}
	return NewWithClient(c, Options{
		Name: s.Name, ProblemSelector: cfg.ProblemSelector, EntitySelector: cfg.EntitySelector,
		PageSize: cfg.PageSize, Lookback: s.Lookback, UniqueKey: s.UniqueKey,
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

var (
	_ feed.Feed  = (*Feed)(nil)
	_ feed.Block = (*Config)(nil)
)
