package dynatrace

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/shared/dynatrace"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/rs/zerolog"
)

// newFeed builds the feed from a config entry, as the poller does.
func newFeed(t *testing.T, s *dynatracetest.Server, selector, uniqueKey string, pageSize int) *Feed {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(s.Token()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := New(feed.Settings{Name: "problems", UniqueKey: uniqueKey, Lookback: 24 * time.Hour}, Config{
		Config:          dynatrace.Config{APIURL: s.URL(), APITokenFile: tokenFile, Retries: -1},
		ProblemSelector: selector, PageSize: pageSize,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestListOldestFirstAcrossPages(t *testing.T) {
	s := dynatracetest.NewT(t)
	now := time.Now()
	db := []string{"[Environment]team:db"}
	var want []string
	for i := range 7 {
		p := s.CreateProblem(dynatracetest.ProblemSpec{Title: "db " + strconv.Itoa(i), EntityTags: db, StartTime: now.Add(-time.Duration(60-i) * time.Minute)})
		want = append(want, p.ProblemID)
	}
	s.CreateProblem(dynatracetest.ProblemSpec{Title: "web", EntityTags: []string{"team:web"}, StartTime: now.Add(-time.Minute)})
	s.CreateProblem(dynatracetest.ProblemSpec{Title: "too old", EntityTags: db, StartTime: now.Add(-25 * time.Hour)})
	s.CreateProblem(dynatracetest.ProblemSpec{Title: "closed", EntityTags: db, Status: "CLOSED", StartTime: now.Add(-time.Hour)})

	f := newFeed(t, s, `status("open"),entityTags("team:db")`, "problemId", 3)
	ids, err := f.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("listed %v\nwant %v (oldest first)", ids, want)
	}
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(reqs))
	}
	if !strings.Contains(reqs[0].Query, "problemSelector=") || !strings.Contains(reqs[0].Query, "from=") {
		t.Errorf("first page query %q", reqs[0].Query)
	}
	for _, r := range reqs[1:] {
		if !strings.HasPrefix(r.Query, "nextPageKey=") || strings.Contains(r.Query, "&") {
			t.Errorf("later page query %q: nextPageKey only", r.Query)
		}
	}
}

func TestListOptionsLookback(t *testing.T) {
	f := NewWithClient(nil, Options{ProblemSelector: `status("open")`, Lookback: time.Hour, PageSize: 50})
	now := time.UnixMilli(1_700_000_000_000)
	o := f.ListOptions(now)
	if o.From != "1699996400000" || o.ProblemSelector != `status("open")` || o.PageSize != 50 {
		t.Errorf("options %+v", o)
	}
}

func TestFetch(t *testing.T) {
	s := dynatracetest.NewT(t)
	p := s.CreateProblem(dynatracetest.ProblemSpec{
		Title: "db01: disk full", SeverityLevel: "RESOURCE_CONTENTION",
		ImpactedEntities: []dynatracetest.EntityStub{dynatracetest.Entity("HOST-1", "HOST", "db01")},
		EntityTags:       []string{"[Environment]team:db"},
	})
	f := newFeed(t, s, `status("open")`, "displayId", 0)
	env, err := f.Fetch(context.Background(), p.ProblemID)
	if err != nil {
		t.Fatal(err)
	}
	if env.Meta.FeedType != "Dynatrace" || env.Meta.FeedName != "problems" || env.Meta.UniqueKey != "displayId" || env.Meta.UniqueValue != p.DisplayID {
		t.Errorf("meta %+v", env.Meta)
	}
	for path, want := range map[string]string{
		"problemId": p.ProblemID, "title": "db01: disk full", "severityLevel": "RESOURCE_CONTENTION", "status": "OPEN",
		"impactedEntities.0.name": "db01", "impactedEntities.0.entityId.id": "HOST-1", "entityTags.0.key": "team",
		"alexis.feed_type": "Dynatrace",
	} {
		if got := env.Get(path).String(); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}

	if _, err := f.Fetch(context.Background(), "-1_1V2"); !errors.Is(err, feed.ErrGone) {
		t.Errorf("unknown problem: %v, want ErrGone", err)
	}
	bad := newFeed(t, s, `status("open")`, "nope", 0)
	if _, err := bad.Fetch(context.Background(), p.ProblemID); !errors.Is(err, feed.ErrInvalid) {
		t.Errorf("missing unique key: %v, want ErrInvalid", err)
	}
}

func TestRateLimitIsMarked(t *testing.T) {
	s := dynatracetest.NewT(t, dynatracetest.Options{RateLimitReset: 2 * time.Second})
	f := newFeed(t, s, `status("open")`, "problemId", 0)
	s.FailNext(1, http.StatusTooManyRequests)
	_, err := f.List(context.Background())
	after, ok := feed.RateLimited(err)
	if !ok || after <= time.Second {
		t.Errorf("err %v: rate limited %v after %v", err, ok, after)
	}
	s.FailNext(1, http.StatusInternalServerError)
	if _, err := f.List(context.Background()); err == nil || errors.As(err, new(*feed.RateLimitError)) {
		t.Errorf("500: %v", err)
	}
}
