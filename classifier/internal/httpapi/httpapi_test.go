package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/alexis-ops/alexis/shared/task/remotessh"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/classify"
	"github.com/alexis-ops/alexis/classifier/internal/intake"
	"github.com/alexis-ops/alexis/classifier/internal/record"
	"github.com/alexis-ops/alexis/classifier/internal/record/recordtest"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
	"github.com/labstack/echo/v4"
)

const (
	clientToken  = "poller-token-0123456789abcdef"
	ahToken      = "classifier-to-ah-token-fedcba9876543210"
	historyToken = "classifier-history-token-abcdef0123456789"
	queue        = "ops_investigation"
	autoQueue    = "queue_autoremediation"
	alertID      = "70413a06-38d6-4c85-92b8-5ebc900d42e2"
	bodyLimit    = 64 << 10
)

// createdAt of testdata/alerts/gc_alert.json plus 10 minutes.
var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// logBuffer collects log lines; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the logged lines containing every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	var out []string
next:
	for _, l := range strings.Split(b.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// actionHandler is a fake action handler: it checks the token, decodes the
// request as the real one would and answers with status(rule name).
type actionHandler struct {
	srv    *httptest.Server
	status func(rule string) int

	mu       sync.Mutex
	requests []*action.Request
	bodies   [][]byte // as received
	sigs     []string // their auth.SignatureHeader
}

func newActionHandler(t *testing.T, status func(rule string) int) *actionHandler {
	ah := &actionHandler{status: status}
	ah.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ahToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, err := action.Decode(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
			return
		}
		ah.mu.Lock()
		ah.requests = append(ah.requests, req)
		ah.bodies = append(ah.bodies, body)
		ah.sigs = append(ah.sigs, r.Header.Get(auth.SignatureHeader))
		n := 0 // pushes of this rule so far: pushes of several rules run at once
		for _, q := range ah.requests {
			if q.Rule.Name == req.Rule.Name {
				n++
			}
		}
		ah.mu.Unlock()
		code := ah.status(req.Rule.Name)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if code == http.StatusAccepted || code == http.StatusOK {
			_ = json.NewEncoder(w).Encode(api.ActionAccepted{ExecutionID: fmt.Sprintf("exec-%d", n), Status: api.ExecQueued})
			return
		}
		_ = json.NewEncoder(w).Encode(api.Error{Error: fmt.Sprintf("refused with %d", code)})
	}))
	t.Cleanup(ah.srv.Close)
	return ah
}

func (ah *actionHandler) got() []*action.Request {
	ah.mu.Lock()
	defer ah.mu.Unlock()
	return append([]*action.Request(nil), ah.requests...)
}

func accept(string) int { return http.StatusAccepted }

type harness struct {
	e        *echo.Echo
	dir      string
	ah       *actionHandler
	recorder *tickettest.Recorder
	logs     *logBuffer
	history  *recordtest.Server // setup.history only
}

