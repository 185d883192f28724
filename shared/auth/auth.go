// Package auth checks the bearer tokens every Alexis API requires.
//
// A service is given a token file (a Docker secret in production) with one
// named client token per line:
//
//	# name:token
//	poller:9f2c...
//	alice:4be1...
//
// Requests carry "Authorization: Bearer <token>"; "?token=<token>" is also
// accepted for compatibility with the original Alexis. Tokens are compared
// in constant time and never logged.
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

	"github.com/labstack/echo/v4"
)

// MinTokenLength is the shortest token accepted in a token file.
const MinTokenLength = 16

// clientKey is the echo context key under which the client name is stored.
const clientKey = "alexis.client"

// Tokens is a set of named client tokens.
type Tokens struct {
	entries []entry
}

type entry struct {
	name string
	sum  [sha256.Size]byte
}

// LoadTokens reads a token file.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	t, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return t, nil
}

// ParseTokens parses token-file content ("name:token" per line, # comments).
func ParseTokens(data []byte) (*Tokens, error) {
	t := &Tokens{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, tok, ok := strings.Cut(line, ":")
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("line %d: want name:token", n)
		case len(tok) < MinTokenLength:
			return nil, fmt.Errorf("line %d (%s): token shorter than %d characters", n, name, MinTokenLength)
		case seen[name]:
			return nil, fmt.Errorf("line %d: client name %q appears twice", n, name)
		}
		seen[name] = true
		t.entries = append(t.entries, entry{name: name, sum: sha256.Sum256([]byte(tok))})
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
	if token == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	name, found := "", 0
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			name, found = e.name, 1
		}
	}
	return name, found == 1
}

// Middleware rejects requests without a valid token with 401 and a JSON
// error, and stores the client name for Client.
func Middleware(t *Tokens) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			name, ok := t.Lookup(tokenOf(c.Request()))
			if !ok {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="alexis"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "missing or invalid token")
			}
			c.Set(clientKey, name)
			return next(c)
		}
	}
}

// Client returns the authenticated client name of a request ("" if none).
func Client(c echo.Context) string {
	s, _ := c.Get(clientKey).(string)
	return s
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
