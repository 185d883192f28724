package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/rs/zerolog"
)

const (
	readToken  = "reader-token-0123456789abcdef"
	actToken   = "metrics-token-0123456789abcdef"
	adminToken = "admin-token-0123456789abcdef"
)

var ctx = context.Background()

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t     testing.TB
	srv   *httptest.Server
	st    *store.SQL
	logs  *syncBuf
	h     *Handler
	clock *testClock
}

// testClock is the console's clock: it moves only when told (the rate
// limiter and sessions then never depend on how fast the machine is).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t testing.TB) *store.SQL {
	t.Helper()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "alexis.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	tokens, err := auth.ParseTokens([]byte("reader:"+readToken+"\nscraper:"+actToken+" scopes=metrics\nadmin:"+adminToken+" scopes=admin\n"),
		auth.DefaultsActionHandler)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: openStore(t), logs: &syncBuf{}, clock: &testClock{t: time.Now().UTC()}}
	log := zerolog.New(e.logs)
	o := Options{Store: e.st, Tokens: tokens, SessionKey: RandomKey(), Log: log, Now: e.clock.Now,
		TicketLinks: map[string]string{"OpsGenie": "https://acme.app.opsgenie.com/alert/detail/{alert_id}/details"}}
	if mod != nil {
		mod(&o)
	}
	e.h, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	ec := server.New(server.Options{Service: "actionhandler", Log: log, RouteBodyLimits: RouteBodyLimits})
	e.h.Register(ec)
	e.srv = httptest.NewServer(ec)
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser: a cookie jar, redirects not followed.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) post(c *http.Client, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// csrfOf is the CSRF token of a page's first form.
func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in %s", body)
	}
	return m[1]
}

func (e *env) tryLogin(c *http.Client, token string) (*http.Response, string) {
	e.t.Helper()
	_, body := e.get(c, "/console/login")
	return e.post(c, "/console/login", url.Values{"token": {token}, "csrf": {csrfOf(e.t, body)}}, nil)
}

