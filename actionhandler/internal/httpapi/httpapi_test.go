package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
)

const token = "classifier-token-0123456789"

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// brokenStore fails every call.
type brokenStore struct{ Store }

func (brokenStore) CountQueued(context.Context) (int, error) { return 0, errors.New("database down") }
func (brokenStore) Create(context.Context, *store.Execution, time.Duration) (*store.Execution, bool, error) {
	return nil, false, errors.New("database down")
}

type apiFixture struct {
	tokens string // more token-file lines (set by newAPIWith)
	e      *echo.Echo
	st     store.Store
	logs   *logtest.Buffer
	woken  int
	mu     sync.Mutex
	// replays: the replay service's metrics (newReplayAPI).
	replays *metrics.Metrics
}

func newAPI(t *testing.T, edit func(h *Handler)) *apiFixture {
	t.Helper()
	return newAPIWith(t, "", edit)
}

// newAPIWith is newAPI with more token-file lines and /metrics.
func newAPIWith(t testing.TB, extraTokens string, edit func(h *Handler)) *apiFixture {
	t.Helper()
	a := &apiFixture{logs: &logtest.Buffer{}, tokens: extraTokens}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a.st = st
	log := logging.New(a.logs, "actionhandler", logging.Options{})
	// The fixture's token posts unsigned (ad-hoc) actions unless a test
	// signs them (provenance_test.go).
	tokens, err := auth.ParseTokens([]byte("oncall:"+token+" scopes=adhoc,read\n"+a.tokens), auth.DefaultsActionHandler)
	if err != nil {
		t.Fatal(err)
	}
	a.e = server.New(server.Options{Service: "actionhandler", Log: log, BodyLimit: 4096, RouteBodyLimits: RouteBodyLimits,
		Metrics: metrics.New("actionhandler"), MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
	h := &Handler{Store: st, Log: log, Wake: func() { a.mu.Lock(); a.woken++; a.mu.Unlock() }}
	if edit != nil {
		edit(h)
	}
	h.Register(a.e, tokens)
	return a
}

func (a *apiFixture) do(method, target, tok, body string) (int, []byte) {
	return a.serve(httpRequest(method, target, tok, body))
}

func httpRequest(method, target, tok, body string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func (a *apiFixture) serve(req *http.Request) (int, []byte) {
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, b
}

func TestPostAction(t *testing.T) {
	valid := fixture(t, "action.json")
	for _, tc := range []struct {
		name      string
		body      string
		token     string
		edit      func(h *Handler)
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
		{name: "queue full", body: valid, token: token, edit: func(h *Handler) { h.MaxQueued = 1 }, status: -1},
		{name: "store down", body: valid, token: token, edit: func(h *Handler) { h.Store = brokenStore{h.Store} },
			status: http.StatusServiceUnavailable, errSubstr: "store unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, tc.edit)
			target := "/v1/action"
			tok := tc.token
			if strings.HasPrefix(tok, "?") {
				target += "?token=" + tok[1:]
				tok = ""
			}
			status := tc.status
			if status == -1 { // queue full: the second request is refused
				if code, _ := a.do(http.MethodPost, target, tok, valid); code != http.StatusAccepted {
					t.Fatalf("first: %d", code)
				}
				tc.body = strings.Replace(valid, "70413a06", "80413a06", 1)
				status, tc.errSubstr = http.StatusServiceUnavailable, "too many executions queued"
			}
			code, body := a.do(http.MethodPost, target, tok, tc.body)
			if code != status {
				t.Fatalf("status %d, want %d: %s", code, status, body)
			}
			if strings.Contains(a.logs.String(), token) {
				t.Errorf("token logged:\n%s", a.logs)
			}
			if status != http.StatusAccepted {
				var e api.Error
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || !strings.Contains(e.Error, tc.errSubstr) {
					t.Errorf("error body %s, want a JSON error containing %q", body, tc.errSubstr)
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
			x, err := a.st.Get(context.Background(), acc.ExecutionID)
			if err != nil || x.Client != "oncall" || x.RuleName != "day_duplicator_gc_restart" || x.Status != store.Queued ||
				x.AlertID != "70413a06-38d6-4c85-92b8-5ebc900d42e2" || x.UniqueValue != "1791" || x.FeedName != "incoming" ||
				!strings.Contains(string(x.Request), `"rule":{`) {
				t.Errorf("stored %+v %v", x, err)
			}
			if a.woken != 1 {
				t.Errorf("workers woken %d times", a.woken)
			}
			for _, want := range []string{"event=execution_queued", "client=oncall", "execution_id=" + acc.ExecutionID,
				"rule_name=day_duplicator_gc_restart", "alert_id=70413a06"} {
				if !strings.Contains(a.logs.String(), want) {
					t.Errorf("log lacks %s:\n%s", want, a.logs)
				}
			}
		})
	}
}

func TestDuplicateReturnsExisting(t *testing.T) {
	a := newAPI(t, nil)
	valid := fixture(t, "action.json")
	code, body := a.do(http.MethodPost, "/v1/action", token, valid)
	var first api.ActionAccepted
	json.Unmarshal(body, &first)
	if code != http.StatusAccepted {
		t.Fatalf("first %d %s", code, body)
	}
	// Concurrent repeats all get the first execution.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			code, body := a.do(http.MethodPost, "/v1/action", token, valid)
			var acc api.ActionAccepted
			json.Unmarshal(body, &acc)
			if code != http.StatusOK || acc.ExecutionID != first.ExecutionID || acc.Status != api.ExecQueued {
				t.Errorf("repeat: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	if p, _ := a.st.List(context.Background(), store.Filter{}); len(p.Executions) != 1 {
		t.Errorf("%d executions stored", len(p.Executions))
	}
	if !strings.Contains(a.logs.String(), "event=execution_duplicate") {
		t.Errorf("logs:\n%s", a.logs)
	}
	// Another rule for the same alert is its own execution.
	other := strings.Replace(valid, `"rule_name": "day_duplicator_gc_restart"`, `"rule_name": "other"`, 1)
	if code, _ := a.do(http.MethodPost, "/v1/action", token, other); code != http.StatusAccepted {
		t.Errorf("other rule: %d", code)
	}
}

func TestHistory(t *testing.T) {
	a := newAPI(t, nil)
	ctx := context.Background()
	for i := range 3 {
		x := &store.Execution{ID: fmt.Sprintf("e%d", i), AlertID: fmt.Sprintf("a%d", i%2), UniqueValue: "u", FeedType: "OpsGenie",
			FeedName: "incoming", RuleName: "r", Client: "oncall", Request: []byte(`{}`), Entities: []string{"h1", fmt.Sprintf("x%d", i)}}
		if _, _, err := a.st.Create(ctx, x, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	x, _ := a.st.Claim(ctx, "rep", time.Minute, nil)
	t0 := time.Now().UTC()
	a.st.SaveStep(ctx, x.ID, store.Step{TaskIndex: 0, Entity: "h1", TaskType: "remote_ssh", Action: "restart",
		Command: "systemctl restart x", Status: store.Success, ExitCode: 0, Stdout: "ok\n", StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond)})
	a.st.SaveStep(ctx, x.ID, store.Step{TaskIndex: 0, Entity: "x0", TaskType: "http", Command: "GET http://x/", Status: store.Failure,
		ExitCode: -1, HTTPStatus: 503, Error: "unexpected status: HTTP 503", StartedAt: t0, FinishedAt: t0.Add(time.Second)})
	a.st.Finish(ctx, x.ID, "rep", store.Failure, "")

	code, body := a.do(http.MethodGet, "/v1/executions/e0", token, "")
	if code != http.StatusOK {
		t.Fatalf("get: %d %s", code, body)
	}
	var got api.Execution
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "e0" || got.Status != store.Failure || got.Client != "oncall" || got.AlertID != "a0" || len(got.Steps) != 2 ||
		got.StartedAt == nil || got.FinishedAt == nil || got.ReportedAt != nil {
		t.Fatalf("execution %s", body)
	}
	s0, s1 := got.Steps[0], got.Steps[1]
	if s0.ExitCode == nil || *s0.ExitCode != 0 || s0.Stdout != "ok\n" || s0.ElapsedMS == nil || *s0.ElapsedMS != 1500 ||
		s0.Command != "systemctl restart x" || s1.ExitCode != nil || s1.HTTPStatus != 503 || s1.Error == "" {
		t.Errorf("steps %s", body)
	}
	if !strings.Contains(string(body), `"exit_code":null`) {
		t.Errorf("no exit code is not null: %s", body)
	}

	list := func(q string) (int, api.ExecutionList, string) {
		code, body := a.do(http.MethodGet, "/v1/executions"+q, token, "")
		var l api.ExecutionList
		json.Unmarshal(body, &l)
		return code, l, string(body)
	}
	ids := func(l api.ExecutionList) string {
		var out []string
		for _, x := range l.Executions {
			out = append(out, x.ID)
		}
		return strings.Join(out, ",")
	}
	since := url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339))
	for _, tc := range []struct{ q, want string }{
		{"", "e2,e1,e0"},
		{"?alert_id=a0", "e2,e0"},
		{"?entity=x1", "e1"},
		{"?status=failure", "e0"},
		{"?rule_name=nope", ""},
		{"?since=" + since + "&entity=h1&rule_name=r", "e2,e1,e0"},
		{"?until=" + since, ""},
	} {
		code, l, body := list(tc.q)
		if code != http.StatusOK || ids(l) != tc.want || l.Executions == nil {
			t.Errorf("%s: %d %q, want %q: %s", tc.q, code, ids(l), tc.want, body)
		}
	}
	_, p1, _ := list("?limit=2")
	_, p2, _ := list("?limit=2&cursor=" + p1.NextCursor)
	if ids(p1) != "e2,e1" || p1.NextCursor == "" || ids(p2) != "e0" || p2.NextCursor != "" {
		t.Errorf("pages %q (%s) %q (%s)", ids(p1), p1.NextCursor, ids(p2), p2.NextCursor)
	}
	for _, tc := range []struct {
		q      string
		status int
		err    string
	}{
		{"?status=done", http.StatusBadRequest, "status"},
		{"?since=yesterday", http.StatusBadRequest, "since"},
		{"?limit=0", http.StatusBadRequest, "limit"},
		{"?limit=9999", http.StatusBadRequest, "limit"},
		{"?cursor=zzz", http.StatusBadRequest, "cursor"},
		{"?host=h1", http.StatusBadRequest, "unknown parameter"},
	} {
		code, _, body := list(tc.q)
		if code != tc.status || !strings.Contains(body, tc.err) {
			t.Errorf("%s: %d %s", tc.q, code, body)
		}
	}
	if code, body := a.do(http.MethodGet, "/v1/executions/nope", token, ""); code != http.StatusNotFound || !strings.Contains(string(body), "no execution") {
		t.Errorf("missing: %d %s", code, body)
	}
	if code, _ := a.do(http.MethodGet, "/v1/executions", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
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

// Pending write-backs show what will be tried again, never a note's text.
func TestExecutionShowsPendingWritebacks(t *testing.T) {
	next := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	x := &store.Execution{ID: "e1", Status: store.Success, Writebacks: []store.Writeback{
		{Op: []byte(`{"op":"note","value":"Alexis rule r: restart on web01: success"}`), Attempts: 2, LastError: "status 503", NextAt: next},
		{Op: []byte(`{"op":"add_team","value":"ops"}`), Attempts: 1, LastError: "timeout", NextAt: next},
	}}
	got := Execution(x).PendingWritebacks
	want := []api.PendingWriteback{{Op: "note", Attempts: 2, LastError: "status 503", NextAt: next},
		{Op: "add_team ops", Attempts: 1, LastError: "timeout", NextAt: next}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pending write-backs %+v, want %+v", got, want)
	}
	b, _ := json.Marshal(Execution(x))
	if strings.Contains(string(b), "restart on web01") {
		t.Errorf("a note's text in the API: %s", b)
	}
}

// A host name with a control character is refused with a clear 422 before
// anything is stored: it takes no dedup slot, so the same alert and rule
// with a proper host still runs.
func TestControlCharacterEntityTakesNoDedupSlot(t *testing.T) {
	valid := fixture(t, "action.json")
	hosts := `["app01.example.com", "app02:2222", "app01.example.com"]`
	for _, tc := range []struct{ name, host, want string }{
		{"NUL", `"h\u0000x"`, `entity \"h\\x00x\": control character U+0000`},
		{"newline", `"app01\n"`, "control character U+000A"},
		{"DEL", `"h\u007fx"`, "control character U+007F"},
		{"C1", `"h\u0085x"`, "control character U+0085"},
		{"line separator", `["app01", "h\u2028x"]`, "control character U+2028"},
		{"too long", `"` + strings.Repeat("h", 254) + `"`, "longer than 253 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, nil)
			bad := strings.Replace(valid, hosts, tc.host, 1)
			code, body := a.do(http.MethodPost, "/v1/action", token, bad)
			if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), tc.want) {
				t.Fatalf("status %d %s, want 422 with %s", code, body, tc.want)
			}
			if p, _ := a.st.List(context.Background(), store.Filter{}); len(p.Executions) != 0 {
				t.Fatalf("%d executions stored for a refused entity", len(p.Executions))
			}
			if strings.ContainsAny(a.logs.String(), "\x00\u2028\x7f\u0085") {
				t.Errorf("the control character reached the log:\n%q", a.logs)
			}
			code, body = a.do(http.MethodPost, "/v1/action", token, valid)
			if code != http.StatusAccepted {
				t.Fatalf("the same alert and rule with proper hosts: %d %s, want 202 (a new execution)", code, body)
			}
		})
	}
}

// The store satisfies what the API declares.
var _ Store = store.Store(nil)
