package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/labstack/echo/v4"
)

const good = "alice:0123456789abcdef0123\n# comment\n\npoller : fedcba9876543210fedc\n"

func TestParseTokens(t *testing.T) {
	for _, tc := range []struct {
		name, data, wantErr string
	}{
		{"valid", good, ""},
		{"no colon", "alice0123456789abcdef\n", "line 1: want name:token"},
		{"empty name", ":0123456789abcdef0123\n", "line 1: want name:token"},
		{"empty token", "alice:\n", "line 1: want name:token"},
		{"scopes", "alice:0123456789abcdef0123 scopes=read,act,classify:am\n", ""},
		{"unknown scope", "bob:fedcba9876543210fedc\nalice:0123456789abcdef0123 scopes=read,root\n", `line 2 (alice): unknown scope "root"`},
		{"empty scope", "alice:0123456789abcdef0123 scopes=\n", `line 1 (alice): unknown scope ""`},
		{"empty feed", "alice:0123456789abcdef0123 scopes=classify:\n", "line 1 (alice): scope classify: wants a feed"},
		{"word after token", "alice:0123456789abcdef0123 0123456789abcdef\n", "line 1 (alice): want scopes=a,b"},
		{"words after token", "alice:0123456789abcdef0123 x scopes=read\n", "line 1 (alice): want name:token [scopes=a,b], got more"},
		{"short token", "a:short\n", "shorter than 16"},
		{"duplicate", "a:0123456789abcdef0123\na:0123456789abcdef0124\n", "appears twice"},
		{"empty file", "# nothing\n", "no tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens([]byte(tc.data), DefaultsClassifier)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Fatalf("error reveals token: %v", err)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	toks, err := ParseTokens([]byte(good), DefaultsPoller)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.GET("/x", func(c echo.Context) error { return c.String(200, Client(c)) }, Middleware(toks))
	for _, tc := range []struct {
		name, header, query string
		status              int
		client              string
	}{
		{"bearer", "Bearer 0123456789abcdef0123", "", 200, "alice"},
		{"bearer lower-case scheme", "bearer fedcba9876543210fedc", "", 200, "poller"},
		{"query token", "", "0123456789abcdef0123", 200, "alice"},
		{"missing", "", "", 401, ""},
		{"wrong", "Bearer 0123456789abcdef0124", "", 401, ""},
		{"basic scheme", "Basic 0123456789abcdef0123", "", 401, ""},
		{"prefix of a token", "Bearer 0123456789abcdef", "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "/x"
			if tc.query != "" {
				url += "?token=" + tc.query
			}
			req := httptest.NewRequest(http.MethodGet, url, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 200 && rec.Body.String() != tc.client {
				t.Fatalf("client = %q, want %q", rec.Body.String(), tc.client)
			}
		})
	}
}

func TestScopesGrant(t *testing.T) {
	all := []Scope{ScopeClassify, ScopeAct, ScopeAdhoc, ScopeRead, ScopeRecord, ScopeApprove, ScopeMetrics, ScopeAdmin}
	for _, tc := range []struct {
		name, scopes string
		grants       []Scope // every other scope is refused
		feeds        map[string]bool
	}{
		{"read", "read", []Scope{ScopeRead}, map[string]bool{"am": false}},
		{"act", "act", []Scope{ScopeAct}, nil},
		{"adhoc grants act", "adhoc", []Scope{ScopeAdhoc, ScopeAct}, nil},
		{"metrics", "metrics", []Scope{ScopeMetrics}, nil},
		{"approve", "approve", []Scope{ScopeApprove}, nil},
		{"classify any feed", "classify", []Scope{ScopeClassify}, map[string]bool{"am": true, "og": true}},
		{"classify one feed", "classify:am", []Scope{ScopeClassify}, map[string]bool{"am": true, "og": false, "": false}},
		{"admin", "admin", all, map[string]bool{"am": true}},
		{"classifier default", DefaultsClassifier.String(), []Scope{ScopeClassify, ScopeRead}, nil},
		{"action handler default", DefaultsActionHandler.String(), []Scope{ScopeAct, ScopeRead}, nil},
		{"poller default", DefaultsPoller.String(), []Scope{ScopeRead}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseScopes(tc.scopes)
			if err != nil {
				t.Fatal(err)
			}
			for _, scope := range all {
				want := false
				for _, g := range tc.grants {
					want = want || g == scope
				}
				if got := s.Grants(scope); got != want {
					t.Errorf("Grants(%s) = %t, want %t", scope, got, want)
				}
			}
			for feed, want := range tc.feeds {
				if got := s.GrantsFeed(feed); got != want {
					t.Errorf("GrantsFeed(%q) = %t, want %t", feed, got, want)
				}
			}
		})
	}
}

func TestRequire(t *testing.T) {
	toks, err := ParseTokens([]byte("reader:0123456789abcdef0123 scopes=read\nactor:fedcba9876543210fedc scopes=act\n"), DefaultsPoller)
	if err != nil {
		t.Fatal(err)
	}
	h := Require(toks, ScopeAct)(func(c echo.Context) error { return c.String(200, Client(c)) })
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", 401},
		{"scope missing", "0123456789abcdef0123", 403},
		{"scope held", "fedcba9876543210fedc", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/x", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(req, rec)
			err := h(c)
			status := rec.Code
			var he *echo.HTTPError
			if errors.As(err, &he) {
				status = he.Code
			}
			if status != tc.status {
				t.Fatalf("status = %d, want %d (err %v)", status, tc.status, err)
			}
			if tc.status == 403 {
				ae, ok := he.Message.(api.Error)
				if !ok || ae.MissingScope != "act" || !strings.Contains(ae.Error, `token "reader" lacks scope "act"`) {
					t.Fatalf("403 message = %#v", he.Message)
				}
			}
		})
	}
}

