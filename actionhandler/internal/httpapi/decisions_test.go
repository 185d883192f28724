package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
)

const (
	recorderToken = "recorder-token-0123456789"
	readOnlyToken = "read-only-token-0123456789"
)

func decisionTokens() string {
	return "recorder:" + recorderToken + " scopes=record\nviewer:" + readOnlyToken + " scopes=read\n"
}

func decisionJSON(id, alertID, result string, at time.Time) string {
	return fmt.Sprintf(`{"id": %q, "received_at": %q, "feed_type": "OpsGenie", "feed_name": "incoming",
		"alert_id": %q, "unique_value": "u-%s", "summary": "disk full", "result": %q, "rules_checked": 2,
		"rules": [{"file": "disk.json", "rule_name": "disk", "status": "not_matched", "rule_path": "evaluation_list[0]",
		"alert_path": "message", "op": "contains", "expected": "cpu", "actual": "disk full"}],
		"payload": {"id": %q, "message": "disk full"}}`, id, at.Format(time.RFC3339Nano), alertID, alertID, result, alertID)
}

func batch(ds ...string) string { return `{"decisions": [` + strings.Join(ds, ",") + `]}` }

func TestPostAndGetDecisions(t *testing.T) {
	a := newAPIWith(t, decisionTokens(), nil)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	code, body := a.do(http.MethodPost, "/v1/decisions", recorderToken,
		batch(decisionJSON("d1", "a1", api.ResultUnmatched, now), decisionJSON("d2", "a2", api.ResultDeferred, now.Add(time.Second))))
	if code != http.StatusOK || strings.TrimSpace(string(body)) != `{"recorded":2}` {
		t.Fatalf("post: %d %s", code, body)
	}
	// Again: idempotent.
	code, body = a.do(http.MethodPost, "/v1/decisions", recorderToken, batch(decisionJSON("d1", "a1", api.ResultUnmatched, now)))
	if code != http.StatusOK {
		t.Fatalf("post again: %d %s", code, body)
	}
	code, body = a.do(http.MethodGet, "/v1/decisions?limit=1", readOnlyToken, "")
	var list api.DecisionList
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list.Decisions) != 1 ||
		list.Decisions[0].ID != "d2" || list.Decisions[0].Payload != nil || list.NextCursor == "" {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = a.do(http.MethodGet, "/v1/decisions?limit=1&cursor="+url.QueryEscape(list.NextCursor), readOnlyToken, "")
	list = api.DecisionList{}
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list.Decisions) != 1 ||
		list.Decisions[0].ID != "d1" || list.NextCursor != "" {
		t.Fatalf("page 2: %d %s", code, body)
	}
	code, body = a.do(http.MethodGet, "/v1/decisions?outcome=deferred&q=U-A2&feed_type=OpsGenie&since="+
		url.QueryEscape(now.Format(time.RFC3339)), readOnlyToken, "")
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list.Decisions) != 1 || list.Decisions[0].ID != "d2" {
		t.Fatalf("filtered: %d %s", code, body)
	}
	code, body = a.do(http.MethodGet, "/v1/decisions/d1", readOnlyToken, "")
	var d api.Decision
	if err := json.Unmarshal(body, &d); code != http.StatusOK || err != nil || d.ID != "d1" || !d.ReceivedAt.Equal(now) ||
		string(d.Payload) != `{"id":"a1","message":"disk full"}` || len(d.Rules) != 1 || d.Rules[0].Actual != "disk full" {
		t.Fatalf("get: %d %s", code, body)
	}
	for _, id := range []string{"nope", strings.Repeat("x", 100)} {
		if code, body := a.do(http.MethodGet, "/v1/decisions/"+id, readOnlyToken, ""); code != http.StatusNotFound {
			t.Errorf("get %s: %d %s", id[:4], code, body)
		}
	}
}

