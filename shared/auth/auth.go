// Package auth checks the bearer tokens every Alexis API requires and the
// scopes each endpoint needs.
//
// A service is given a token file (a Docker secret in production) with one
// named client token per line, optionally followed by the scopes it grants:
//
//	# name:token [scopes=SCOPE,SCOPE...]
//	poller:9f2c...
//	alice:4be1... scopes=read,act
//	alertmanager:77ab... scopes=classify:alertmanager
//
// A line without scopes= gets the service's default scopes (Defaults*).
// Requests carry "Authorization: Bearer <token>"; "?token=<token>" is also
// accepted for compatibility with the original Alexis. Tokens are compared
// in constant time and never logged.
//
// A request without a valid token answers 401; a valid token without the
// scope an endpoint needs answers 403 with the scope it lacks:
//
//	{"error": "token \"alice\" lacks scope \"adhoc\" ...", "missing_scope": "adhoc"}
package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/labstack/echo/v4"
)

// MinTokenLength is the shortest token accepted in a token file.
const MinTokenLength = 16

// clientKey and scopesKey are the echo context keys under which the client
// name and its scopes are stored.
const (
	clientKey = "alexis.client"
	scopesKey = "alexis.scopes"
)

// Tokens is a set of named client tokens.
type Tokens struct {
	entries []entry
}

type entry struct {
	name   string
	sum    [sha256.Size]byte
	scopes Scopes
}

// LoadTokens reads a token file; lines without scopes= get defaults.
func LoadTokens(path string, defaults Scopes) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	t, err := ParseTokens(data, defaults)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return t, nil
}

// ParseTokens parses token-file content ("name:token [scopes=a,b]" per
// line, # comments). The client name is what comes before the first colon;
// the token is the next word (it may hold colons, not white space); the only
// thing allowed after it is scopes=.
func ParseTokens(data []byte, defaults Scopes) (*Tokens, error) {
	t := &Tokens{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		fields := strings.Fields(rest)
		if !ok || name == "" || len(fields) == 0 {
			return nil, fmt.Errorf("line %d: want name:token [scopes=a,b]", n)
		}
		tok := fields[0]
		scopes := defaults
		switch {
		case len(tok) < MinTokenLength:
			return nil, fmt.Errorf("line %d (%s): token shorter than %d characters", n, name, MinTokenLength)
		case seen[name]:
			return nil, fmt.Errorf("line %d: client name %q appears twice", n, name)
		case len(fields) > 2:
			return nil, fmt.Errorf("line %d (%s): want name:token [scopes=a,b], got more words after the token", n, name)
		case len(fields) == 2:
			// Never echo the word: a token with a space in it would be
			// half printed.
			list, ok := strings.CutPrefix(fields[1], "scopes=")
			if !ok {
				return nil, fmt.Errorf("line %d (%s): want scopes=a,b after the token", n, name)
			}
			var err error
			if scopes, err = ParseScopes(list); err != nil {
				return nil, fmt.Errorf("line %d (%s): %w", n, name, err)
			}
		}
		seen[name] = true
		t.entries = append(t.entries, entry{name: name, sum: sha256.Sum256([]byte(tok)), scopes: scopes})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("no tokens")
	}
	return t, nil
}

// Lookup returns the client name owning token. Every entry is compared, in
// constant time, whatever matches, so timing reveals nothing.
func (t *Tokens) Lookup(token string) (string, bool) {
	e, ok := t.lookup(token)
	return e.name, ok
}

func (t *Tokens) lookup(token string) (entry, bool) {
	if token == "" {
		return entry{}, false
	}
	sum := sha256.Sum256([]byte(token))
	var got entry
	found := 0
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			got, found = e, 1
		}
	}
	return got, found == 1
}

// Middleware rejects requests without a valid token with 401 and a JSON
// error, and stores the client name and scopes for Client and Has. It
// checks no scope: Require does.
func Middleware(t *Tokens) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			e, ok := t.lookup(tokenOf(c.Request()))
			if !ok {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="alexis"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "missing or invalid token")
			}
			c.Set(clientKey, e.name)
			c.Set(scopesKey, e.scopes)
			return next(c)
		}
	}
}

// Require is Middleware plus a check that the token grants scope: 403 with
// missing_scope otherwise.
func Require(t *Tokens, scope Scope) echo.MiddlewareFunc {
	authn := Middleware(t)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return authn(func(c echo.Context) error {
			if !Has(c, scope) {
				return Forbidden(c, scope, "")
			}
			return next(c)
		})
	}
}

// Forbidden is the 403 answer for a request whose token lacks scope; why,
// when set, says what needed it.
func Forbidden(c echo.Context, scope Scope, why string) error {
	msg := fmt.Sprintf("token %q lacks scope %q", Client(c), scope)
	if why != "" {
		msg += ": " + why
	}
	return echo.NewHTTPError(http.StatusForbidden, api.Error{Error: msg, MissingScope: string(scope)})
}

// Client returns the authenticated client name of a request ("" if none).
func Client(c echo.Context) string {
	s, _ := c.Get(clientKey).(string)
	return s
}

// Has reports whether the request's token grants scope.
func Has(c echo.Context, scope Scope) bool {
	s, _ := c.Get(scopesKey).(Scopes)
	return s.Grants(scope)
}

// HasFeed reports whether the request's token may classify alerts of the
// feed named feed: scope classify (any feed), classify:FEED or admin.
func HasFeed(c echo.Context, feed string) bool {
	s, _ := c.Get(scopesKey).(Scopes)
	return s.GrantsFeed(feed)
}

func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}