func (e *env) login(token string) *http.Client {
	e.t.Helper()
	c := e.client()
	resp, body := e.tryLogin(c, token)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return c
}

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	t.Run("ok", func(t *testing.T) {
		c := e.client()
		resp, _ := e.tryLogin(c, readToken)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
			t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		var sc string
		for _, v := range resp.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, SessionCookie+"=") {
				sc = v
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"} {
			if !strings.Contains(sc, want) {
				t.Errorf("session cookie %q lacks %s", sc, want)
			}
		}
		if strings.Contains(sc, "Secure") {
			t.Errorf("session cookie %q: Secure on a plain listener", sc)
		}
		if strings.Contains(sc, readToken) {
			t.Errorf("session cookie holds the token")
		}
		resp, body := e.get(c, "/console/")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="timeline"`) || !strings.Contains(body, "reader") {
			t.Errorf("timeline after login: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		c := e.client()
		for _, tok := range []string{readToken + "x", "", "admin:" + adminToken} {
			resp, body := e.tryLogin(c, tok)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, wrongToken) {
				t.Errorf("token %q: %d %s", tok, resp.StatusCode, body)
			}
			if tok != "" && strings.Contains(body, tok) {
				t.Errorf("the page shows the token")
			}
		}
		resp, _ := e.get(c, "/console/")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
			t.Errorf("no session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("no read scope", func(t *testing.T) {
		resp, body := e.tryLogin(e.client(), actToken)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "lacks scope read") {
			t.Errorf("metrics-only token: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("next is local only", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.client()
		_, body := e.get(c, "/console/login?next=//evil.example/")
		resp, _ := e.post(c, "/console/login", url.Values{"token": {readToken}, "csrf": {csrfOf(t, body)},
			"next": {"//evil.example/"}}, nil)
		if loc := resp.Header.Get("Location"); loc != "/console/" {
			t.Errorf("redirected to %q", loc)
		}
		// Logged in, the login form sends you on.
		if resp, _ := e.get(c, "/console/login?next=/console/rules"); resp.Header.Get("Location") != "/console/rules" {
			t.Errorf("login form with a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		c = e.client()
		_, body = e.get(c, "/console/login")
		resp, _ = e.post(c, "/console/login", url.Values{"token": {readToken}, "csrf": {csrfOf(t, body)},
			"next": {"/console/hosts"}}, nil)
		if loc := resp.Header.Get("Location"); loc != "/console/hosts" {
			t.Errorf("redirected to %q", loc)
		}
	})
	for _, tok := range []string{readToken, actToken, adminToken} {
		if strings.Contains(e.logs.String(), tok) {
			t.Errorf("a token is in the logs")
		}
	}
	if !strings.Contains(e.logs.String(), `"event":"console_login_refused"`) || !strings.Contains(e.logs.String(), `"event":"console_login"`) {
		t.Errorf("logs lack the login events: %s", e.logs.String())
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	for i := 0; i < LoginBurst; i++ {
		if resp, _ := e.tryLogin(c, "wrong-token-0123456789"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	resp, _ := e.tryLogin(c, readToken)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("attempt past the burst: %d", resp.StatusCode)
	}
	e.clock.Add(LoginEvery)
	if resp, _ := e.tryLogin(c, readToken); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after waiting: %d", resp.StatusCode)
	}
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Secure = true })
	resp, _ := e.tryLogin(e.client(), readToken)
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie {
			found = true
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %+v", ck)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie")
	}
}

func TestSessionExpiresAndLogout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionTTL = time.Hour })
	c := e.login(readToken)
	if resp, _ := e.get(c, "/console/hosts"); resp.StatusCode != http.StatusOK {
		t.Fatalf("hosts: %d", resp.StatusCode)
	}
	e.clock.Add(time.Hour + time.Second)
	if resp, _ := e.get(c, "/console/hosts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: %d", resp.StatusCode)
	}

	c = e.login(readToken)
	_, body := e.get(c, "/console/")
	stolen := ""
	u, _ := url.Parse(e.srv.URL + "/console/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == SessionCookie {
			stolen = ck.Value
		}
	}
	if resp, _ := e.post(c, "/console/logout", url.Values{"csrf": {csrfOf(t, body)}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := e.get(c, "/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
	// The cookie value kept from before the logout no longer works here.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: stolen})
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logged-out cookie replayed: %d", resp.StatusCode)
	}
	// A forged cookie (scopes edited) is refused.
	parts := strings.Split(stolen, ".")
	forged := parts[0] + "." + b64.EncodeToString([]byte(`{"sid":"x","c":"admin","s":"admin","exp":9999999999}`)) + "." + parts[2]
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/console/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: forged})
	resp, err = e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged cookie: %d", resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(readToken)
	_, body := e.get(c, "/console/rules")
	token := csrfOf(t, body)
	env := `{"alexis":{"feed_type":"OpsGenie","unique_value":"u1"},"id":"a1"}`
	cases := []struct {
		name string
		path string
		form url.Values
		hdr  map[string]string
	}{
		{"explain without token", "/console/explain", url.Values{"envelope": {env}}, nil},
		{"explain with a wrong token", "/console/explain", url.Values{"envelope": {env}, "csrf": {token + "x"}}, nil},
		{"explain cross-site origin", "/console/explain", url.Values{"envelope": {env}, "csrf": {token}},
			map[string]string{"Origin": "https://evil.example"}},
		{"explain null origin", "/console/explain", url.Values{"envelope": {env}, "csrf": {token}},
			map[string]string{"Origin": "null"}},
		{"explain sec-fetch-site cross-site", "/console/explain", url.Values{"envelope": {env}, "csrf": {token}},
			map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"logout without token", "/console/logout", url.Values{}, nil},
		{"login cross-site", "/console/login", url.Values{"token": {readToken}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.post(c, tc.path, tc.form, tc.hdr)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("form over the body limit", func(t *testing.T) {
		big := strings.Repeat("x", server.DefaultBodyLimit)
		resp, _ := e.post(c, "/console/explain", url.Values{"envelope": {big}, "csrf": {token}}, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("login without its cookie", func(t *testing.T) {
		fresh := e.client()
		_, body := e.get(e.client(), "/console/login") // another browser's form
		resp, _ := e.post(fresh, "/console/login", url.Values{"token": {readToken}, "csrf": {csrfOf(t, body)}}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("null origin from a same-origin form passes", func(t *testing.T) {
		// Chromium under Referrer-Policy: no-referrer.
		resp, body := e.post(c, "/console/explain", url.Values{"envelope": {env}, "csrf": {token}},
			map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"})
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("same origin with token passes", func(t *testing.T) {
		resp, body := e.post(c, "/console/explain", url.Values{"envelope": {env}, "csrf": {token}},
			map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"})
		// No classifier configured: the form is accepted and says so.
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "No classifier is configured") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	if resp, _ := e.get(c, "/console/"); resp.StatusCode != http.StatusOK {
		t.Errorf("session lost: %d", resp.StatusCode)
	}
}

func TestHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(readToken)
	for _, p := range []string{"/console/login", "/console/", "/console/rules", "/console/rules/x", "/console/explain",
		"/console/hosts", "/console/hosts/web01", "/console/reports", "/console/reports.csv", "/console/alerts/nope",
		"/console/nowhere", "/console/static/console.css", "/console/static/console.js", "/console/static/svgchart.css",
		"/console/?outcome=bogus"} {
		resp, _ := e.get(c, p)
		h := resp.Header
		if h.Get("Content-Security-Policy") != ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: %d, headers %v", p, resp.StatusCode, h)
		}
		if !strings.HasPrefix(p, "/console/static/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, h.Get("Cache-Control"))
		}
	}
	if resp, _ := e.get(c, "/console"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := e.get(e.client(), "/console/static/console.js"); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("script: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestNoInlineScriptOrStyle(t *testing.T) {
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	inline := regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	for _, en := range entries {
		b, _ := templateFS.ReadFile("templates/" + en.Name())
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: inline script or style %q", en.Name(), m)
		}
	}
}

// seed records n decisions, one a minute back from now, alternately
// matched (with an execution) and unmatched.
func seedExecution(t *testing.T, s *store.SQL, id, rule string, status string, steps ...store.Step) {
	t.Helper()
	x := &store.Execution{ID: id, AlertID: "a-" + id, UniqueValue: "u", FeedType: "OpsGenie", RuleName: rule,
		Client: "classifier", Request: []byte(`{}`), Entities: []string{"web01"}}
	if _, _, err := s.Create(ctx, x, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, "owner", time.Minute, nil)
	if err != nil || got == nil || got.ID != id {
		t.Fatalf("claim: %v %v", got, err)
	}
	if err := s.Finish(ctx, id, "owner", status, "", steps...); err != nil {
		t.Fatal(err)
	}
}

func decision(id string, at time.Time, result string) api.Decision {
	return api.Decision{ID: id, ReceivedAt: at, FeedType: "OpsGenie", FeedName: "incoming", AlertID: "alert-" + id,
		UniqueValue: "u-" + id, Summary: "disk full on " + id, Result: result, RulesChecked: 1}
}

func TestTimeline(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	var ds []api.Decision
	for i := 0; i < 60; i++ {
		d := decision(fmt.Sprintf("d%02d", i), now.Add(-time.Duration(60-i)*time.Minute-30*time.Second), api.ResultUnmatched)
		ds = append(ds, d)
	}
	seedExecution(t, e.st, "x1", "disk-full", store.Success)
	ds[59].Result, ds[59].Matched = api.ResultMatched, []api.MatchedAction{{RuleName: "disk-full", ExecutionID: "x1", Status: "accepted"}}
	ds[58].FeedType = "Dynatrace"
	if err := e.st.RecordDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	c := e.login(readToken)

	_, body := e.get(c, "/console/")
	if n := strings.Count(body, `<tr class="decision"`); n != pageSize {
		t.Errorf("first page: %d rows", n)
	}
	if i, j := strings.Index(body, `data-id="d59"`), strings.Index(body, `data-id="d58"`); i < 0 || j < i {
		t.Errorf("not newest first")
	}
	for _, want := range []string{`<span class="chip chip-matched">matched</span>`, `<span class="chip chip-success">success</span>`,
		`href="/console/hosts/web01"`, `href="https://acme.app.opsgenie.com/alert/detail/alert-d59/details"`, `id="older"`,
		`data-live-url="/console/timeline/rows?"`} {
		if !strings.Contains(body, want) {
			t.Errorf("timeline lacks %s", want)
		}
	}
	older := regexp.MustCompile(`id="older" href="([^"]+)"`).FindStringSubmatch(body)
	if older == nil {
		t.Fatal("no older link")
	}
	_, body = e.get(c, strings.ReplaceAll(older[1], "&amp;", "&"))
	if n := strings.Count(body, `<tr class="decision"`); n != 10 || !strings.Contains(body, `data-id="d00"`) ||
		strings.Contains(body, `data-live-url`) {
		t.Errorf("second page: %d rows", n)
	}

	cases := []struct {
		query string
		want  []string
	}{
		{"feed=Dynatrace", []string{"d58"}},
		{"outcome=success", []string{"d59"}},
		{"outcome=matched&rule=disk-full&host=WEB01", []string{"d59"}},
		{"q=ON+D07", []string{"d07"}},
		{"range=1h&q=d0", []string{"d01", "d02", "d03", "d04", "d05", "d06", "d07", "d08", "d09"}},
	}
	for _, tc := range cases {
		_, body := e.get(c, "/console/?"+tc.query)
		got := regexp.MustCompile(`<tr class="decision" data-id="([^"]+)"`).FindAllStringSubmatch(body, -1)
		var ids []string
		for _, m := range got {
			ids = append(ids, m[1])
		}
		if strings.Join(ids, ",") != strings.Join(reverse(tc.want), ",") {
			t.Errorf("%s: got %v, want %v", tc.query, ids, reverse(tc.want))
		}
	}
	for _, q := range []string{"outcome=bogus", "range=2d", "since=yesterday", "q=" + strings.Repeat("x", 300), "cursor=zz"} {
		if resp, body := e.get(c, "/console/?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestLiveRows(t *testing.T) {
	e := newEnv(t, nil)
	now := time.Now().UTC().Truncate(time.Second)
	if err := e.st.RecordDecisions(ctx, []api.Decision{decision("a1", now.Add(-time.Minute), api.ResultUnmatched),
		decision("a2", now, api.ResultUnmatched)}); err != nil {
		t.Fatal(err)
	}
	c := e.login(readToken)
	after := url.Values{"after": {now.Format(time.RFC3339Nano)}, "after_id": {"a2"}}
	resp, body := e.get(c, "/console/timeline/rows?"+after.Encode())
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "<tr") {
		t.Fatalf("nothing new: %d %q", resp.StatusCode, body)
	}
	if err := e.st.RecordDecisions(ctx, []api.Decision{decision("a3", now, api.ResultUnmatched),
		decision("a4", now.Add(time.Second), api.ResultDeferred)}); err != nil {
		t.Fatal(err)
	}
	resp, body = e.get(c, "/console/timeline/rows?"+after.Encode())
	ids := regexp.MustCompile(`data-id="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(ids) != 2 || ids[0][1] != "a4" || ids[1][1] != "a3" {
		t.Errorf("new rows: %v", ids)
	}
	after.Set("outcome", "deferred")
	_, body = e.get(c, "/console/timeline/rows?"+after.Encode())
	if strings.Count(body, "<tr") != 1 {
		t.Errorf("filtered live rows: %s", body)
	}
	if resp.Header.Get(MoreHeader) != "" {
		t.Errorf("%s set with two new rows", MoreHeader)
	}
	var many []api.Decision
	for i := 0; i < maxLiveRows+1; i++ {
		many = append(many, decision(fmt.Sprintf("m%03d", i), now.Add(time.Minute), api.ResultUnmatched))
	}
	if err := e.st.RecordDecisions(ctx, many); err != nil {
		t.Fatal(err)
	}
	after.Del("outcome")
	resp, body = e.get(c, "/console/timeline/rows?"+after.Encode())
	if resp.Header.Get(MoreHeader) != "true" || strings.Count(body, "<tr") != maxLiveRows {
		t.Errorf("more new rows than one update: %s %q, %d rows", MoreHeader, resp.Header.Get(MoreHeader), strings.Count(body, "<tr"))
	}
	if resp, _ := e.get(c, "/console/timeline/rows"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("without after: %d", resp.StatusCode)
	}
	if resp, _ := e.get(e.client(), "/console/timeline/rows?"+after.Encode()); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a session: %d", resp.StatusCode)
	}
}

func TestAlertPage(t *testing.T) {
	e := newEnv(t, nil)
	start := time.Now().UTC().Add(-time.Minute)
	seedExecution(t, e.st, "x1", "disk-full", store.Failure, store.Step{TaskIndex: 0, Entity: "web01", TaskType: "remote_ssh",
		Command: `df -h /var && echo "<b>done</b>"`, Status: store.Failure, ExitCode: 3, Stdout: "<script>alert(1)</script> 95% used",
		Stderr: "rm: cannot remove", StartedAt: start, FinishedAt: start.Add(1500 * time.Millisecond)})
	d := decision("d1", start.Add(-time.Second), api.ResultMatched)
	d.Summary = `<script>alert("summary")</script>`
	d.Payload = json.RawMessage(`{"alexis":{"feed_type":"OpsGenie"},"message":"<img src=x onerror=alert(1)>"}`)
	d.Rules = []api.DecisionRule{{File: "disk.json", RuleName: "disk-full", Status: "matched"},
		{File: "cpu.json", RuleName: "cpu", Status: "not_matched", RulePath: "evaluation_list[0]", AlertPath: "message",
			Op: "contains", Expected: `"cpu"`, Actual: `"disk <full>"`}}
	d.Matched = []api.MatchedAction{{RuleName: "disk-full", ExecutionID: "x1", Status: "accepted"}}
	earlier := decision("d0", start.Add(-time.Hour), api.ResultDeferred)
	earlier.AlertID = d.AlertID
	if err := e.st.RecordDecisions(ctx, []api.Decision{earlier, d}); err != nil {
		t.Fatal(err)
	}
	c := e.login(readToken)
	resp, body := e.get(c, "/console/alerts/d1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`id="received"`, `id="classification"`, `id="execution-x1"`, `id="ticket"`, `id="related"`, `id="payload"`,
		`<pre class="command">df -h /var &amp;&amp; echo &#34;&lt;b&gt;done&lt;/b&gt;&#34;</pre>`,
		`<pre class="stdout">&lt;script&gt;alert(1)&lt;/script&gt; 95% used</pre>`,
		`<pre class="stderr">rm: cannot remove</pre>`, `<dd class="exit-code">3</dd>`, "1.5s",
		`&lt;script&gt;alert(&#34;summary&#34;)&lt;/script&gt;`, `&lt;img src=x onerror=alert(1)&gt;`,
		`<code>evaluation_list[0]</code>`, `<code>&#34;disk &lt;full&gt;&#34;</code>`,
		`href="/console/alerts/d0"`, `href="https://acme.app.opsgenie.com/alert/detail/alert-d1/details"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("alert page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Errorf("unescaped alert text on the page")
	}
	if resp, _ := e.get(c, "/console/alerts/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown decision: %d", resp.StatusCode)
	}
}

func TestTicketURL(t *testing.T) {
	h := &Handler{o: Options{TicketLinks: map[string]string{
		"OpsGenie":  "https://acme.app.opsgenie.com/alert/detail/{alert_id}/details",
		"Dynatrace": "javascript:alert('{alert_id}')",
		"Webhook":   "https://t.example/?id={alert_id}&x=1",
	}}}
	cases := []struct{ feed, id, want string }{
		{"OpsGenie", "abc-1", "https://acme.app.opsgenie.com/alert/detail/abc-1/details"},
		{"opsgenie", "a/b?c#d", "https://acme.app.opsgenie.com/alert/detail/a%2Fb%3Fc%23d/details"},
		{"Webhook", "1&admin=true", "https://t.example/?id=1%26admin%3Dtrue&x=1"},
		{"Dynatrace", "x", ""},
		{"Alertmanager", "x", ""},
		{"OpsGenie", "", ""},
	}
	for _, tc := range cases {
		if got := h.ticketURL(tc.feed, tc.id); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.feed, tc.id, got, tc.want)
		}
	}
	for tpl, ok := range map[string]bool{"https://x.example/{alert_id}": true, "http://x.example/a?id={alert_id}": true,
		"ftp://x.example/{alert_id}": false, "https://x.example/": false, "/relative/{alert_id}": false,
		"https://user:pw@x.example/{alert_id}": false, "javascript:{alert_id}": false} {
		if ValidTicketLink(tpl) != ok {
			t.Errorf("ValidTicketLink(%q) = %v", tpl, !ok)
		}
	}
}

// classifierDouble serves the classifier's two rule endpoints as
// documented (classifier/internal/httpapi), checking the bearer token.
func classifierDouble(t *testing.T, token string) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var bodies []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/rules", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"rules":[{"file":"disk.json","rule_name":"disk-full","rule_version":"3","enabled":true,"status":"ok","errors":[]},
{"file":"bad.json","rule_name":"bad<rule>","enabled":false,"status":"invalid","errors":[{"path":"task_list","message":"required"}]}]}`)
	})
	mux.HandleFunc("POST /v1/rules/explain", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		io.WriteString(w, `{"unique_value":"u1","feed_type":"OpsGenie","now":"2025-03-01T12:00:00Z","result":"unmatched","rules":[
{"file":"disk.json","rule_name":"disk-full","status":"not_matched","failure":{"rule_path":"evaluation_list[1]","alert_path":"message","op":"contains","expected":"\"disk\"","actual":"\"<cpu> high\""}},
{"file":"bad.json","rule_name":"bad","status":"invalid","errors":[{"path":"task_list","message":"required"}]}]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func TestRulesAndExplain(t *testing.T) {
	csrv, bodies := classifierDouble(t, "classifier-token-0123456789")
	cl, err := NewClassifier(ClassifierOptions{URL: csrv.URL, Token: sconfig.NewSecret("classifier-token-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := newEnv(t, func(o *Options) { o.Classifier, o.RulesDir = cl, dir })
	writeRule(t, dir)
	d := decision("d1", time.Now().UTC().Add(-time.Minute), api.ResultMatched)
	d.Matched = []api.MatchedAction{{RuleName: "disk-full", Status: "accepted"}}
	d.Payload = json.RawMessage(`{"alexis":{"feed_type":"OpsGenie","unique_value":"u1"},"id":"a1","message":"recorded"}`)
	if err := e.st.RecordDecisions(ctx, []api.Decision{d}); err != nil {
		t.Fatal(err)
	}
	c := e.login(readToken)
	_, body := e.get(c, "/console/rules")
	for _, want := range []string{`id="rules"`, `href="/console/rules/disk-full"`, "bad&lt;rule&gt;", `<code>task_list</code>: required`,
		`<span class="chip chip-invalid">invalid</span>`, `id="explain-form"`} {
		if !strings.Contains(body, want) {
			t.Errorf("rules page lacks %s", want)
		}
	}
	if !regexp.MustCompile(`disk-full</a></td>\s*<td>disk.json.*\s*.*\s*<td>yes</td>\s*<td>1</td>`).MatchString(body) {
		t.Errorf("rules page: disk-full's hits not shown: %s", body)
	}
	_, body = e.get(c, "/console/rules/disk-full")
	if !strings.Contains(body, `&#34;rule_name&#34;: &#34;disk-full&#34;`) {
		t.Errorf("rule page lacks the rule's JSON: %s", body)
	}

	token := csrfOf(t, body)
	resp, body := e.post(c, "/console/explain", url.Values{"csrf": {token},
		"envelope": {`{"alexis":{"feed_type":"OpsGenie","unique_value":"u1"},"id":"a1","message":"pasted"}`}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("explain: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{`id="explain-result"`, `<span class="chip chip-unmatched">unmatched</span>`,
		`<code>evaluation_list[1]</code>`, `<code>&#34;&lt;cpu&gt; high&#34;</code>`, `<code>task_list</code>: required`} {
		if !strings.Contains(body, want) {
			t.Errorf("explain lacks %s", want)
		}
	}
	resp, body = e.post(c, "/console/explain", url.Values{"csrf": {token}, "decision": {"d1"}}, nil)
	if resp.StatusCode != http.StatusOK || len(*bodies) != 2 || !strings.Contains((*bodies)[1], "recorded") {
		t.Errorf("explain a recorded decision: %d %v", resp.StatusCode, *bodies)
	}
	for _, tc := range []struct {
		form url.Values
		code int
	}{
		{url.Values{"envelope": {"not json"}}, http.StatusBadRequest},
		{url.Values{}, http.StatusBadRequest},
		{url.Values{"decision": {"nope"}}, http.StatusNotFound},
	} {
		tc.form.Set("csrf", token)
		if resp, body := e.post(c, "/console/explain", tc.form, nil); resp.StatusCode != tc.code {
			t.Errorf("%v: %d %s", tc.form, resp.StatusCode, body)
		}
	}

	csrv.Close()
	resp, body = e.get(c, "/console/rules")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="classifier-error"`) ||
		!strings.Contains(body, `href="/console/rules/disk-full"`) {
		t.Errorf("classifier down: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(e.logs.String(), "classifier-token-0123456789") {
		t.Errorf("the classifier token is in the logs")
	}
}

func writeRule(t *testing.T, dir string) {
	t.Helper()
	r := `{"enabled": "true", "os_type": "linux", "rule_name": "disk-full", "rule_version": "3", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["disk"], "search_key": "description", "search_text": "disk full", "duration": "0m", "task_type": "run_command"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "df -h", "action": "check_disk"}}],
 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"], "route_to_team": "ops", "delay_escalation": "20m"}`
	if err := writeFile(filepath.Join(dir, "disk.json"), r); err != nil {
		t.Fatal(err)
	}
}

