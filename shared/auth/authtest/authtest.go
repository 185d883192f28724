// Package authtest checks a service's routes against the scopes they must
// require: every route × every scope (the scope matrix).
package authtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/labstack/echo/v4"
)

// Feed is the feed the "classify:FEED" token of TokenFile is limited to.
const Feed = "matrixfeed"

// Token returns the token of the matrix client holding scope (a name from
// auth.AllScopes or "classify:"+Feed).
func Token(scope string) string {
	return "matrix-token-" + strings.ReplaceAll(scope, ":", "-") + "-0123456789"
}

// Scopes are the scopes the matrix tries: every scope, and classify:Feed.
func Scopes() []string {
	out := []string{}
	for _, s := range auth.AllScopes {
		out = append(out, string(s))
	}
	return append(out, string(auth.ScopeClassify)+":"+Feed)
}

// TokenFile is token-file content with one client per scope (named after
// it), for building the service under test.
func TokenFile() string {
	var b strings.Builder
	for _, s := range Scopes() {
		b.WriteString(strings.ReplaceAll(s, ":", "-") + ":" + Token(s) + " scopes=" + s + "\n")
	}
	return b.String()
}

// grants is the matrix's own statement of which token scope opens an
// endpoint requiring need (not auth.Scopes.Grants, which it checks).
func grants(have string, need auth.Scope) bool {
	switch {
	case have == string(need), have == string(auth.ScopeAdmin):
		return true
	case have == string(auth.ScopeAdhoc):
		return need == auth.ScopeAct
	case have == string(auth.ScopeClassify)+":"+Feed:
		return need == auth.ScopeClassify // the handler then checks the feed
	}
	return false
}

// Matrix checks that e's routes are exactly those of want ("METHOD /path"
// → the scope it requires; /v1/ping, which needs no token, is left out),
// so a new route without an entry fails; then, for every route, that a
// request without a token answers 401, and that each matrix token (made by
// TokenFile) answers 403 naming the missing scope when its scope does not
// grant the route's, and gets past authorization when it does.
func Matrix(t *testing.T, e *echo.Echo, want map[string]auth.Scope) {
	t.Helper()
	got := map[string]bool{}
	for _, r := range e.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
		default:
			continue // echo's internal not-found routes
		}
		if r.Path == "/v1/ping" {
			continue
		}
		got[r.Method+" "+r.Path] = true
	}
	var routes []string
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("route %s has no entry in the scope matrix: give it a scope (auth.Require) and add it to the table and the README", k)
		}
		routes = append(routes, k)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("scope matrix lists %s, which the service does not serve", k)
		}
	}
	sort.Strings(routes)
	for _, route := range routes {
		need, ok := want[route]
		if !ok {
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		path = fill(path)
		t.Run(route+"/no token", func(t *testing.T) {
			if code, _ := do(e, method, path, ""); code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", code)
			}
		})
		for _, have := range Scopes() {
			t.Run(route+"/"+have, func(t *testing.T) {
				code, body := do(e, method, path, Token(have))
				var ae api.Error
				if grants(have, need) {
					// Past the route's check; the handler may still refuse
					// for another scope (e.g. adhoc for an unsigned action).
					_ = json.Unmarshal(body, &ae)
					if code == http.StatusUnauthorized || (code == http.StatusForbidden && ae.MissingScope == string(need)) {
						t.Fatalf("scope %s refused on %s (needs %s): %d %s", have, route, need, code, body)
					}
					return
				}
				if code != http.StatusForbidden || json.Unmarshal(body, &ae) != nil || ae.MissingScope != string(need) || ae.Error == "" {
					t.Fatalf("scope %s on %s (needs %s): %d %s, want 403 with missing_scope %q", have, route, need, code, body, need)
				}
			})
		}
	}
}

// fill replaces path parameters (":id") with a value.
func fill(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "matrix"
		}
	}
	return strings.Join(parts, "/")
}

func do(e *echo.Echo, method, path, token string) (int, []byte) {
	var body *strings.Reader
	if method == http.MethodGet {
		body = strings.NewReader("")
	} else {
		body = strings.NewReader("{}")
	}
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}
