package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
)

// storeApprover decides straight in the store (engine.Approvals adds
// the notes, logs and metrics).
type storeApprover struct{ st *store.SQL }

func (storeApprover) CreationWritebacks(*store.Execution) []store.Writeback { return nil }
func (a storeApprover) Approve(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error) {
	return a.st.Approve(ctx, x.ID, by, reason)
}
func (a storeApprover) Deny(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error) {
	return a.st.Deny(ctx, x.ID, by, reason)
}

const (
	aliceTok  = "alice-approve-token-0123456789"
	bobTok    = "bob-approve-token-0123456789"
	carolTok  = "carol-approve-token-0123456789"
	daveTok   = "dave-adhoc-approve-token-0123456789"
	readerTok = "reader-read-token-0123456789"
)

// withApproval gives the action fixture's rule an approval block and
// another alert id.
func withApproval(t *testing.T, alertID, approval string) string {
	body := fixture(t, "action.json")
	body = strings.Replace(body, `"tinyId": "1791"`, `"tinyId": "`+alertID+`"`, 1)
	body = strings.Replace(body, `"unique_value": "1791"`, `"unique_value": "`+alertID+`"`, 1)
	body = strings.Replace(body, `"70413a06-38d6-4c85-92b8-5ebc900d42e2"`, `"alert-`+alertID+`"`, 1)
	return strings.Replace(body, `"route_to_team":`, `"approval": `+approval+`, "route_to_team":`, 1)
}

