package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
		{"short token", "a:short\n", "shorter than 16"},
		{"duplicate", "a:0123456789abcdef0123\na:0123456789abcdef0124\n", "appears twice"},
		{"empty file", "# nothing\n", "no tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens([]byte(tc.data))
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
	toks, err := ParseTokens([]byte(good))
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
