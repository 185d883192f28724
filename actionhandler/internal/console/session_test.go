package console

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func FuzzSessionCookie(f *testing.F) {
	s := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour, now: time.Now, revoked: map[string]int64{}}
	good, _ := s.issue("alice", "read")
	f.Add(good)
	f.Add("v1..")
	f.Add("v1." + strings.Repeat("A", 100) + ".x")
	f.Fuzz(func(t *testing.T, v string) {
		d, err := s.check(v)
		if err == nil && v != good {
			// Only a value signed with the key passes: the fuzzer cannot
			// forge one, so any other accepted value must decode to the
			// same session (base64 with equivalent trailing bits).
			if d.Client != "alice" || d.Scopes != "read" {
				t.Fatalf("forged session accepted: %q → %+v", v, d)
			}
		}
	})
}

func TestSessionKeyMatters(t *testing.T) {
	a := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour, now: time.Now, revoked: map[string]int64{}}
	b := &sessions{key: []byte("fedcba9876543210fedcba9876543210"), ttl: time.Hour, now: time.Now, revoked: map[string]int64{}}
	v, d := a.issue("alice", "read")
	if _, err := a.check(v); err != nil {
		t.Fatalf("own session refused: %v", err)
	}
	if _, err := b.check(v); err == nil {
		t.Error("a session signed with another key accepted")
	}
	if a.csrf(d) == b.csrf(d) || validCSRF(b.csrf(d), a.csrf(d)) {
		t.Error("CSRF tokens do not depend on the key")
	}
	_, d2 := a.issue("alice", "read")
	if a.csrf(d) == a.csrf(d2) {
		t.Error("two sessions share a CSRF token")
	}
}

func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &limiter{Burst: 2, Every: time.Minute, Max: 3, now: func() time.Time { return now }, buckets: map[string]*bucket{}}
	for _, a := range []string{"a", "b", "c"} {
		if !l.allow(a) {
			t.Fatalf("%s refused", a)
		}
	}
	if l.allow("d") {
		t.Error("a fourth address was tracked past Max while the others are recent")
	}
	if !l.allow("a") || l.allow("a") {
		t.Error("burst of 2 not applied")
	}
	now = now.Add(2 * time.Minute) // every bucket full again: forgettable
	if !l.allow("d") {
		t.Error("a new address refused after the others refilled")
	}
	if len(l.buckets) > 3 {
		t.Errorf("%d addresses tracked", len(l.buckets))
	}
}

// A session signed under a key bound to one tokens file is refused once
// the tokens file changed (a token rotated or removed), even with the same
// session key: a stolen cookie does not outlive its revoked token.
func TestSessionEndsWhenTokensChange(t *testing.T) {
	key := RandomKey()
	before := []byte("reader:" + readToken + "\n")
	after := []byte("reader:" + readToken + "-rotated\n")
	first := newEnv(t, func(o *Options) { o.SessionKey = BindKey(key, before) })
	c := first.login(readToken)
	u, _ := url.Parse(first.srv.URL + "/console/")
	var cookie *http.Cookie
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == SessionCookie {
			cookie = k
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	for _, tc := range []struct {
		name   string
		tokens []byte
		ok     bool
	}{
		{"same tokens", before, true},
		{"tokens changed", after, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.SessionKey = BindKey(key, tc.tokens) })
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/", nil)
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie.Value})
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := strings.Contains(string(body), `id="timeline"`); got != tc.ok || (tc.ok && resp.StatusCode != http.StatusOK) {
				t.Errorf("status %d, timeline shown %v, want %v", resp.StatusCode, got, tc.ok)
			}
		})
	}
}
