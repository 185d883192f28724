package opsgenie

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// newClient returns a real client (through the SDK) for s, with key
// overriding the server's API key when not empty.
func newClient(t *testing.T, s *opsgenietest.Server, retries int, key string) *Client {
	t.Helper()
	if key == "" {
		key = s.APIKey()
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: s.Host(), APIKeyFile: keyFile, Timeout: config.Duration(5 * time.Second), Retries: retries}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countRequests(s *opsgenietest.Server, method, prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

func TestListPagesOldestFirst(t *testing.T) {
	s := opsgenietest.NewT(t)
	start := time.Now().Add(-time.Hour)
	for i := range 250 {
		s.CreateAlert(opsgenietest.AlertSpec{Message: "m" + strconv.Itoa(i), CreatedAt: start.Add(time.Duration(i) * time.Second)})
	}
	s.CreateAlert(opsgenietest.AlertSpec{Message: "closed", Status: "closed"})
	c := newClient(t, s, 1, "")

	got, err := c.List(context.Background(), "status: open")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250 {
		t.Fatalf("listed %d alerts, want 250", len(got))
	}
	for i, a := range got {
		if a.TinyID != strconv.Itoa(i+1) || a.ID == "" || a.CreatedAt.IsZero() {
			t.Fatalf("alert %d: %+v (want tinyId %d, oldest first)", i, a, i+1)
		}
	}
	if n := countRequests(s, "GET", "/v2/alerts"); n != 3 {
		t.Errorf("%d list requests, want 3 pages", n)
	}
}

func TestListQuery(t *testing.T) {
	s := opsgenietest.NewT(t)
	now := time.Now()
	old := s.CreateAlert(opsgenietest.AlertSpec{Message: "old", Teams: []string{"incoming"}, CreatedAt: now.Add(-48 * time.Hour)})
	fresh := s.CreateAlert(opsgenietest.AlertSpec{Message: "fresh", Teams: []string{"incoming"}, CreatedAt: now.Add(-time.Hour)})
	routed := s.CreateAlert(opsgenietest.AlertSpec{Message: "routed", Teams: []string{"incoming", "queue_needsinvestigation"}, CreatedAt: now.Add(-time.Hour)})
	closed := s.CreateAlert(opsgenietest.AlertSpec{Message: "closed", Teams: []string{"incoming"}, Status: "closed", CreatedAt: now.Add(-time.Hour)})
	other := s.CreateAlert(opsgenietest.AlertSpec{Message: "other team", Teams: []string{"web"}, CreatedAt: now.Add(-time.Hour)})
	c := newClient(t, s, 1, "")
	dayAgo := strconv.FormatInt(now.Add(-24*time.Hour).UnixMilli(), 10)

	cases := []struct {
		name  string
		query string
		want  []opsgenietest.Alert
	}{
		{name: "team", query: "teams: incoming", want: []opsgenietest.Alert{old, fresh, routed, closed}},
		{name: "open in team", query: "status: open AND teams: incoming", want: []opsgenietest.Alert{old, fresh, routed}},
		{name: "not routed", query: "status:open AND teams:incoming AND NOT teams:queue_needsinvestigation", want: []opsgenietest.Alert{old, fresh}},
		{name: "lookback", query: "(status: open AND teams: incoming) AND createdAt > " + dayAgo, want: []opsgenietest.Alert{fresh, routed}},
		{name: "closed", query: "status: closed", want: []opsgenietest.Alert{closed}},
		{name: "or", query: "teams: web OR message: old", want: []opsgenietest.Alert{old, other}},
		{name: "none", query: "teams: nobody", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.List(context.Background(), tc.query)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs, wantIDs []string
			for _, a := range got {
				gotIDs = append(gotIDs, a.ID)
			}
			for _, a := range tc.want {
				wantIDs = append(wantIDs, a.ID)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("query %q: got %v, want %v", tc.query, gotIDs, wantIDs)
			}
		})
	}

	_, err := c.List(context.Background(), "colour: red")
	if StatusCode(err) != http.StatusUnprocessableEntity {
		t.Errorf("bad query: %v (status %d), want 422", err, StatusCode(err))
	}
}

func TestGet(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{
		Message: "db01: disk almost full", Description: "Filesystem /var is 97% full", Entity: "db01",
		Tags: []string{"syn.db"}, Details: map[string]string{"host": "db01.example.com"}, Teams: []string{"incoming"},
		Priority: "P2", Source: "Zabbix",
	})
	c := newClient(t, s, 1, "")
	raw, err := c.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "message": "db01: disk almost full", "description": "Filesystem /var is 97% full",
		"entity": "db01", "status": "open", "priority": "P2", "source": "Zabbix",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	if d, _ := rec["details"].(map[string]any); d["host"] != "db01.example.com" {
		t.Errorf("details %v", rec["details"])
	}
	if tags, _ := rec["tags"].([]any); len(tags) != 1 || tags[0] != "syn.db" {
		t.Errorf("tags %v", rec["tags"])
	}
	if r, _ := rec["responders"].([]any); len(r) != 1 || r[0].(map[string]any)["type"] != "team" {
		t.Errorf("responders %v", rec["responders"])
	}
	if _, err := time.Parse(time.RFC3339, rec["createdAt"].(string)); err != nil {
		t.Errorf("createdAt %v: %v", rec["createdAt"], err)
	}
	for _, k := range metadataKeys {
		if _, ok := rec[k]; ok {
			t.Errorf("response metadata %q leaked into the record", k)
		}
	}

	_, err = c.Get(context.Background(), "no-such-alert")
	if StatusCode(err) != http.StatusNotFound {
		t.Errorf("unknown alert: %v, want a 404", err)
	}
}