func TestPostDecisionsRefused(t *testing.T) {
	now := time.Now()
	valid := decisionJSON("d1", "a1", api.ResultUnmatched, now)
	many := make([]string, api.MaxDecisionBatch+1)
	for i := range many {
		many[i] = `{}`
	}
	for _, tc := range []struct {
		name      string
		token     string
		body      string
		status    int
		missing   string
		errSubstr string
	}{
		{name: "read-only token", token: readOnlyToken, body: batch(valid), status: http.StatusForbidden, missing: "record"},
		{name: "act and adhoc are not record", token: token, body: batch(valid), status: http.StatusForbidden, missing: "record"},
		{name: "no token", body: batch(valid), status: http.StatusUnauthorized},
		{name: "not JSON", token: recorderToken, body: `{"decisions": [`, status: http.StatusBadRequest, errSubstr: "body:"},
		{name: "no decisions", token: recorderToken, body: `{}`, status: http.StatusBadRequest, errSubstr: "decisions: required"},
		{name: "unknown top-level field", token: recorderToken, body: `{"decisions": [], "x": 1}`, status: http.StatusBadRequest,
			errSubstr: `unknown field "x"`},
		{name: "trailing data", token: recorderToken, body: batch(valid) + `{}`, status: http.StatusBadRequest, errSubstr: "after"},
		{name: "too many", token: recorderToken, body: batch(many...), status: http.StatusBadRequest, errSubstr: "at most 500"},
		{name: "unknown field in a decision", token: recorderToken,
			body: batch(valid, `{"id": "d2", "result": "matched", "hosts_acted": []}`), status: http.StatusBadRequest,
			errSubstr: `decisions[1]: json: unknown field "hosts_acted"`},
		{name: "wrong type", token: recorderToken, body: batch(valid, `{"id": "d2", "result": "matched", "rules_checked": "3"}`),
			status: http.StatusBadRequest, errSubstr: "decisions[1]: rules_checked: want int"},
		{name: "bad id", token: recorderToken, body: batch(valid, `{"id": "../../etc", "result": "matched"}`),
			status: http.StatusBadRequest, errSubstr: "decisions[1].id: want 1 to 64 characters"},
		{name: "bad result", token: recorderToken, body: batch(`{"id": "d2", "result": "<script>"}`),
			status: http.StatusBadRequest, errSubstr: "decisions[0].result: want matched"},
		{name: "over the body limit", token: recorderToken, body: batch(`{"id": "d2", "result": "matched", "summary": "` +
			strings.Repeat("x", 5000) + `"}`), status: http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPIWith(t, decisionTokens(), nil)
			code, body := a.do(http.MethodPost, "/v1/decisions", tc.token, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			var ae api.Error
			if err := json.Unmarshal(body, &ae); err != nil || ae.MissingScope != tc.missing || !strings.Contains(ae.Error, tc.errSubstr) {
				t.Fatalf("answer %s, want missing_scope %q and %q", body, tc.missing, tc.errSubstr)
			}
			if strings.Contains(ae.Error, "<script>") {
				t.Errorf("the answer quotes the value: %s", body)
			}
			// Nothing recorded.
			_, body = a.do(http.MethodGet, "/v1/decisions", readOnlyToken, "")
			if strings.TrimSpace(string(body)) != `{"decisions":[]}` {
				t.Errorf("recorded by a refused batch: %s", body)
			}
		})
	}
}

func TestListDecisionsBadParams(t *testing.T) {
	a := newAPIWith(t, decisionTokens(), nil)
	for _, tc := range []struct{ query, errSubstr string }{
		{"status=success", `unknown parameter "status"`},
		{"outcome=won", "outcome: want"},
		{"since=yesterday", "since: want an RFC 3339 time"},
		{"until=2025", "until: want an RFC 3339 time"},
		{"limit=0", "limit: want 1..500"},
		{"limit=501", "limit: want 1..500"},
		{"cursor=!!", "cursor: not one this API gave"},
		{"host=a&host=b", "host: given more than once"},
		{"q=" + strings.Repeat("x", 300), "q: longer than 256 bytes"},
	} {
		code, body := a.do(http.MethodGet, "/v1/decisions?"+tc.query, readOnlyToken, "")
		var ae api.Error
		if code != http.StatusBadRequest || json.Unmarshal(body, &ae) != nil || !strings.Contains(ae.Error, tc.errSubstr) {
			t.Errorf("%.40s: %d %s, want 400 with %q", tc.query, code, body, tc.errSubstr)
		}
	}
}