func TestSignature(t *testing.T) {
	key, err := NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey([]byte("0123456789abcdef0123456789abcdeX"))
	now := time.Unix(1_767_225_600, 0)
	body := []byte(`{"rule":{"rule_name":"r"}}`)
	good := key.Sign(body, now)
	for _, tc := range []struct {
		name, header string
		body         []byte
		at           time.Time
		want         error
	}{
		{"valid", good, body, now, nil},
		{"valid a little later", good, body, now.Add(4 * time.Minute), nil},
		{"missing", "", body, now, ErrNoSignature},
		{"tampered body", good, []byte(`{"rule":{"rule_name":"s"}}`), now, ErrBadSignature},
		{"other key", other.Sign(body, now), body, now, ErrBadSignature},
		{"tampered time", strings.Replace(good, "t=1767225600", "t=1767225601", 1), body, now, ErrBadSignature},
		{"stale", good, body, now.Add(6 * time.Minute), ErrStale},
		{"from the future", key.Sign(body, now.Add(10*time.Minute)), body, now, ErrStale},
		{"no v1", "t=1767225600", body, now, ErrMalformed},
		{"not hex", "t=1767225600,v1=zz", body, now, ErrMalformed},
		{"twice v1", good + ",v1=00", body, now, ErrMalformed},
		{"junk", "hello", body, now, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := key.Verify(tc.header, tc.body, tc.at, DefaultMaxAge)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewKey([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if fmt.Sprint(key) != "<secret>" {
		t.Fatal("key printed")
	}
}

// FuzzParseTokens: any token file either loads or is refused with an
// error; a loaded one finds each of its lines' tokens under their name.
func FuzzParseTokens(f *testing.F) {
	for _, seed := range []string{good, "a:0123456789abcdef0123 scopes=read,classify:x\n", "a:b:c:0123456789abcdef0123\n",
		"x:0123456789abcdef0123 scopes=\n", "# c\n:\n", "a:0123456789abcdef0123 scopes=admin extra\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		toks, err := ParseTokens([]byte(data), DefaultsClassifier)
		if err != nil {
			return
		}
		for _, e := range toks.entries {
			if e.name == "" {
				t.Fatalf("empty client name loaded from %q", data)
			}
		}
	})
}
