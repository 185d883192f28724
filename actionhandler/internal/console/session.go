package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Cookie names. Both are HttpOnly, SameSite=Strict, Path=/console and
// Secure when the listener is TLS.
const (
	// SessionCookie holds a signed session (sessionData, HMAC-SHA256).
	SessionCookie = "alexis_session"
	// LoginCookie holds the nonce the login form's CSRF token is made of,
	// before any session exists.
	LoginCookie = "alexis_login"
)

// MinKeyLength is the shortest session key a session_key_file may hold.
const MinKeyLength = 32

// LoadKey reads a session key file: at least MinKeyLength bytes (surrounding
// white space trimmed).
func LoadKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("console.session_key_file: %w", err)
	}
	k := []byte(strings.TrimSpace(string(data)))
	if len(k) < MinKeyLength {
		return nil, fmt.Errorf("console.session_key_file: shorter than %d bytes", MinKeyLength)
	}
	return k, nil
}

// BindKey derives the key sessions are signed with from the session key
// and the content of the tokens file: a session stays valid only as long
// as the tokens it was granted under are unchanged. Removing or rotating
// a token in tokens_file (read at start) therefore ends every console
// session at the next start, also with a session_key_file shared by
// replicas; otherwise a stolen cookie would outlive its revoked token.
func BindKey(key, tokensFile []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("alexis console sessions\x00"))
	sum := sha256.Sum256(tokensFile)
	m.Write(sum[:])
	return m.Sum(nil)
}

// RandomKey is a per-process session key.
func RandomKey() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// sessionData is what the session cookie carries, signed: who logged in,
// with which scopes, until when. Nothing in it is secret (the token never
// is in it); the signature makes it unforgeable.
type sessionData struct {
	ID      string `json:"sid"` // random; the CSRF token and logout are tied to it
	Client  string `json:"c"`   // the token's name
	Scopes  string `json:"s"`   // its scopes at login
	Expires int64  `json:"exp"` // unix seconds
}

// sessions signs and checks session cookies and CSRF tokens.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	revoked map[string]int64 // logged-out session ids → their expiry
}

// maxRevoked bounds the logged-out sessions remembered (until they expire).
const maxRevoked = 10000

func (s *sessions) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// issue makes a new session's cookie value.
func (s *sessions) issue(client, scopes string) (string, sessionData) {
	d := sessionData{ID: randomHex(16), Client: client, Scopes: scopes, Expires: s.now().Add(s.ttl).Unix()}
	body, _ := json.Marshal(d)
	p := b64.EncodeToString(body)
	return "v1." + p + "." + b64.EncodeToString(s.mac("session", p)), d
}

var errSession = errors.New("no valid session")

// check verifies a cookie value: signed with our key, not expired, not
// logged out.
func (s *sessions) check(v string) (sessionData, error) {
	var d sessionData
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return d, errSession
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.mac("session", parts[1])) {
		return d, errSession
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(body, &d) != nil || d.ID == "" || d.Client == "" {
		return d, errSession
	}
	if s.now().Unix() >= d.Expires {
		return d, errSession
	}
	s.mu.Lock()
	_, gone := s.revoked[d.ID]
	s.mu.Unlock()
	if gone {
		return d, errSession
	}
	return d, nil
}

// revoke forgets a logged-out session in this process until it expires.
func (s *sessions) revoke(d sessionData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	if len(s.revoked) >= maxRevoked {
		for id, exp := range s.revoked {
			if exp <= now {
				delete(s.revoked, id)
			}
		}
	}
	if len(s.revoked) < maxRevoked {
		s.revoked[d.ID] = d.Expires
	}
}

// csrf is the CSRF token of a session.
func (s *sessions) csrf(d sessionData) string {
	return b64.EncodeToString(s.mac("csrf", d.ID))
}

// loginCSRF is the login form's CSRF token for a login cookie nonce.
func (s *sessions) loginCSRF(nonce string) string {
	return b64.EncodeToString(s.mac("login", nonce))
}

// validCSRF compares a submitted token with the expected one in constant
// time.
func validCSRF(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// limiter refuses login attempts from an address beyond Burst within
// Burst×Every (a token bucket per address). It remembers at most Max
// addresses; when they are all recent it refuses new ones rather than grow.
type limiter struct {
	Burst int
	Every time.Duration
	Max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Login rate limit defaults: 5 attempts at once, then one per 12 s, per
// client address.
const (
	LoginBurst     = 5
	LoginEvery     = 12 * time.Second
	LoginAddresses = 4096
)

func (l *limiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= l.Max {
			for a, o := range l.buckets {
				if l.fill(o, now) >= float64(l.Burst) {
					delete(l.buckets, a)
				}
			}
			if len(l.buckets) >= l.Max {
				return false
			}
		}
		b = &bucket{tokens: float64(l.Burst), at: now}
		l.buckets[addr] = b
	}
	b.tokens, b.at = l.fill(b, now), now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) fill(b *bucket, now time.Time) float64 {
	t := b.tokens + float64(now.Sub(b.at))/float64(l.Every)
	if t > float64(l.Burst) {
		t = float64(l.Burst)
	}
	return t
}

// clientAddr is the address a request came from (the peer, not a header a
// client can write).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