type setup struct {
	rules    []string          // fixtures from testdata/rules
	ruleJSON map[string]string // extra rule files: name → content
	status   func(rule string) int
	urls     map[string]string // os_type → URL; default linux → the fake
	noTicket bool
	ticket   ticket.Ticket
	timeout  time.Duration
	noAuto   bool // autoremediation_queue: ""
	intake   Intake
	ruleDir  string    // fixtures directory; default testdata/rules
	tokens   string    // token file; default poller:clientToken with the default scopes
	key      *auth.Key // signs forwarded actions when set
	history  bool      // record decisions to a recordtest.Server
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	if s.status == nil {
		s.status = accept
	}
	h := &harness{dir: t.TempDir(), recorder: &tickettest.Recorder{}, logs: &logBuffer{}}
	h.ah = newActionHandler(t, s.status)
	for _, name := range s.rules {
		if s.ruleDir == "" {
			s.ruleDir = "../../testdata/rules"
		}
		data, err := os.ReadFile(filepath.Join(s.ruleDir, name))
		if err != nil {
			t.Fatal(err)
		}
		writeRule(t, h.dir, name, string(data))
	}
	for name, data := range s.ruleJSON {
		writeRule(t, h.dir, name, data)
	}
	if s.urls == nil {
		s.urls = map[string]string{"Linux": h.ah.srv.URL + "/v1/action"}
	}
	if s.timeout == 0 {
		s.timeout = 5 * time.Second
	}
	log := logging.New(h.logs, "classifier", logging.Options{Level: "debug"})
	var sign func(http.Header, []byte)
	if s.key != nil {
		sign = func(hd http.Header, body []byte) { hd.Set(auth.SignatureHeader, s.key.Sign(body, time.Now())) }
	}
	client, err := httpclient.New(httpclient.Options{Token: config.NewSecret(ahToken), Timeout: s.timeout, Sign: sign})
	if err != nil {
		t.Fatal(err)
	}
	tickets := ticket.Set{}
	switch {
	case s.ticket != nil:
		tickets.Add("OpsGenie", s.ticket)
	case !s.noTicket:
		tickets.Add("OpsGenie", h.recorder)
	}
	loader := rules.NewDir(rules.DirOptions{Dir: h.dir, Log: log})
	t.Cleanup(func() { loader.Close() })
	var history classify.Recorder
	if s.history {
		h.history = recordtest.New(t, historyToken)
		hc, err := httpclient.New(httpclient.Options{Token: config.NewSecret(historyToken), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r := record.New(record.Options{URL: h.history.URL, Client: hc, FlushInterval: 10 * time.Millisecond,
			MinBackoff: 5 * time.Millisecond, Log: log})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = r.Close(ctx)
		})
		history = r
	}
	cl := classify.New(classify.Options{
		Rules:     loader,
		Actions:   classify.NewActionHandlers(s.urls, client, log),
		Tickets:   tickets,
		Queue:     queue,
		AutoQueue: map[bool]string{false: autoQueue, true: ""}[s.noAuto],
		Now:       func() time.Time { return testNow },
		History:   history,
		Log:       log,
	})
	if s.tokens == "" {
		s.tokens = "poller:" + clientToken + "\n"
	}
	tokens, err := auth.ParseTokens([]byte(s.tokens), auth.DefaultsClassifier)
	if err != nil {
		t.Fatal(err)
	}
	h.e = server.New(server.Options{Service: "classifier", Log: log, BodyLimit: bodyLimit,
		Metrics: metrics.New("classifier"), MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
	if s.intake.Push == nil {
		s.intake.Push = intake.Feeds{}.Routes()
	}
	(&Handler{Classifier: cl, Rules: loader, Intake: s.intake, Log: log, Now: func() time.Time { return testNow }}).Register(h.e, tokens)
	return h
}

func writeRule(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) do(t *testing.T, method, path string, body []byte, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	return rec
}

// gcAlert returns testdata/alerts/gc_alert.json with top-level edits (nil deletes).
func gcAlert(t *testing.T, edits map[string]any) []byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/alerts/gc_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// ruleWith returns testdata/rules/gc_restart.json with top-level edits.
func ruleWith(t *testing.T, edits map[string]any) string {
	t.Helper()
	data, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range edits {
		m[k] = v
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func withDuration(t *testing.T, d string) string {
	t.Helper()
	return ruleWith(t, map[string]any{"evaluation_list": []any{map[string]any{"evaluation": map[string]any{
		"tags": []string{"syn.day"}, "search_key": "description", "search_text": "garbage", "duration": d}}}})
}

func note(text string) tickettest.Call { return tickettest.Call{Op: "note", ID: alertID, Value: text} }
func team(name string) tickettest.Call { return tickettest.Call{Op: "team", ID: alertID, Value: name} }

const matchedNote = "Autoremediation rule day_duplicator_gc_restart has matched, pushing to Action Handler (execution exec-1)"

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		setup      setup
		alert      map[string]any // edits to gc_alert.json
		wantStatus int
		wantResult string
		wantCheck  int
		wantMatch  []api.MatchedAction
		wantCalls  []tickettest.Call
		wantPushed []string // rule names the action handler received
		wantLogs   [][]string
		wantWBErr  bool
		wantErr    string // in a non-200 answer
	}{
		{
			name:       "matched",
			setup:      setup{rules: []string{"gc_restart.json", "invalid_json.json"}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch:  []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantCalls:  []tickettest.Call{note(matchedNote), team(autoQueue)},
			wantPushed: []string{"day_duplicator_gc_restart"},
			wantLogs: [][]string{{"event=rule_matched", "alert_id=" + alertID, "unique_value=42", "feed_type=OpsGenie",
				"rule_name=day_duplicator_gc_restart", "execution_id=exec-1"}},
		},
		{
			name:       "unmatched",
			setup:      setup{rules: []string{"gc_restart.json"}},
			alert:      map[string]any{"tags": []string{"syn.day"}},
			wantStatus: 200, wantResult: api.ResultUnmatched, wantCheck: 1,
			wantCalls: []tickettest.Call{
				note("Alexis checked 1 rule; none matched. Routing to ops_investigation for investigation."),
				team(queue),
			},
			wantLogs: [][]string{{"event=alert_unmatched", "alert_id=" + alertID, "count=1"}},
		},
		{
			name: "unmatched counts only valid enabled rules for the feed",
			setup: setup{rules: []string{"gc_restart.json", "bad_regex.json"}, ruleJSON: map[string]string{
				"disabled.json": ruleWith(t, map[string]any{"rule_name": "off", "enabled": "false"}),
				"other.json":    ruleWith(t, map[string]any{"rule_name": "dt", "alert_feed": "Dynatrace"}),
				"second.json":   ruleWith(t, map[string]any{"rule_name": "second", "alert_feed": "OPSGENIE"}),
			}},
			alert:      map[string]any{"description": "all fine"},
			wantStatus: 200, wantResult: api.ResultUnmatched, wantCheck: 2,
			wantCalls: []tickettest.Call{
				note("Alexis checked 2 rules; none matched. Routing to ops_investigation for investigation."),
				team(queue),
			},
		},
		{
			name:       "action handler 5xx",
			setup:      setup{rules: []string{"gc_restart.json"}, status: func(string) int { return 500 }},
			wantStatus: 503, wantErr: "status 500",
			wantPushed: []string{"day_duplicator_gc_restart"},
			wantLogs:   [][]string{{"event=action_push_failed", "rule_name=day_duplicator_gc_restart", "level=warn"}},
		},
		{
			name:       "action handler rate limit",
			setup:      setup{rules: []string{"gc_restart.json"}, status: func(string) int { return 429 }},
			wantStatus: 503, wantErr: "status 429",
			wantPushed: []string{"day_duplicator_gc_restart"},
		},
		{
			name:       "action handler unreachable",
			setup:      setup{rules: []string{"gc_restart.json"}, urls: map[string]string{"linux": "http://127.0.0.1:1/v1/action"}},
			wantStatus: 503, wantErr: "connection refused",
		},
		{
			// A misconfigured token or signing key: nothing is written or
			// routed to people; the alert is offered again until fixed.
			name:       "action handler refuses our token",
			setup:      setup{rules: []string{"gc_restart.json"}, status: func(string) int { return http.StatusUnauthorized }},
			wantStatus: 503, wantErr: "status 401",
			wantPushed: []string{"day_duplicator_gc_restart"},
			wantLogs: [][]string{{"event=action_push_failed", "rule_name=day_duplicator_gc_restart", "level=error",
				"reason=unauthorized"}},
		},
		{
			name:       "action handler forbids our rule",
			setup:      setup{rules: []string{"gc_restart.json"}, status: func(string) int { return http.StatusForbidden }},
			wantStatus: 503, wantErr: "status 403",
			wantPushed: []string{"day_duplicator_gc_restart"},
		},
		{
			name: "one push accepted, one refused our token",
			setup: setup{ruleJSON: map[string]string{
				"a.json": ruleWith(t, map[string]any{"rule_name": "first"}),
				"b.json": ruleWith(t, map[string]any{"rule_name": "second"}),
			}, status: func(rule string) int {
				if rule == "second" {
					return http.StatusUnauthorized
				}
				return http.StatusAccepted
			}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 2,
			wantMatch: []api.MatchedAction{
				{RuleName: "first", ExecutionID: "exec-1", Status: classify.PushAccepted},
				{RuleName: "second", Status: classify.PushUnauthorized, Error: "push to action handler: status 401: refused with 401"},
			},
			wantCalls: []tickettest.Call{
				note("Autoremediation rule first has matched, pushing to Action Handler (execution exec-1)"),
				note("Autoremediation rule second has matched, but pushing to Action Handler failed: " +
					"push to action handler: status 401: refused with 401. It will not be retried. Routing to ops_investigation for investigation."),
				team(autoQueue),
				team(queue),
			},
			wantPushed: []string{"first", "second"},
		},
		{
			name: "action handler 4xx",
			setup: setup{rules: []string{"gc_restart.json"},
				status: func(string) int { return http.StatusUnprocessableEntity }},
			wantStatus: 200, wantResult: api.ResultRefused, wantCheck: 1,
			wantMatch: []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", Status: classify.PushRejected,
				Error: "push to action handler: status 422: refused with 422"}},
			wantCalls: []tickettest.Call{
				note("Autoremediation rule day_duplicator_gc_restart has matched, but pushing to Action Handler failed: " +
					"push to action handler: status 422: refused with 422. Routing to ops_investigation for investigation."),
				team(queue),
			},
			wantPushed: []string{"day_duplicator_gc_restart"},
			wantLogs:   [][]string{{"event=action_push_failed", "rule_name=day_duplicator_gc_restart", "level=error", "team=ops_investigation"}},
		},
		{
			name: "no action handler for os_type",
			setup: setup{ruleJSON: map[string]string{
				"win.json": ruleWith(t, map[string]any{"os_type": "windows"})}},
			wantStatus: 200, wantResult: api.ResultRefused, wantCheck: 1,
			wantMatch: []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", Status: classify.PushNoHandler,
				Error: `no action handler configured for os_type "windows"`}},
			wantCalls: []tickettest.Call{
				note("Autoremediation rule day_duplicator_gc_restart has matched, but pushing to Action Handler failed: " +
					`no action handler configured for os_type "windows". Routing to ops_investigation for investigation.`),
				team(queue),
			},
			// The one line reporting counts for a remediation that did not run.
			wantLogs: [][]string{{"event=action_push_failed", "action_status=refused", "reason=no_handler",
				"rule_name=day_duplicator_gc_restart"}},
		},
		{
			name: "os_type is case-insensitive",
			setup: setup{ruleJSON: map[string]string{
				"gc.json": ruleWith(t, map[string]any{"os_type": "LINUX"})}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch:  []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantCalls:  []tickettest.Call{note(matchedNote), team(autoQueue)},
			wantPushed: []string{"day_duplicator_gc_restart"},
		},
		{
			name: "some pushes fail temporarily",
			setup: setup{ruleJSON: map[string]string{
				"a.json": ruleWith(t, map[string]any{"rule_name": "first"}),
				"b.json": ruleWith(t, map[string]any{"rule_name": "second"}),
			}, status: func(rule string) int {
				if rule == "second" {
					return http.StatusBadGateway
				}
				return http.StatusAccepted
			}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 2,
			wantMatch: []api.MatchedAction{
				{RuleName: "first", ExecutionID: "exec-1", Status: classify.PushAccepted},
				{RuleName: "second", Status: classify.PushUnavailable, Error: "push to action handler: status 502: refused with 502"},
			},
			wantCalls: []tickettest.Call{
				note("Autoremediation rule first has matched, pushing to Action Handler (execution exec-1)"),
				note("Autoremediation rule second has matched, but pushing to Action Handler failed: " +
					"push to action handler: status 502: refused with 502. It will not be retried. Routing to ops_investigation for investigation."),
				team(autoQueue),
				team(queue),
			},
			wantPushed: []string{"first", "second"},
			wantLogs:   [][]string{{"event=action_push_failed", "rule_name=second"}, {"event=rule_matched", "rule_name=first"}},
		},
		{
			name:       "deferred",
			setup:      setup{ruleJSON: map[string]string{"slow.json": withDuration(t, "20m")}},
			wantStatus: 200, wantResult: api.ResultDeferred, wantCheck: 1,
			wantLogs: [][]string{{"event=alert_deferred", "alert_id=" + alertID}, {"event=rule_deferred", "rule_name=day_duplicator_gc_restart"}},
		},
		{
			name:       "old enough",
			setup:      setup{ruleJSON: map[string]string{"slow.json": withDuration(t, "10m")}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch:  []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantCalls:  []tickettest.Call{note(matchedNote), team(autoQueue)},
			wantPushed: []string{"day_duplicator_gc_restart"},
		},
		{
			name: "matched wins over deferred",
			setup: setup{ruleJSON: map[string]string{
				"a.json": ruleWith(t, map[string]any{"rule_name": "now"}),
				"b.json": withDuration(t, "1h"),
			}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 2,
			wantMatch: []api.MatchedAction{{RuleName: "now", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantCalls: []tickettest.Call{note("Autoremediation rule now has matched, pushing to Action Handler (execution exec-1)"),
				team(autoQueue)},
			wantPushed: []string{"now"},
		},
		{
			name:       "createdAt missing fails closed",
			setup:      setup{ruleJSON: map[string]string{"slow.json": withDuration(t, "5m")}},
			alert:      map[string]any{"createdAt": nil},
			wantStatus: 200, wantResult: api.ResultUnmatched, wantCheck: 1,
			wantCalls: []tickettest.Call{
				note("Alexis checked 1 rule; none matched. Routing to ops_investigation for investigation. " +
					"Note: rule day_duplicator_gc_restart could not be evaluated: rule has duration 5m0s: createdAt: missing."),
				team(queue),
			},
			wantLogs: [][]string{{"event=rule_error", "rule_name=day_duplicator_gc_restart", "createdAt: missing"}},
		},
		{
			name:       "autoremediation queue disabled",
			setup:      setup{rules: []string{"gc_restart.json"}, noAuto: true},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch:  []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantCalls:  []tickettest.Call{note(matchedNote)},
			wantPushed: []string{"day_duplicator_gc_restart"},
		},
		{
			name:       "no ticket for the feed type",
			setup:      setup{rules: []string{"gc_restart.json"}, noTicket: true},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch:  []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantPushed: []string{"day_duplicator_gc_restart"},
			wantLogs:   [][]string{{"event=writeback_skipped", "alert_id=" + alertID}},
		},
		{
			name:       "no ticket, unmatched",
			setup:      setup{rules: []string{"gc_restart.json"}, noTicket: true},
			alert:      map[string]any{"tags": []string{}},
			wantStatus: 200, wantResult: api.ResultUnmatched, wantCheck: 1,
			wantLogs: [][]string{{"event=writeback_skipped"}},
		},
		{
			name:       "write-back fails after a push",
			setup:      setup{rules: []string{"gc_restart.json"}, ticket: &tickettest.Recorder{Err: errors.New("opsgenie down")}},
			wantStatus: 200, wantResult: api.ResultMatched, wantCheck: 1,
			wantMatch:  []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "exec-1", Status: classify.PushAccepted}},
			wantPushed: []string{"day_duplicator_gc_restart"},
			wantWBErr:  true,
			wantLogs:   [][]string{{"event=writeback_failed", "opsgenie down"}},
		},
		{
			name:       "write-back fails, unmatched",
			setup:      setup{rules: []string{"gc_restart.json"}, ticket: &tickettest.Recorder{Err: errors.New("opsgenie down")}},
			alert:      map[string]any{"tags": []string{}},
			wantStatus: 503, wantErr: "opsgenie down",
			wantLogs: [][]string{{"event=writeback_failed"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.setup)
			rec := h.do(t, http.MethodPost, "/v1/classifier", gcAlert(t, tc.alert), clientToken)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s\nlogs:\n%s", rec.Code, tc.wantStatus, rec.Body, h.logs)
			}
			if tc.wantStatus == 200 {
				var res classify.Result
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
					t.Fatal(err)
				}
				if res.Result != tc.wantResult || res.RulesChecked != tc.wantCheck || res.UniqueValue != "42" {
					t.Errorf("answer %s, want result %s, rules_checked %d, unique_value 42", rec.Body, tc.wantResult, tc.wantCheck)
				}
				if !equalJSON(res.Matched, tc.wantMatch) {
					t.Errorf("matched = %+v, want %+v", res.Matched, tc.wantMatch)
				}
				if (len(res.WritebackErrors) > 0) != tc.wantWBErr {
					t.Errorf("writeback_errors = %v", res.WritebackErrors)
				}
			} else {
				var e api.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tc.wantErr) {
					t.Errorf("error answer %s, want JSON error containing %q", rec.Body, tc.wantErr)
				}
			}
			if got := h.recorder.Calls(); !sameWrites(got, tc.wantCalls) {
				t.Errorf("write-back calls:\n got %+v\nwant %+v", got, tc.wantCalls)
			}
			var pushed []string
			for _, r := range h.ah.got() {
				pushed = append(pushed, r.Rule.Name)
				if r.Alert.Meta.UniqueValue != "42" || r.Alert.ID() != alertID {
					t.Errorf("pushed alert %s, want the classified one", r.Alert.Raw)
				}
			}
			slices.Sort(pushed) // pushed at once
			if strings.Join(pushed, ",") != strings.Join(tc.wantPushed, ",") {
				t.Errorf("pushed %v, want %v", pushed, tc.wantPushed)
			}
			for _, parts := range tc.wantLogs {
				if len(h.logs.lines(parts...)) == 0 {
					t.Errorf("no log line with %q in:\n%s", parts, h.logs)
				}
			}
			if n := len(h.logs.lines("event=writeback_skipped")); n > 1 {
				t.Errorf("%d writeback_skipped lines, want at most 1", n)
			}
		})
	}
}

// sameWrites reports whether got are the write-backs of want, in an order
// act may write them: the notes and the autoremediation team at once (any
// order), the investigation team after all of them.
func sameWrites(got, want []tickettest.Call) bool {
	if len(got) != len(want) {
		return false
	}
	key := func(c tickettest.Call) string { b, _ := json.Marshal(c); return string(b) }
	last := len(want) - 1
	if last >= 0 && want[last] == team(queue) {
		if got[last] != want[last] {
			return false
		}
		got, want = got[:last], want[:last]
	}
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i], w[i] = key(got[i]), key(want[i])
	}
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) == "null" {
		ja = []byte("[]")
	}
	if string(jb) == "null" {
		jb = []byte("[]")
	}
	return bytes.Equal(ja, jb)
}

func TestClassifyTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newHarness(t, setup{rules: []string{"gc_restart.json"}, timeout: 100 * time.Millisecond,
		status: func(string) int { <-release; return 202 }})
	rec := h.do(t, http.MethodPost, "/v1/classifier", gcAlert(t, nil), clientToken)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	if calls := h.recorder.Calls(); len(calls) != 0 {
		t.Errorf("written on a timeout: %+v", calls)
	}
}

func TestClassifyRequests(t *testing.T) {
	tests := []struct {
		name       string
		body       []byte
		token      string
		wantStatus int
		wantErr    string
	}{
		{name: "no token", body: []byte(`{}`), wantStatus: 401, wantErr: "missing or invalid token"},
		{name: "wrong token", body: []byte(`{}`), token: "not-the-token-0123456789", wantStatus: 401},
		{name: "malformed JSON", body: []byte(`{"id": `), token: clientToken, wantStatus: 400, wantErr: "malformed JSON"},
		{name: "not an object", body: []byte(`[1]`), token: clientToken, wantStatus: 400, wantErr: "JSON object"},
		{name: "empty body", token: clientToken, wantStatus: 400, wantErr: "empty"},
		{name: "no alexis object", body: []byte(`{"id": "x"}`), token: clientToken, wantStatus: 400, wantErr: "alexis"},
		{name: "no feed type", body: []byte(`{"alexis": {"unique_value": "1"}}`), token: clientToken, wantStatus: 400, wantErr: "alexis.feed_type"},
		{name: "body over the limit", body: append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), bodyLimit)...), `"}`...),
			token: clientToken, wantStatus: 413, wantErr: "body larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{rules: []string{"gc_restart.json"}})
			rec := h.do(t, http.MethodPost, "/v1/classifier", tc.body, tc.token)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tc.wantErr) {
				t.Errorf("answer %s, want a JSON error containing %q", rec.Body, tc.wantErr)
			}
			if len(h.ah.got()) != 0 || len(h.recorder.Calls()) != 0 {
				t.Error("a refused request had effects")
			}
		})
	}
}

