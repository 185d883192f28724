package opsgenie

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/rs/zerolog"
)

// newFeed builds the feed from a config entry, as the poller does.
func newFeed(t *testing.T, s *opsgenietest.Server, query, uniqueKey string, lookback time.Duration) *Feed {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(s.APIKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := New(feed.Settings{Name: "incoming", Query: query, UniqueKey: uniqueKey, Lookback: lookback},
		Config{opsgenie.Config{APIURL: s.Host(), APIKeyFile: keyFile, Retries: 1}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestQueryAddsLookback(t *testing.T) {
	f := NewWithClient(nil, Options{Query: "status: open OR teams: x", Lookback: time.Hour})
	now := time.UnixMilli(1_700_000_000_000)
	want := "(status: open OR teams: x) AND createdAt > 1699996400000"
	if got := f.Query(now); got != want {
		t.Errorf("Query = %q, want %q", got, want)
	}
}

func TestListQueryAndLookback(t *testing.T) {
	s := opsgenietest.NewT(t)
	now := time.Now()
	in := s.CreateAlert(opsgenietest.AlertSpec{Message: "in", Teams: []string{"incoming"}, CreatedAt: now.Add(-time.Hour)})
	s.CreateAlert(opsgenietest.AlertSpec{Message: "too old", Teams: []string{"incoming"}, CreatedAt: now.Add(-25 * time.Hour)})
	s.CreateAlert(opsgenietest.AlertSpec{Message: "closed", Teams: []string{"incoming"}, Status: "closed", CreatedAt: now.Add(-time.Hour)})
	s.CreateAlert(opsgenietest.AlertSpec{Message: "other team", Teams: []string{"web"}, CreatedAt: now.Add(-time.Hour)})
	// The OR must stay inside the user's query: without the parentheses
	// "web" alerts of any age would match.
	s.CreateAlert(opsgenietest.AlertSpec{Message: "other team, old", Teams: []string{"dba"}, CreatedAt: now.Add(-48 * time.Hour)})

	f := newFeed(t, s, "status: open AND teams: incoming OR teams: dba", "", 24*time.Hour)
	ids, err := f.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != in.ID {
		t.Errorf("listed %v, want only %s", ids, in.ID)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].Query, "createdAt") {
		t.Errorf("requests %+v", reqs)
	}
}

func TestListPages(t *testing.T) {
	s := opsgenietest.NewT(t)
	start := time.Now().Add(-time.Hour)
	for i := range 250 {
		s.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}, CreatedAt: start.Add(time.Duration(i) * time.Second)})
	}
	f := newFeed(t, s, "teams: incoming", "tinyId", 24*time.Hour)
	ids, err := f.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 250 {
		t.Errorf("listed %d, want 250", len(ids))
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 pages of 100", n)
	}
}

func TestFetchEnvelope(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{
		Message: "duplicator: Long garbage-collection time", Description: "GC above 5s", Alias: "dup-gc",
		Entity: "app01", Tags: []string{"syn.app"}, Details: map[string]string{"host": "app01.example.com"},
		Teams: []string{"incoming"},
	})
	cases := []struct {
		name      string
		uniqueKey string
		want      string
	}{
		{name: "default tinyId", uniqueKey: "tinyId", want: a.TinyID},
		{name: "alias", uniqueKey: "alias", want: "dup-gc"},
		{name: "detail path", uniqueKey: "details.host", want: "app01.example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t, s, "teams: incoming", tc.uniqueKey, time.Hour)
			env, err := f.Fetch(context.Background(), a.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantMeta := alert.Meta{UniqueKey: tc.uniqueKey, UniqueValue: tc.want, FeedType: "OpsGenie", FeedName: "incoming"}
			if env.Meta != wantMeta {
				t.Errorf("meta %+v, want %+v", env.Meta, wantMeta)
			}
			// The wire form decodes as the classifier will decode it.
			data, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			back, err := alert.Decode(data)
			if err != nil {
				t.Fatalf("classifier would reject the envelope: %v", err)
			}
			if back.ID() != a.ID || back.Get("message").String() != a.Message || back.Get("details.host").String() != "app01.example.com" ||
				back.Get("alexis.feed_name").String() != "incoming" || back.Get("description").String() != "GC above 5s" {
				t.Errorf("envelope %s", data)
			}
			if tags := back.Tags(); len(tags) != 1 || tags[0] != "syn.app" {
				t.Errorf("tags %v", tags)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	f := newFeed(t, s, "status: open", "details.missing", time.Hour)
	if _, err := f.Fetch(context.Background(), a.ID); !errors.Is(err, feed.ErrInvalid) {
		t.Errorf("missing unique key: %v, want ErrInvalid", err)
	}
	if _, err := f.Fetch(context.Background(), "deleted-alert"); !errors.Is(err, feed.ErrGone) {
		t.Errorf("unknown alert: %v, want ErrGone", err)
	}
	s.FailNext(10, 503)
	_, err := f.Fetch(context.Background(), a.ID)
	if err == nil || errors.Is(err, feed.ErrGone) || errors.Is(err, feed.ErrInvalid) || opsgenie.StatusCode(err) != 503 {
		t.Errorf("outage: %v, want a plain 503 error", err)
	}
}

func TestNewNeedsKeyFile(t *testing.T) {
	_, err := New(feed.Settings{Name: "x"}, Config{opsgenie.Config{APIKeyFile: "/nonexistent"}}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "feed x") {
		t.Errorf("err %v", err)
	}
}
