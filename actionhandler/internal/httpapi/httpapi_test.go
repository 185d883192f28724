package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/server"
)

const token = "classifier-token-0123456789"

type fakePool struct {
	mu  sync.Mutex
	got []engine.Execution
	err error
}

func (p *fakePool) Submit(x engine.Execution) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.got = append(p.got, x)
	return nil
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPostAction(t *testing.T) {
	valid := fixture(t, "action.json")
	for _, tc := range []struct {
		name      string
		body      string
		token     string
		poolErr   error
		status    int
		errSubstr string
	}{
		{name: "accepted", body: valid, token: token, status: http.StatusAccepted},
		{name: "token in query", body: valid, token: "?" + token, status: http.StatusAccepted},
		{name: "no token", body: valid, status: http.StatusUnauthorized},
		{name: "wrong token", body: valid, token: "wrong-token-0123456789", status: http.StatusUnauthorized},
		{name: "bad JSON", body: `{"id": `, token: token, status: http.StatusBadRequest, errSubstr: "malformed JSON"},
		{name: "not an object", body: `[]`, token: token, status: http.StatusBadRequest},
		{name: "no rule", body: fixture(t, "no_rule.json"), token: token, status: http.StatusBadRequest, errSubstr: "rule: required"},
		{name: "invalid rule", body: fixture(t, "invalid_rule.json"), token: token, status: http.StatusBadRequest,
			errSubstr: "task_list[0].task.run_command"},
		{name: "no alexis meta", body: fixture(t, "no_meta.json"), token: token, status: http.StatusBadRequest, errSubstr: "alexis"},
		{name: "too large", body: `{"pad": "` + strings.Repeat("x", 5000) + `"}`, token: token, status: http.StatusRequestEntityTooLarge},
		{name: "entity not in alert", body: fixture(t, "unresolvable.json"), token: token, status: http.StatusUnprocessableEntity,
			errSubstr: "details.host: not found"},
		{name: "queue full", body: valid, token: token, poolErr: engine.ErrQueueFull, status: http.StatusServiceUnavailable},
		{name: "shutting down", body: valid, token: token, poolErr: engine.ErrClosed, status: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := logging.New(&logs, "actionhandler", logging.Options{})
			tokens, err := auth.ParseTokens([]byte("classifier:" + token + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			pool := &fakePool{err: tc.poolErr}
			e := server.New(server.Options{Service: "actionhandler", Log: log, BodyLimit: 4096})
			(&Handler{Pool: pool, Log: log}).Register(e, tokens)

			url := "/v1/action"
			req := httptest.NewRequest(http.MethodPost, url, strings.NewReader(tc.body))
			switch {
			case strings.HasPrefix(tc.token, "?"):
				req = httptest.NewRequest(http.MethodPost, url+"?token="+tc.token[1:], strings.NewReader(tc.body))
			case tc.token != "":
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			if strings.Contains(logs.String(), token) {
				t.Errorf("token logged:\n%s", logs.String())
			}
			if tc.status != http.StatusAccepted {
				var e api.Error
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || !strings.Contains(e.Error, tc.errSubstr) {
					t.Errorf("error body %s, want a JSON error containing %q", body, tc.errSubstr)
				}
				if len(pool.got) != 0 {
					t.Errorf("refused request was queued")
				}
				return
			}
			var acc api.ActionAccepted
			if err := json.Unmarshal(body, &acc); err != nil {
				t.Fatal(err)
			}
			if len(acc.ExecutionID) != 32 || acc.Status != api.ExecQueued ||
				strings.Join(acc.Entities, ",") != "app01.example.com,app02:2222" {
				t.Errorf("answer %+v", acc)
			}
			if len(pool.got) != 1 || pool.got[0].ID != acc.ExecutionID || pool.got[0].Client != "classifier" ||
				pool.got[0].Request.Rule.Name != "day_duplicator_gc_restart" {
				t.Errorf("queued %+v", pool.got)
			}
			for _, want := range []string{"event=execution_queued", "client=classifier", "execution_id=" + acc.ExecutionID,
				"rule_name=day_duplicator_gc_restart", "alert_id=70413a06"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %s:\n%s", want, logs.String())
				}
			}
		})
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if seen[id] || len(id) != 32 {
			t.Fatalf("id %q repeated or malformed", id)
		}
		seen[id] = true
	}
}