func TestRules(t *testing.T) {
	h := newHarness(t, setup{rules: []string{"gc_restart.json", "missing_rule_name.json", "bad_regex.json"}})
	if rec := h.do(t, http.MethodGet, "/v1/rules", nil, ""); rec.Code != 401 {
		t.Errorf("without a token: %d, want 401", rec.Code)
	}
	rec := h.do(t, http.MethodGet, "/v1/rules", nil, clientToken)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got struct {
		Rules []map[string]any `json:"rules"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []struct{ file, name, status, errPath string }{
		{"bad_regex.json", "bad_regex", "invalid", "evaluation_list[0].evaluation.search_text"},
		{"gc_restart.json", "day_duplicator_gc_restart", "ok", ""},
		{"missing_rule_name.json", "", "invalid", "rule_name"},
	}
	if len(got.Rules) != len(want) {
		t.Fatalf("rules = %s", rec.Body)
	}
	for i, w := range want {
		r := got.Rules[i]
		for _, key := range []string{"file", "rule_name", "rule_version", "enabled", "status", "errors"} {
			if _, ok := r[key]; !ok {
				t.Errorf("rule %d has no %q: %v", i, key, r)
			}
		}
		errs, _ := r["errors"].([]any)
		if filepath.Base(r["file"].(string)) != w.file || r["rule_name"] != w.name || r["status"] != w.status {
			t.Errorf("rule %d = %v, want %+v", i, r, w)
		}
		if w.errPath == "" && len(errs) != 0 {
			t.Errorf("rule %d: errors %v, want none", i, errs)
		}
		if w.errPath != "" && (len(errs) == 0 || errs[0].(map[string]any)["path"] != w.errPath ||
			errs[0].(map[string]any)["message"] == "") {
			t.Errorf("rule %d: errors %v, want one at %s with a message", i, errs, w.errPath)
		}
	}
}

// A rule file dropped in, edited or deleted counts from the next alert on.
func TestClassifyRulesChangeWithoutRestart(t *testing.T) {
	h := newHarness(t, setup{})
	post := func() classify.Result {
		t.Helper()
		rec := h.do(t, http.MethodPost, "/v1/classifier", gcAlert(t, nil), clientToken)
		var res classify.Result
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &res) != nil {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return res
	}
	if res := post(); res.Result != api.ResultUnmatched || res.RulesChecked != 0 {
		t.Fatalf("no rules: %+v", res)
	}
	writeRule(t, h.dir, "gc.json", ruleWith(t, nil))
	if res := post(); res.Result != api.ResultMatched {
		t.Fatalf("after adding a rule: %+v", res)
	}
	writeRule(t, h.dir, "gc.json", ruleWith(t, map[string]any{"enabled": "false"}))
	if res := post(); res.Result != api.ResultUnmatched || res.RulesChecked != 0 {
		t.Fatalf("after disabling the rule: %+v", res)
	}
	writeRule(t, h.dir, "gc.json", ruleWith(t, nil))
	if err := os.Remove(filepath.Join(h.dir, "gc.json")); err != nil {
		t.Fatal(err)
	}
	if res := post(); res.Result != api.ResultUnmatched {
		t.Fatalf("after deleting the rule: %+v", res)
	}
}

func TestRulesVersionAndHash(t *testing.T) {
	h := newHarness(t, setup{rules: []string{"gc_restart.json"}})
	rec := h.do(t, http.MethodGet, "/v1/rules", nil, clientToken)
	var got RulesAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got.Rules) != 1 {
		t.Fatalf("answer %s", rec.Body)
	}
	f := got.Rules[0]
	if f.RuleVersion != "1.01" || len(f.SHA256) != 64 || f.Modified.IsZero() || f.Status != "ok" {
		t.Errorf("file = %+v", f)
	}
}

func TestExplain(t *testing.T) {
	h := newHarness(t, setup{rules: []string{"gc_restart.json", "bad_regex.json"}, ruleJSON: map[string]string{
		"slow.json": strings.Replace(withDuration(t, "1h"), `"day_duplicator_gc_restart"`, `"slow"`, 1),
		"v2.json": ruleWith(t, map[string]any{"rule_name": "v2", "evaluation_list": nil, "when": map[string]any{"all": []any{
			map[string]any{"path": "tags", "op": "tags_include", "value": []string{"syn.day"}},
			map[string]any{"path": "details.host", "op": "regex", "value": "^web"},
		}}}),
	}})
	if rec := h.do(t, http.MethodPost, "/v1/rules/explain", gcAlert(t, nil), ""); rec.Code != 401 {
		t.Errorf("without a token: %d", rec.Code)
	}
	if rec := h.do(t, http.MethodPost, "/v1/rules/explain", []byte(`{"id": 1}`), clientToken); rec.Code != 400 {
		t.Errorf("not an envelope: %d %s", rec.Code, rec.Body)
	}
	rec := h.do(t, http.MethodPost, "/v1/rules/explain", gcAlert(t, nil), clientToken)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got ExplainAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Result != api.ResultMatched || got.UniqueValue != "42" || got.FeedType != "OpsGenie" || !got.Now.Equal(testNow) {
		t.Errorf("answer %s", rec.Body)
	}
	status := map[string]rules.Explanation{}
	for _, x := range got.Rules {
		status[filepath.Base(x.File)] = x
	}
	if status["gc_restart.json"].Status != "matched" || status["bad_regex.json"].Status != "invalid" ||
		status["slow.json"].Status != "deferred" || status["v2.json"].Status != "not_matched" {
		t.Errorf("statuses: %s", rec.Body)
	}
	f := status["v2.json"].Failure
	if f == nil || f.RulePath != "when.all[1]" || f.AlertPath != "details.host" || f.Actual != `"app01.example.com"` {
		t.Errorf("failure %+v", f)
	}
	// Nothing was pushed or written.
	if len(h.ah.got()) != 0 || len(h.recorder.Calls()) != 0 {
		t.Errorf("explain acted: pushed %d, wrote %v", len(h.ah.got()), h.recorder.Calls())
	}
}

// A v2 rule is pushed in a form the action handler parses back, template
// and conditions included.
func TestClassifyV2Rule(t *testing.T) {
	v2 := ruleWith(t, map[string]any{"rule_name": "v2", "evaluation_list": nil, "min_age": "5m",
		"when": map[string]any{"all": []any{
			map[string]any{"path": "tags", "op": "tags_include", "value": []string{"syn.duplicator"}},
			map[string]any{"path": "description", "op": "regex", "value": `\(\d+(\.\d+)? s\)$`},
			map[string]any{"path": "details.host", "op": "ends_with", "value": ".example.com"},
		}},
		"task_list": []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "template": true,
			"run_command": "sudo systemctl restart {{ .details.service }}"}}},
		"entity_type": "path", "entity_path": "details.host", "entities": nil,
	})
	h := newHarness(t, setup{ruleJSON: map[string]string{"v2.json": v2}})
	rec := h.do(t, http.MethodPost, "/v1/classifier", gcAlert(t, map[string]any{
		"details": map[string]any{"host": "app01.example.com", "service": "duplicator"}}), clientToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"result":"matched"`) {
		t.Fatalf("status %d: %s\n%s", rec.Code, rec.Body, h.logs)
	}
	pushed := h.ah.got()
	if len(pushed) != 1 {
		t.Fatalf("pushed %d", len(pushed))
	}
	r := pushed[0].Rule
	if r.When == nil || !r.Tasks[0].Task.Template || r.EntityPath() != "details.host" {
		t.Errorf("pushed rule %+v", r)
	}
	cmd, err := remotessh.Command(r.Tasks[0].Task, pushed[0].Alert.Raw)
	if err != nil || cmd != "sudo systemctl restart 'duplicator'" {
		t.Errorf("command %q, %v", cmd, err)
	}
	hosts, err := r.ResolveEntities(pushed[0].Alert)
	if err != nil || strings.Join(hosts, ",") != "app01.example.com" {
		t.Errorf("entities %v, %v", hosts, err)
	}
}
