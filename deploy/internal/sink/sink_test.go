package sink

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// The product's own OpsGenie client (the SDK underneath) accepts the
// sink's answers for every write call it makes, and a wrong key fails.
func TestOpsGenieSinkSpeaksTheSDK(t *testing.T) {
	s, err := OpsGenie("sink-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := func(key string) *opsgenie.Client {
		f := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(f, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := opsgenie.New(opsgenie.Config{APIURL: s.Addr(), APIKeyFile: f, Timeout: config.Duration(5 * time.Second), Retries: 1}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := client("sink-key-0123456789abcdef")
	ctx := context.Background()
	for _, op := range []ticket.Op{
		{Kind: ticket.KindNote, Value: "a note"},
		{Kind: ticket.KindAddTeam, Value: "queue_autoremediation"},
		{Kind: ticket.KindAddResponder, Value: "team:ops"},
		{Kind: ticket.KindClose, Note: "fixed"},
	} {
		if err := c.Do(ctx, "alert-1", op); err != nil {
			t.Fatalf("%s: %v", op.Kind, err)
		}
	}
	if _, err := c.Get(ctx, "alert-1"); err != nil {
		t.Fatalf("get: %v", err)
	}
	got := s.Counts()
	for _, k := range []string{"notes", "teams", "responders", "close", "get"} {
		if got[k] != 1 {
			t.Errorf("count %s = %d, want 1 (counts %v)", k, got[k], got)
		}
	}
	if err := client("wrong-key-0123456789abcdef").Do(ctx, "alert-1", ticket.Op{Kind: ticket.KindNote, Value: "x"}); err == nil {
		t.Fatal("a wrong API key was accepted")
	}
}

func TestActionHandlerSinkChecksTheToken(t *testing.T) {
	s, err := ActionHandler("ah-token-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"right token", "Bearer ah-token-0123456789abcdef", http.StatusAccepted},
		{"wrong token", "Bearer nope-0123456789abcdef", http.StatusUnauthorized},
		{"no token", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/action", strings.NewReader(`{"id":"a"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if got := s.Counts(); got["accepted"] != 1 || got["unauthorized"] != 2 {
		t.Fatalf("counts %v", got)
	}
}