// An action posted directly (not signed by the classifier) gets a
// decision of its own, result direct, linked to its execution; one the
// classifier signed does not (the classifier records its decision).
func TestDirectActionRecordsDecision(t *testing.T) {
	valid := fixture(t, "action.json")
	a := newAPIWith(t, decisionTokens()+"classifier:"+classifierToken+"\n", func(h *Handler) {
		h.Key, _ = auth.NewKey([]byte(signingKey))
	})
	code, body := a.do(http.MethodPost, "/v1/action", token, valid)
	var acc api.ActionAccepted
	if err := json.Unmarshal(body, &acc); code != http.StatusAccepted || err != nil {
		t.Fatalf("post: %d %s", code, body)
	}
	code, body = a.do(http.MethodGet, "/v1/decisions/"+DirectDecisionPrefix+acc.ExecutionID, readOnlyToken, "")
	var d api.Decision
	if err := json.Unmarshal(body, &d); code != http.StatusOK || err != nil {
		t.Fatalf("get: %d %s", code, body)
	}
	if d.Result != api.ResultDirect || d.RequestedBy != "oncall" || d.AlertID != "70413a06-38d6-4c85-92b8-5ebc900d42e2" ||
		d.UniqueValue != "1791" || d.FeedType != "OpsGenie" || d.Summary != "duplicator: Long garbage-collection time" ||
		len(d.Matched) != 1 || d.Matched[0].RuleName != "day_duplicator_gc_restart" || d.Matched[0].ExecutionID != acc.ExecutionID ||
		len(d.Executions) != 1 || d.Executions[0].ID != acc.ExecutionID || d.Executions[0].Status != api.ExecQueued ||
		len(d.Hosts) != 2 || len(d.Payload) == 0 {
		t.Fatalf("direct decision: %s", body)
	}
	// On the timeline by host and outcome.
	code, body = a.do(http.MethodGet, "/v1/decisions?host=APP02:2222&outcome=queued", readOnlyToken, "")
	var list api.DecisionList
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list.Decisions) != 1 {
		t.Fatalf("by host: %d %s", code, body)
	}
	// Signed by the classifier: no decision of the action handler's own.
	other := strings.Replace(valid, `"unique_value": "1791"`, `"unique_value": "1792"`, 1)
	other = strings.Replace(other, "70413a06", "80413a06", 1)
	req := httpRequest(http.MethodPost, "/v1/action", classifierToken, other)
	req.Header.Set(auth.SignatureHeader, signedAt(t, signingKey, other, time.Now()))
	code, body = a.serve(req)
	if err := json.Unmarshal(body, &acc); code != http.StatusAccepted || err != nil {
		t.Fatalf("signed: %d %s", code, body)
	}
	if code, body := a.do(http.MethodGet, "/v1/decisions/"+DirectDecisionPrefix+acc.ExecutionID, readOnlyToken, ""); code != http.StatusNotFound {
		t.Errorf("signed action got a direct decision: %d %s", code, body)
	}
	if _, body := a.do(http.MethodGet, "/v1/decisions", readOnlyToken, ""); strings.Count(string(body), `"result":"direct"`) != 1 {
		t.Errorf("decisions: %s", body)
	}
}

// FuzzPostDecisions: whatever the body, POST /v1/decisions answers 200,
// 400 or 413, never an error of its own, and GET lists what it recorded.
func FuzzPostDecisions(f *testing.F) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Add(batch(decisionJSON("d1", "a1", api.ResultUnmatched, now)))
	f.Add(batch(`{"id": "d2", "result": "matched", "matched": [{"rule_name": "r", "execution_id": "nope"}]}`))
	f.Add(`{"decisions": [{"id": "d3", "result": "direct", "payload": [1, {"a": null}], "rules": [{}]}]}`)
	f.Add(`{"decisions": null}`)
	f.Add(`[]`)
	a := newAPIWith(f, decisionTokens(), nil)
	f.Fuzz(func(t *testing.T, body string) {
		code, resp := a.do(http.MethodPost, "/v1/decisions", recorderToken, body)
		if code != http.StatusOK && code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %s", code, resp)
		}
		if code, resp := a.do(http.MethodGet, "/v1/decisions?limit=500", readOnlyToken, ""); code != http.StatusOK {
			t.Fatalf("list: %d %s", code, resp)
		}
	})
}