func TestWriteBack(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	c := newClient(t, s, 1, "")
	ctx := context.Background()
	if err := c.AddNote(ctx, a.ID, "restarted duplicator"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTeam(ctx, a.ID, "ops_unix"); err != nil {
		t.Fatal(err)
	}
	if got := s.Notes(a.ID); !slices.Equal(got, []string{"restarted duplicator"}) {
		t.Errorf("notes %q", got)
	}
	if got := s.Teams(a.ID); !slices.Equal(got, []string{"incoming", "ops_unix"}) {
		t.Errorf("teams %q", got)
	}
	got, _ := s.Alert(a.ID)
	if got.Notes[0].Owner != User {
		t.Errorf("note owner %q, want %q", got.Notes[0].Owner, User)
	}
	for _, r := range s.Requests() {
		if r.Method == "POST" && r.Status != http.StatusAccepted {
			t.Errorf("%s %s answered %d, want 202", r.Method, r.Path, r.Status)
		}
	}

	long := strings.Repeat("x", MaxNote+100)
	if err := c.AddNote(ctx, a.ID, long); err != nil {
		t.Fatalf("long note: %v", err)
	}
	notes := s.Notes(a.ID)
	if n := len([]rune(notes[len(notes)-1])); n != MaxNote || !strings.HasSuffix(notes[len(notes)-1], "[trimmed]") {
		t.Errorf("long note stored with %d characters", n)
	}
}

func TestWriteWithoutRequestID(t *testing.T) {
	s := opsgenietest.NewT(t, opsgenietest.Options{OmitRequestID: true})
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	c := newClient(t, s, 1, "")
	for name, call := range map[string]func() error{
		"note": func() error { return c.AddNote(context.Background(), a.ID, "n") },
		"team": func() error { return c.AddTeam(context.Background(), a.ID, "t") },
	} {
		if err := call(); !errors.Is(err, ErrNoRequestID) {
			t.Errorf("%s: %v, want ErrNoRequestID", name, err)
		}
	}
}

func TestWrongKey(t *testing.T) {
	s := opsgenietest.NewT(t)
	c := newClient(t, s, 2, "not-the-key")
	_, err := c.List(context.Background(), "status: open")
	if StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("err %v, want 401", err)
	}
	if strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("error reveals the key: %v", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: a 401 is not retried", n)
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		failures int
		retries  int
		wantErr  int // status of the final error, 0 for success
		requests int
	}{
		{name: "429 then success", status: 429, failures: 1, retries: 2, requests: 2},
		{name: "503 then success", status: 503, failures: 1, retries: 1, requests: 2},
		{name: "500 beyond retries", status: 500, failures: 5, retries: 1, wantErr: 500, requests: 2},
		{name: "429 beyond retries", status: 429, failures: 5, retries: 1, wantErr: 429, requests: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := opsgenietest.NewT(t)
			s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
			c := newClient(t, s, tc.retries, "")
			s.FailNext(tc.failures, tc.status)
			got, err := c.List(context.Background(), "")
			if StatusCode(err) != tc.wantErr {
				t.Fatalf("err %v (status %d), want status %d", err, StatusCode(err), tc.wantErr)
			}
			if tc.wantErr == 0 && len(got) != 1 {
				t.Errorf("listed %d alerts, want 1", len(got))
			}
			if n := len(s.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestCallReturnsOnContextDone(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	s.SetLatency(3 * time.Second)
	c := newClient(t, s, 1, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, a.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want context.DeadlineExceeded", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := c.AddNote(cancelled, a.ID, "n"); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestBackoff(t *testing.T) {
	resp := func(status int, h ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	minW, maxW := time.Second, 30*time.Second
	cases := []struct {
		name    string
		attempt int
		resp    *http.Response
		want    time.Duration
	}{
		{name: "transport error doubles", attempt: 0, resp: nil, want: time.Second},
		{name: "second attempt", attempt: 1, resp: resp(500), want: 2 * time.Second},
		{name: "capped", attempt: 10, resp: resp(503), want: maxW},
		{name: "huge attempt does not overflow", attempt: 70, resp: resp(503), want: maxW},
		{name: "429 honours rate-limit period", attempt: 0, resp: resp(429, "X-RateLimit-Period-In-Sec", "5"), want: 5 * time.Second},
		{name: "429 period capped", attempt: 0, resp: resp(429, "X-RateLimit-Period-In-Sec", "60"), want: maxW},
		{name: "429 honours Retry-After first", attempt: 0, resp: resp(429, "Retry-After", "2", "X-RateLimit-Period-In-Sec", "60"), want: 2 * time.Second},
		{name: "429 without headers doubles", attempt: 2, resp: resp(429), want: 4 * time.Second},
		{name: "429 garbage header", attempt: 0, resp: resp(429, "X-RateLimit-Period-In-Sec", "soon"), want: time.Second},
		{name: "period on a 500 is ignored", attempt: 0, resp: resp(500, "X-RateLimit-Period-In-Sec", "9"), want: time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(minW, maxW, tc.attempt, tc.resp); got != tc.want {
				t.Errorf("backoff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "minimal", cfg: Config{APIKeyFile: "/k"}},
		{name: "local host", cfg: Config{APIKeyFile: "/k", APIURL: "127.0.0.1:9000"}},
		{name: "no key file", cfg: Config{}, want: []string{"og.api_key_file: required"}},
		{name: "EU host", cfg: Config{APIKeyFile: "/k", APIURL: HostEU}},
		{name: "with scheme", cfg: Config{APIKeyFile: "/k", APIURL: "https://og-proxy.example:8443"}},
		{name: "bad scheme", cfg: Config{APIKeyFile: "/k", APIURL: "ftp://api.opsgenie.com"}, want: []string{"og.api_url: scheme must be http or https"}},
		{name: "path", cfg: Config{APIKeyFile: "/k", APIURL: "https://api.opsgenie.com/v2"}, want: []string{"og.api_url: want scheme://host[:port] without path"}},
		{name: "bare host with path", cfg: Config{APIKeyFile: "/k", APIURL: "api.opsgenie.com/v2"}, want: []string{"og.api_url: want host[:port] or scheme://host[:port]"}},
		{name: "negative timeout", cfg: Config{APIKeyFile: "/k", Timeout: -1}, want: []string{"og.timeout: must not be negative"}},
		{name: "too many retries", cfg: Config{APIKeyFile: "/k", Retries: 11}, want: []string{"og.retries: must be 0..10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate("og.")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDo(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}, Tags: []string{"old", "keep"}})
	c := newClient(t, s, 1, "")
	ctx := context.Background()
	ops := []ticket.Op{
		{Kind: ticket.KindNote, Value: "restarted"},
		{Kind: ticket.KindAddTeam, Value: "ops_unix"},
		{Kind: ticket.KindAddTags, Values: []string{"alexis", "auto"}, Note: "tagged"},
		{Kind: ticket.KindRemoveTags, Values: []string{"old"}},
		{Kind: ticket.KindAcknowledge, Note: "on it"},
		{Kind: ticket.KindEscalate, Value: "db-escalation"},
		{Kind: ticket.KindAddResponder, Value: "user:jane@example.com"},
		{Kind: ticket.KindAddResponder, Value: "investigation"},
		{Kind: ticket.KindClose, Note: "closed by Alexis"},
	}
	for _, op := range ops {
		if !c.Supports(op.Kind) {
			t.Errorf("Supports(%q) = false", op.Kind)
		}
	}
	if errs := ticket.Apply(ctx, c, a.ID, ops); errs != nil {
		t.Fatalf("Apply: %v", errs)
	}
	got, _ := s.Alert(a.ID)
	if got.Status != "closed" || !got.Acknowledged || got.Report.ClosedBy != User || got.Report.AcknowledgedBy != User {
		t.Errorf("alert status %q acknowledged %v report %+v", got.Status, got.Acknowledged, got.Report)
	}
	if !slices.Equal(got.Tags, []string{"keep", "alexis", "auto"}) {
		t.Errorf("tags %q", got.Tags)
	}
	if !slices.Equal(got.Teams, []string{"incoming", "ops_unix", "investigation"}) {
		t.Errorf("teams %q", got.Teams)
	}
	if !slices.Equal(got.Users, []string{"jane@example.com"}) || !slices.Equal(got.Escalations, []string{"db-escalation"}) {
		t.Errorf("users %q escalations %q", got.Users, got.Escalations)
	}
	if notes := s.Notes(a.ID); !slices.Equal(notes, []string{"restarted", "tagged", "on it", "closed by Alexis"}) {
		t.Errorf("notes %q", notes)
	}
	for _, r := range s.Requests() {
		if r.Status != http.StatusAccepted {
			t.Errorf("%s %s answered %d, want 202", r.Method, r.Path, r.Status)
		}
	}
	if c.Supports("reboot") {
		t.Error("Supports an unknown kind")
	}
	if err := c.Do(ctx, a.ID, ticket.Op{Kind: ticket.KindEscalate}); err == nil || !strings.Contains(err.Error(), "escalation name is required") {
		t.Errorf("escalate without a name: %v", err)
	}
}

func TestDoChecksRequestID(t *testing.T) {
	s := opsgenietest.NewT(t, opsgenietest.Options{OmitRequestID: true})
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	c := newClient(t, s, 1, "")
	for _, op := range []ticket.Op{{Kind: "close"}, {Kind: "add_tags", Values: []string{"x"}}, {Kind: "escalate", Value: "e"}} {
		if err := c.Do(context.Background(), a.ID, op); !errors.Is(err, ErrNoRequestID) {
			t.Errorf("%s: %v, want ErrNoRequestID", op.Kind, err)
		}
	}
}

func TestDoRetriesRateLimit(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	c := newClient(t, s, 2, "")
	s.FailNext(1, http.StatusTooManyRequests)
	if err := c.Do(context.Background(), a.ID, ticket.Op{Kind: "close"}); err != nil {
		t.Fatalf("close after one 429: %v", err)
	}
	if got, _ := s.Alert(a.ID); got.Status != "closed" {
		t.Errorf("status %q", got.Status)
	}
}

// roundTripFunc records where requests go without sending them.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestEndpoint(t *testing.T) {
	cases := []struct {
		apiURL string
		want   string // scheme://host of the requests
	}{
		{apiURL: "", want: "https://api.opsgenie.com"},
		{apiURL: HostEU, want: "https://api.eu.opsgenie.com"},
		{apiURL: "og-proxy.example:8443", want: "https://og-proxy.example:8443"},
		{apiURL: "https://og-proxy.example", want: "https://og-proxy.example"},
		{apiURL: "http://10.1.2.3:9100", want: "http://10.1.2.3:9100"},
		{apiURL: "127.0.0.1:9100", want: "http://127.0.0.1:9100"},
		{apiURL: "localhost:9100", want: "http://localhost:9100"},
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("k\n"), 0o600)
	for _, tc := range cases {
		t.Run(tc.apiURL, func(t *testing.T) {
			var got string
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r.URL.Scheme + "://" + r.URL.Host
				return &http.Response{StatusCode: 401, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
			})
			c, err := build(Config{APIURL: tc.apiURL, APIKeyFile: keyFile, Retries: 1}, rt)
			if err != nil {
				t.Fatal(err)
			}
			c.List(context.Background(), "")
			if got != tc.want {
				t.Errorf("requests went to %q, want %q", got, tc.want)
			}
		})
	}
}
