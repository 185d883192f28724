package httpclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
)

func TestPostJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
				w.WriteHeader(401)
				return
			}
			w.Write([]byte(`{"status":"queued"}`))
		case "/bad":
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"rule: required"}`))
		case "/down":
			w.WriteHeader(503)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()
	c, err := New(Options{Token: config.NewSecret("tok-0123456789abcdef"), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var out struct{ Status string }
	if code, err := c.PostJSON(ctx, srv.URL+"/ok", map[string]int{"a": 1}, &out); err != nil || code != 200 || out.Status != "queued" {
		t.Fatalf("ok: code=%d err=%v out=%+v", code, err, out)
	}
	_, err = c.PostJSON(ctx, srv.URL+"/bad", nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Msg != "rule: required" || IsTemporary(err) {
		t.Fatalf("bad: %v", err)
	}
	if _, err = c.PostJSON(ctx, srv.URL+"/down", nil, nil); !IsTemporary(err) {
		t.Fatalf("down: %v should be temporary", err)
	}
	if _, err = c.PostJSON(ctx, srv.URL+"/slow", nil, nil); err == nil || !IsTemporary(err) {
		t.Fatalf("slow: want timeout, got %v", err)
	}
}

func TestBadCAFile(t *testing.T) {
	if _, err := New(Options{CAFile: "/nonexistent"}); err == nil {
		t.Fatal("missing CA file accepted")
	}
}
