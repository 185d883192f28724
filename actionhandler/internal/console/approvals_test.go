package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
)

const approverToken = "alice-approve-token-0123456789"

// storeApprovals decides straight in the store.
type storeApprovals struct{ st *store.SQL }

func (a storeApprovals) Approve(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error) {
	return a.st.Approve(ctx, x.ID, by, reason)
}
func (a storeApprovals) Deny(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error) {
	return a.st.Deny(ctx, x.ID, by, reason)
}

const approvalRequest = `{"id": "og-1", "tinyId": "1", "message": "m", "tags": ["t"],
 "alexis": {"unique_key": "tinyId", "unique_value": "1", "feed_type": "OpsGenie", "feed_name": "incoming"},
 "rule": {"enabled": "true", "os_type": "linux", "rule_name": "restart_app", "alert_feed": "OpsGenie",
  "evaluation_list": [{"evaluation": {"tags": ["t"]}}],
  "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "systemctl restart app", "action": "restart"}}],
  "entity_type": "explicit", "entities": ["web01"], "route_to_team": "ops",
  "approval": {"required": true, "approvers": ["alice"]}}}`

// An execution awaiting approval shows until when it waits; only a
// session with scope approve (one of the rule's approvers) gets the
// forms, and may use them with the CSRF token and a reason; then the
// page says who decided.
func TestApproveAndDenyForms(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		tokens, err := auth.ParseTokens([]byte("reader:"+readToken+"\nadmin:"+adminToken+" scopes=admin\nalice:"+approverToken+
			" scopes=read,approve\n"), auth.DefaultsActionHandler)
		if err != nil {
			t.Fatal(err)
		}
		o.Tokens = tokens
		o.Approvals = storeApprovals{o.Store.(*store.SQL)}
	})
	create := func(id, alert string) {
		t.Helper()
		x := &store.Execution{ID: id, AlertID: alert, UniqueValue: alert, FeedType: "OpsGenie", FeedName: "incoming",
			RuleName: "restart_app", Client: "classifier", Request: []byte(approvalRequest), Entities: []string{"web01"},
			ApprovalExpiresAt: time.Now().Add(time.Hour)}
		if _, created, err := e.st.Create(ctx, x, time.Hour); err != nil || !created {
			t.Fatal(created, err)
		}
	}
	create("ex1", "og-1")
	create("ex2", "og-2")
	d := decision("d1", e.clock.Now().Add(-time.Minute), api.ResultMatched)
	d.AlertID, d.Matched = "og-1", []api.MatchedAction{{RuleName: "restart_app", ExecutionID: "ex1", Status: "accepted"}}
	if err := e.st.RecordDecisions(ctx, []api.Decision{d}); err != nil {
		t.Fatal(err)
	}
	reader := e.login(readToken)
	_, body := e.get(reader, "/console/executions/ex1")
	if !strings.Contains(body, `class="approval-waiting"`) || !strings.Contains(body, "Waits for approval until") {
		t.Fatalf("no approval state:\n%s", body)
	}
	if strings.Contains(body, "approve-form") {
		t.Errorf("a reader sees the approve form")
	}
	if !strings.Contains(body, `href="/console/alerts/d1#execution-ex1"`) {
		t.Errorf("no link to the alert's story:\n%s", body)
	}
	// The alert page shows it too, and the timeline filters by it.
	if _, body := e.get(reader, "/console/alerts/d1"); !strings.Contains(body, `class="approval-waiting"`) {
		t.Errorf("alert page lacks the approval:\n%s", body)
	}
	if _, body := e.get(reader, "/console/?outcome=awaiting_approval"); !strings.Contains(body, `data-id="d1"`) {
		t.Errorf("timeline outcome=awaiting_approval lacks d1:\n%s", body)
	}
	token := csrfOf(t, body)
	if resp, _ := e.post(reader, "/console/executions/ex1/approve", url.Values{"csrf": {token}, "reason": {"ok"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reader approved: %d", resp.StatusCode)
	}
	// admin has every scope, but is not one of the rule's approvers.
	admin := e.login(adminToken)
	_, body = e.get(admin, "/console/executions/ex1")
	token = csrfOf(t, body[strings.Index(body, "approve-form"):])
	if resp, body := e.post(admin, "/console/executions/ex1/approve", url.Values{"csrf": {token}, "reason": {"ok"}}, nil); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(body, "approval.approvers") {
		t.Errorf("admin approved: %d %s", resp.StatusCode, body)
	}

	alice := e.login(approverToken)
	_, body = e.get(alice, "/console/executions/ex1")
	if !strings.Contains(body, `class="approve-form" method="post" action="/console/executions/ex1/approve"`) ||
		!strings.Contains(body, `class="deny-form" method="post" action="/console/executions/ex1/deny"`) {
		t.Fatalf("no forms for alice:\n%s", body)
	}
	token = csrfOf(t, body[strings.Index(body, "approve-form"):])
	for _, tc := range []struct {
		name string
		form url.Values
		code int
	}{
		{"no csrf", url.Values{"reason": {"ok"}}, http.StatusForbidden},
		{"no reason", url.Values{"csrf": {token}, "reason": {" "}}, http.StatusBadRequest},
		{"control character", url.Values{"csrf": {token}, "reason": {"a\x1bb"}}, http.StatusBadRequest},
		{"too long", url.Values{"csrf": {token}, "reason": {strings.Repeat("x", 501)}}, http.StatusBadRequest},
	} {
		if resp, body := e.post(alice, "/console/executions/ex1/approve", tc.form, nil); resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if x, _ := e.st.Get(ctx, "ex1"); x.Status != store.AwaitingApproval {
		t.Fatalf("refused forms decided it: %s", x.Status)
	}
	resp, _ := e.post(alice, "/console/executions/ex1/approve", url.Values{"csrf": {token}, "reason": {"graphs look fine"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/executions/ex1?decided=approve" {
		t.Fatalf("approve: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if x, _ := e.st.Get(ctx, "ex1"); x.Status != store.Queued || x.DecidedBy != "alice" {
		t.Fatalf("after approve: %+v", x)
	}
	if _, body := e.get(alice, "/console/alerts/d1"); !strings.Contains(body, "Approved by <strong>alice</strong>") {
		t.Errorf("alert page after approval:\n%s", body)
	}
	_, body = e.get(alice, "/console/executions/ex1?decided=approve")
	if !strings.Contains(body, "Approved by <strong>alice</strong>") || !strings.Contains(body, "graphs look fine") ||
		strings.Contains(body, "approve-form") {
		t.Errorf("decided page:\n%s", body)
	}
	if resp, _ := e.post(alice, "/console/executions/ex1/deny", url.Values{"csrf": {token}, "reason": {"no"}}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("deny after approve: %d", resp.StatusCode)
	}
	if resp, _ := e.post(alice, "/console/executions/ex2/deny", url.Values{"csrf": {token}, "reason": {"not now"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deny: %d", resp.StatusCode)
	}
	_, body = e.get(reader, "/console/executions/ex2")
	if !strings.Contains(body, "Denied by <strong>alice</strong>") || !strings.Contains(body, "not now") {
		t.Errorf("denied page:\n%s", body)
	}
	if resp, _ := e.get(reader, "/console/executions/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown: %d", resp.StatusCode)
	}
}
