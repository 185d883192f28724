package dynatrace

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// newClient returns a client for s; token overrides the server's when set.
func newClient(t *testing.T, s *dynatracetest.Server, retries int, token string) *Client {
	t.Helper()
	if token == "" {
		token = s.Token()
	}
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: s.URL(), APITokenFile: f, Timeout: config.Duration(5 * time.Second), Retries: retries}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c.minWait = 10 * time.Millisecond
	return c
}

func listRequests(s *dynatracetest.Server) []url.Values {
	var out []url.Values
	for _, r := range s.Requests() {
		if r.Method == "GET" && r.Path == "/api/v2/problems" {
			q, _ := url.ParseQuery(r.Query)
			out = append(out, q)
		}
	}
	return out
}

func TestListProblemsPages(t *testing.T) {
	s := dynatracetest.NewT(t)
	host := dynatracetest.Entity("HOST-1", "HOST", "db01")
	for i := range 7 {
		spec := dynatracetest.ProblemSpec{Title: "p", StartTime: time.Now().Add(-time.Duration(10-i) * time.Minute)}
		if i%2 == 0 {
			spec.ImpactedEntities = []dynatracetest.EntityStub{host}
		}
		s.CreateProblem(spec)
	}
	s.CreateProblem(dynatracetest.ProblemSpec{Title: "closed", Status: "CLOSED", StartTime: time.Now().Add(-time.Minute)})
	c := newClient(t, s, 1, "")
	got, err := c.ListProblems(context.Background(), ListOptions{
		ProblemSelector: `status("open"),impactedEntities("HOST-1")`, From: "now-1h", PageSize: 1, Fields: "recentComments",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("listed %d problems, want 4", len(got))
	}
	for _, p := range got {
		if p.Status != "OPEN" || p.ProblemID == "" || !strings.Contains(string(p.Raw), `"impactedEntities"`) {
			t.Errorf("problem %+v", p)
		}
	}
	reqs := listRequests(s)
	if len(reqs) != 4 {
		t.Fatalf("%d list requests, want 4 (one per page)", len(reqs))
	}
	first := reqs[0]
	if first.Get("problemSelector") == "" || first.Get("from") != "now-1h" || first.Get("pageSize") != "1" || first.Get("nextPageKey") != "" {
		t.Errorf("first page query %v", first)
	}
	for _, q := range reqs[1:] {
		if q.Get("nextPageKey") == "" || len(q) != 2 || q.Get("fields") != "recentComments" {
			t.Errorf("later page query %v: only nextPageKey and fields", q)
		}
	}
}

func TestListErrors(t *testing.T) {
	s := dynatracetest.NewT(t)
	c := newClient(t, s, 1, "")
	_, err := c.ListProblems(context.Background(), ListOptions{ProblemSelector: `flavour("mint")`})
	if StatusCode(err) != 400 || !strings.Contains(err.Error(), "problemSelector") || !strings.Contains(err.Error(), "list problems") {
		t.Errorf("bad selector: %v", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("a 400 was retried: %d requests", n)
	}

	bad := newClient(t, s, 2, "dt0c01.wrong")
	_, err = bad.ListProblems(context.Background(), ListOptions{})
	if StatusCode(err) != 401 || strings.Contains(err.Error(), "dt0c01.wrong") {
		t.Errorf("wrong token: %v", err)
	}
	_, err = c.GetProblem(context.Background(), "-1_2V2")
	if StatusCode(err) != 404 {
		t.Errorf("unknown problem: %v", err)
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		failures int
		retries  int
		write    bool
		wantCode int // of the final error; 0 for success
		requests int
	}{
		{name: "429 then success", status: 429, failures: 1, retries: 2, requests: 2},
		{name: "500 then success", status: 500, failures: 2, retries: 2, requests: 3},
		{name: "503 beyond retries", status: 503, failures: 5, retries: 1, wantCode: 503, requests: 2},
		{name: "no retries", status: 429, failures: 1, retries: -1, wantCode: 429, requests: 1},
		{name: "write retried on 429", status: 429, failures: 1, retries: 2, write: true, requests: 2},
		{name: "write not retried on 500", status: 500, failures: 1, retries: 2, write: true, wantCode: 500, requests: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := dynatracetest.NewT(t, dynatracetest.Options{RateLimitReset: 30 * time.Millisecond})
			p := s.CreateProblem(dynatracetest.ProblemSpec{Title: "p"})
			c := newClient(t, s, tc.retries, "")
			s.FailNext(tc.failures, tc.status)
			var err error
			if tc.write {
				err = c.AddNote(context.Background(), p.ProblemID, "n")
			} else {
				_, err = c.ListProblems(context.Background(), ListOptions{})
			}
			if StatusCode(err) != tc.wantCode {
				t.Fatalf("err %v, want status %d", err, tc.wantCode)
			}
			if n := len(s.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{name: "reset ahead", h: h("X-RateLimit-Reset", "1735689600250000", "Retry-After", "1"), want: 250 * time.Millisecond},
		{name: "reset passed", h: h("X-RateLimit-Reset", "1735689500000000", "Retry-After", "3"), want: 3 * time.Second},
		{name: "retry-after only", h: h("Retry-After", "2"), want: 2 * time.Second},
		{name: "nothing", h: h(), want: 0},
		{name: "garbage", h: h("Retry-After", "soon"), want: 0},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	c := &Client{minWait: time.Second}
	if got := c.wait(0, &StatusError{Code: 429, RetryAfter: time.Hour}); got != MaxRetryWait {
		t.Errorf("wait is not capped: %v", got)
	}
	if got := c.wait(3, errors.New("eof")); got != 8*time.Second {
		t.Errorf("wait doubles: %v", got)
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	s := dynatracetest.NewT(t, dynatracetest.Options{RateLimitReset: 10 * time.Second})
	c := newClient(t, s, 3, "")
	s.FailNext(5, 429)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.ListProblems(ctx, ListOptions{})
	if StatusCode(err) != 429 || RetryAfter(err) <= time.Second {
		t.Errorf("err %v, want the 429 back without waiting past the deadline", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestTicketOps(t *testing.T) {
	s := dynatracetest.NewT(t)
	p := s.CreateProblem(dynatracetest.ProblemSpec{Title: "p"})
	c := newClient(t, s, 1, "")
	ctx := context.Background()
	errs := ticket.Apply(ctx, c, p.ProblemID, []ticket.Op{
		{Kind: ticket.KindNote, Value: "restarted duplicator"},
		{Kind: ticket.KindAddTeam, Value: "ops_unix"},
		{Kind: ticket.KindEscalate, Value: "x"},
		{Kind: ticket.KindClose, Note: "fixed by Alexis"},
	})
	if len(errs) != 1 || !errors.Is(errs[0], ticket.ErrUnsupported) {
		t.Fatalf("errors %v, want only escalate unsupported", errs)
	}
	got, _ := s.Problem(p.ProblemID)
	if got.Status != "CLOSED" || got.EndTime < 0 {
		t.Errorf("problem %+v", got)
	}
	want := []dynatracetest.Comment{
		{Content: "restarted duplicator", Context: CommentContext},
		{Content: "Alexis routed this problem to team ops_unix.", Context: CommentContext},
		{Content: "fixed by Alexis"},
	}
	if len(got.Comments) != len(want) {
		t.Fatalf("comments %+v", got.Comments)
	}
	for i, w := range want {
		if got.Comments[i].Content != w.Content || got.Comments[i].Context != w.Context {
			t.Errorf("comment %d: %+v, want %+v", i, got.Comments[i], w)
		}
	}
	for _, k := range ticket.Kinds {
		want := k == "note" || k == "add_team" || k == "close"
		if c.Supports(k) != want {
			t.Errorf("Supports(%q) = %v", k, !want)
		}
	}
	// Closing again is not an error; the default closing message is used.
	q := s.CreateProblem(dynatracetest.ProblemSpec{Title: "q"})
	if err := c.Do(ctx, q.ProblemID, ticket.Op{Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CloseProblem(ctx, q.ProblemID, "again")
	if err != nil || res.Closing {
		t.Errorf("second close: %+v %v", res, err)
	}
	if cs := s.Comments(q.ProblemID); len(cs) != 1 || cs[0].Content != ClosedMessage {
		t.Errorf("comments %+v", cs)
	}
	if err := c.AddNote(ctx, "-404_1V2", "x"); StatusCode(err) != 404 {
		t.Errorf("note on unknown problem: %v", err)
	}
}

func TestGetProblem(t *testing.T) {
	s := dynatracetest.NewT(t)
	p := s.CreateProblem(dynatracetest.ProblemSpec{
		Title: "disk full", ImpactedEntities: []dynatracetest.EntityStub{dynatracetest.Entity("HOST-1", "HOST", "db01")},
		EntityTags: []string{"[Environment]team:db"},
	})
	c := newClient(t, s, 1, "")
	raw, err := c.GetProblem(context.Background(), p.ProblemID)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"problemId", "displayId", "title", "severityLevel", "status", "impactedEntities", "entityTags", "evidenceDetails", "recentComments"} {
		if _, ok := m[k]; !ok {
			t.Errorf("problem lacks %q: %s", k, raw)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "saas", cfg: Config{APIURL: "https://abc12345.live.dynatrace.com", APITokenFile: "/t"}},
		{name: "activegate", cfg: Config{APIURL: "https://ag.example:9999/e/abc12345", APITokenFile: "/t"}},
		{name: "nothing", cfg: Config{}, want: []string{"dt.api_url: required", "dt.api_token_file: required"}},
		{name: "api path", cfg: Config{APIURL: "https://abc.live.dynatrace.com/api/v2", APITokenFile: "/t"}, want: []string{"without /api/v2"}},
		{name: "scheme", cfg: Config{APIURL: "abc.live.dynatrace.com", APITokenFile: "/t"}, want: []string{"must be http:// or https://"}},
		{name: "credentials", cfg: Config{APIURL: "https://u:p@abc.live.dynatrace.com", APITokenFile: "/t"}, want: []string{"must not carry credentials"}},
		{name: "retries", cfg: Config{APIURL: "https://x", APITokenFile: "/t", Retries: 11, Timeout: -1}, want: []string{"dt.retries", "dt.timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate("dt.")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
		})
	}
}
