package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/ticket"
)

type hook struct {
	*httptest.Server
	mu     sync.Mutex
	msgs   []Message
	auth   []string
	status int
}

func newHook(t *testing.T) *hook {
	h := &hook{status: http.StatusOK}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m Message
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &m)
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.auth = append(h.auth, r.Header.Get("Authorization"))
		status := h.status
		h.mu.Unlock()
		w.WriteHeader(status)
		if status >= 300 {
			io.WriteString(w, `{"error":"channel archived"}`)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) setStatus(code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status = code
}

func (h *hook) received() ([]Message, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.msgs...), append([]string(nil), h.auth...)
}

func TestWebhook(t *testing.T) {
	h := newHook(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("chat-secret-token\n"), 0o600)
	w, err := New(Config{Name: "chat", URL: h.URL, TokenFile: tokenFile, FeedTypes: []string{"OpsGenie"}, Kinds: []string{"note", "add_team", "close"}}, "OpsGenie")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := ticket.Apply(ctx, w, "A1", []ticket.Op{
		{Kind: "note", Value: "restarted duplicator"},
		{Kind: "add_team", Value: "ops_unix"},
		{Kind: "escalate", Value: "db"},
		{Kind: "close", Note: "fixed."},
	})
	if len(errs) != 1 || !errors.Is(errs[0], ticket.ErrUnsupported) {
		t.Fatalf("errors %v: escalate is not among the kinds", errs)
	}
	want := []Message{
		{Source: "Alexis", AlertID: "A1", FeedType: "OpsGenie", Op: "note", Value: "restarted duplicator", Text: "Alexis on OpsGenie alert A1: restarted duplicator"},
		{Source: "Alexis", AlertID: "A1", FeedType: "OpsGenie", Op: "add_team", Value: "ops_unix", Text: "Alexis routed OpsGenie alert A1 to team ops_unix."},
		{Source: "Alexis", AlertID: "A1", FeedType: "OpsGenie", Op: "close", Note: "fixed.", Text: "Alexis closed OpsGenie alert A1. fixed."},
	}
	msgs, auth := h.received()
	if len(msgs) != len(want) {
		t.Fatalf("messages %+v", msgs)
	}
	for i := range want {
		if !reflect.DeepEqual(msgs[i], want[i]) {
			t.Errorf("message %d: %+v, want %+v", i, msgs[i], want[i])
		}
		if auth[i] != "Bearer chat-secret-token" {
			t.Errorf("auth %q", auth[i])
		}
	}
	h.setStatus(http.StatusGone)
	err = w.AddNote(ctx, "A1", "x")
	if err == nil || !strings.Contains(err.Error(), "status 410") || !strings.Contains(err.Error(), "webhook chat") || strings.Contains(err.Error(), "chat-secret-token") {
		t.Errorf("410 answer: %v", err)
	}
}

func TestText(t *testing.T) {
	cases := []struct {
		op   ticket.Op
		want string
	}{
		{ticket.Op{Kind: "add_tags", Values: []string{"a", "b"}}, "Alexis tagged Dynatrace alert P1: a, b."},
		{ticket.Op{Kind: "remove_tags", Values: []string{"a"}}, "Alexis removed tags from Dynatrace alert P1: a."},
		{ticket.Op{Kind: "acknowledge"}, "Alexis acknowledged Dynatrace alert P1."},
		{ticket.Op{Kind: "escalate", Value: "db"}, "Alexis escalated Dynatrace alert P1 to db."},
		{ticket.Op{Kind: "add_responder", Value: "user:jane"}, "Alexis added user jane as responder to Dynatrace alert P1."},
	}
	for _, tc := range cases {
		if got := Text("Dynatrace", "P1", tc.op); got != tc.want {
			t.Errorf("Text(%v) = %q, want %q", tc.op, got, tc.want)
		}
	}
	if got := Text("", "P1", ticket.Op{Kind: "close"}); got != "Alexis closed alert P1." {
		t.Errorf("no feed type: %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "ok", cfg: Config{Name: "chat", URL: "https://chat.example/hook", FeedTypes: []string{"*"}}},
		{name: "empty", cfg: Config{}, want: []string{"w.name: required", "w.url: required", "w.feed_types: required"}},
		{name: "bad", cfg: Config{Name: "c", URL: "ftp://x", FeedTypes: []string{" "}, Kinds: []string{"reboot"}, Timeout: config.Duration(-1)},
			want: []string{"w.url: URL must be http", "w.feed_types[0]", `w.kinds[0]: unknown operation "reboot"`, "w.timeout"}},
		{name: "credentials", cfg: Config{Name: "c", URL: "https://u:p@x", FeedTypes: []string{"OpsGenie"}}, want: []string{"must not carry credentials"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate("w.")
			if len(tc.want) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
		})
	}
	c := Config{FeedTypes: []string{"opsgenie"}}
	if !c.Serves("OpsGenie") || c.Serves("Dynatrace") || !(Config{FeedTypes: []string{"*"}}).Serves("Jira") {
		t.Error("Serves")
	}
}