func TestApproveDenyRefusals(t *testing.T) {
	now := time.Now()
	var clock func() time.Time = func() time.Time { return now }
	a := newAPIWith(t, "alice:"+aliceTok+" scopes=approve\nbob:"+bobTok+" scopes=approve,read\ncarol:"+carolTok+
		" scopes=approve\ndave:"+daveTok+" scopes=adhoc,approve\nreader:"+readerTok+" scopes=read\n", func(h *Handler) {
		h.Approvals = storeApprover{h.Store.(*store.SQL)}
		h.Now = func() time.Time { return clock() }
	})
	post := func(tok, body string) api.ActionAccepted {
		t.Helper()
		code, b := a.do(http.MethodPost, "/v1/action", tok, body)
		var acc api.ActionAccepted
		if code != http.StatusAccepted || json.Unmarshal(b, &acc) != nil || acc.Status != api.ExecAwaitingApproval {
			t.Fatalf("post: %d %s", code, b)
		}
		return acc
	}
	named := post(token, withApproval(t, "1", `{"required": true, "expires": "10m", "approvers": ["alice", "bob", "dave"]}`))
	anyone := post(daveTok, withApproval(t, "2", `{"required": true}`))
	clock = func() time.Time { return now.Add(-time.Hour) } // created an hour ago: expired
	late := post(token, withApproval(t, "3", `{"required": true, "expires": "30m"}`))
	clock = func() time.Time { return now }
	if a.woken != 0 {
		t.Fatalf("workers woken for executions awaiting approval")
	}
	// The same alert again joins the waiting execution.
	code, b := a.do(http.MethodPost, "/v1/action", token, withApproval(t, "1", `{"required": true, "expires": "10m", "approvers": ["alice", "bob", "dave"]}`))
	var dup api.ActionAccepted
	if code != http.StatusOK || json.Unmarshal(b, &dup) != nil || dup.ExecutionID != named.ExecutionID || dup.Status != api.ExecAwaitingApproval {
		t.Fatalf("duplicate: %d %s", code, b)
	}
	path := func(id, op string) string { return "/v1/executions/" + id + "/" + op }
	for _, tc := range []struct {
		name, tok, path, body string
		code                  int
		want                  string
		status                string // api.Error.Status of a 409
	}{
		{"no reason", aliceTok, path(named.ExecutionID, "approve"), `{}`, 400, "reason: required", ""},
		{"blank reason", aliceTok, path(named.ExecutionID, "approve"), `{"reason": " "}`, 400, "reason: required", ""},
		{"too long", aliceTok, path(named.ExecutionID, "deny"), `{"reason": "` + strings.Repeat("x", engine.MaxDecisionReason+1) + `"}`, 400, "reason: longer than 500", ""},
		{"control character", aliceTok, path(named.ExecutionID, "approve"), `{"reason": "ok\u001b[2J"}`, 400, "reason: must not contain control characters", ""},
		{"newline", aliceTok, path(named.ExecutionID, "deny"), `{"reason": "a\nb"}`, 400, "control characters", ""},
		{"unknown field", aliceTok, path(named.ExecutionID, "approve"), `{"reason": "x", "by": "root"}`, 400, `unknown field \"by\"`, ""},
		{"not JSON", aliceTok, path(named.ExecutionID, "approve"), `reason=x`, 400, "body:", ""},
		{"two objects", aliceTok, path(named.ExecutionID, "approve"), `{"reason": "x"} {}`, 400, "one JSON object", ""},
		{"no scope approve", readerTok, path(named.ExecutionID, "approve"), `{"reason": "x"}`, 403, `"missing_scope":"approve"`, ""},
		{"adhoc is not approve", token, path(named.ExecutionID, "deny"), `{"reason": "x"}`, 403, `"missing_scope":"approve"`, ""},
		{"not an approver", carolTok, path(named.ExecutionID, "approve"), `{"reason": "x"}`, 403, `token \"carol\" is not one of rule`, ""},
		{"not an approver denies", carolTok, path(named.ExecutionID, "deny"), `{"reason": "x"}`, 403, "approval.approvers", ""},
		{"own request", daveTok, path(anyone.ExecutionID, "approve"), `{"reason": "x"}`, 403, `token \"dave\" requested this execution`, ""},
		{"unknown id", aliceTok, path("0123abcd", "approve"), `{"reason": "x"}`, 404, `no execution \"0123abcd\"`, ""},
		{"expired", aliceTok, path(late.ExecutionID, "approve"), `{"reason": "x"}`, 409, "approval expired", store.Expired},
		{"approved", aliceTok, path(named.ExecutionID, "approve"), `{"reason": "checked the graphs"}`, 200, `"decided_by":"alice"`, ""},
		{"approved twice", bobTok, path(named.ExecutionID, "approve"), `{"reason": "me too"}`, 409, "is queued, not awaiting approval", store.Queued},
		{"denied after approval", bobTok, path(named.ExecutionID, "deny"), `{"reason": "no"}`, 409, "not awaiting approval", store.Queued},
		{"anyone with approve denies", carolTok, path(anyone.ExecutionID, "deny"), `{"reason": "not during the sale"}`, 200, `"status":"denied"`, ""},
		{"denied twice", aliceTok, path(anyone.ExecutionID, "deny"), `{"reason": "x"}`, 409, "is denied", store.Denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.do(http.MethodPost, tc.path, tc.tok, tc.body)
			if code != tc.code || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s, want %d %q", code, body, tc.code, tc.want)
			}
			if tc.status != "" {
				var ae api.Error
				if json.Unmarshal(body, &ae) != nil || ae.Status != tc.status {
					t.Fatalf("409 status %q, want %q: %s", ae.Status, tc.status, body)
				}
			}
		})
	}
	if a.woken != 1 {
		t.Fatalf("woken %d times, want once (the approval)", a.woken)
	}
	code, b = a.do(http.MethodGet, "/v1/executions/"+named.ExecutionID, bobTok, "")
	var x api.Execution
	if code != 200 || json.Unmarshal(b, &x) != nil || x.Status != api.ExecQueued || x.DecidedBy != "alice" ||
		x.DecisionReason != "checked the graphs" || x.DecidedAt == nil || x.ApprovalExpiresAt == nil ||
		!x.ApprovalExpiresAt.Equal(now.Add(10*time.Minute).UTC().Truncate(time.Microsecond)) {
		t.Fatalf("get: %d %s", code, b)
	}
	code, b = a.do(http.MethodGet, "/v1/executions?status=awaiting_approval", bobTok, "")
	var l api.ExecutionList
	if code != 200 || json.Unmarshal(b, &l) != nil || len(l.Executions) != 1 || l.Executions[0].ID != late.ExecutionID {
		t.Fatalf("list awaiting: %d %s", code, b)
	}
}