func TestHostsAndReports(t *testing.T) {
	e := newEnv(t, nil)
	seedExecution(t, e.st, "x1", "=cmd|' /C calc'!A0", store.Success)
	seedExecution(t, e.st, "x2", "disk, \"full\"", store.Failure)
	e.clock.Add(time.Minute) // the reports' range ends at the console's now
	c := e.login(readToken)
	_, body := e.get(c, "/console/hosts")
	if !strings.Contains(body, `href="/console/hosts/web01"`) {
		t.Errorf("hosts page: %s", body)
	}
	_, body = e.get(c, "/console/hosts/web01")
	if strings.Count(body, "chip-success") != 1 || strings.Count(body, "chip-failure") != 1 {
		t.Errorf("host page: %s", body)
	}
	resp, body := e.get(c, "/console/reports?range=24h")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="report-rules"`) || !strings.Contains(body, "<svg") {
		t.Errorf("reports: %d %s", resp.StatusCode, body)
	}
	resp, body = e.get(c, "/console/reports.csv?range=24h")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d", resp.StatusCode)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v\n%s", err, body)
	}
	names := map[string]bool{}
	for _, r := range recs[1:] {
		names[r[1]] = true
	}
	if !names[`'=cmd|' /C calc'!A0`] || !names[`disk, "full"`] {
		t.Errorf("csv rule names: %v\n%s", names, body)
	}
	for _, q := range []string{"range=1y", "range=custom", "range=custom&since=2025-03-02&until=2025-03-01",
		"range=custom&since=2020-01-01&until=2025-01-01"} {
		if resp, _ := e.get(c, "/console/reports?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
}

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+x": "'+x", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"\t=x": "'\t=x", "disk-full": "disk-full", "": "", "12": "12"} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}
