package main

// Approvals (docs/rollout.md#approvals) through the real binary, real
// sshd and the local OpsGenie: an execution of a rule that requires
// approval waits, noted on the ticket, also across a restart; approved,
// it runs once; denied or expired, nothing runs and the alert goes to
// the investigation queue; two replicas racing to approve give one
// success; a duplicate alert joins the waiting execution.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/pgtest"
)

const (
	aliceToken = "alice-approve-token-9f3b2c7d1e"
	bobToken   = "bob-approve-token-4a8e6d0c2b"
)

const approvalTokens = "oncall:" + token + " scopes=adhoc,read,metrics\nalice:" + aliceToken +
	" scopes=approve,read\nbob:" + bobToken + " scopes=approve\n"

// decide posts {"reason": reason} to /v1/executions/ID/OP with tok.
func (p *proc) decide(tok, id, op, reason string) (int, string) {
	p.t.Helper()
	body, _ := json.Marshal(api.DecisionRequest{Reason: reason})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/executions/"+id+"/"+op, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// current is execution id as it stands (not waiting for its report).
func (p *proc) current(id string) api.Execution {
	var x api.Execution
	p.get("/v1/executions/"+id, &x)
	return x
}

func approvalRule(e *env, name, marker string, approval map[string]any) map[string]any {
	return map[string]any{"rule_name": name, "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"approval":  approval,
		"task_list": []any{sshTask("echo ran >> " + marker)}}
}

// noteWith waits for a note on alert id containing every part.
func noteWith(t *testing.T, og *opsgenietest.Server, id string, parts ...string) string {
	t.Helper()
	var found string
	waitFor(t, "note with "+strings.Join(parts, ", "), func() bool {
		for _, n := range og.Notes(id) {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(n, p)
			}
			if ok {
				found = n
				return true
			}
		}
		return false
	})
	return found
}

// Waiting survives a restart; approved, it runs exactly once and the
// ticket names the approver; the same alert again joins the execution.
func TestApprovalAcrossRestartRunsOnce(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s, poll_interval: 200ms}\nconsole: {public_url: https://alexis.example.com/console}\n",
		filepath.Join(e.dir, "ah.db")))
	e.write("tokens", approvalTokens)
	p := e.start(cfg)
	marker := filepath.Join(e.dir, "marker")
	rule := approvalRule(e, "restart_approved", marker, map[string]any{"required": true, "expires": "30m", "approvers": []string{"alice"}})
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	code, acc := p.post(request(a, rule))
	if code != http.StatusAccepted || acc.Status != api.ExecAwaitingApproval {
		t.Fatalf("post: %d %+v", code, acc)
	}
	id := acc.ExecutionID
	note := noteWith(t, e.og, a.ID, "[approval] Alexis rule restart_approved would run:", "echo ran >> "+marker,
		"on "+e.ssh.Addr, "It waits for approval until ", "alexisctl approve "+id+" -reason WHY",
		"https://alexis.example.com/console/executions/"+id)
	p.waitLog("awaiting log", "event=execution_awaiting_approval", "execution_id="+id)
	if code, dup := p.post(request(a, rule)); code != http.StatusOK || dup.ExecutionID != id || dup.Status != api.ExecAwaitingApproval {
		t.Fatalf("duplicate while waiting: %d %+v", code, dup)
	}
	if m := p.get("/metrics", nil); !strings.Contains(m, "actionhandler_executions_awaiting_approval 1") {
		t.Errorf("gauge:\n%s", grepLines(m, "approval"))
	}
	p.stop()

	p2 := e.start(cfg)
	if x := p2.current(id); x.Status != api.ExecAwaitingApproval || x.ApprovalExpiresAt == nil {
		t.Fatalf("after restart: %+v", x)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("ran before it was approved")
	}
	if code, dup := p2.post(request(a, rule)); code != http.StatusOK || dup.ExecutionID != id {
		t.Fatalf("duplicate after restart: %d %+v", code, dup)
	}
	if code, body := p2.decide(bobToken, id, "approve", "me"); code != http.StatusForbidden || !strings.Contains(body, "approval.approvers") {
		t.Errorf("bob is not an approver: %d %s", code, body)
	}
	if code, body := p2.decide(token, id, "approve", "me"); code != http.StatusForbidden || !strings.Contains(body, `"missing_scope":"approve"`) {
		t.Errorf("oncall has no scope approve: %d %s", code, body)
	}
	code, body := p2.decide(aliceToken, id, "approve", "checked the graphs")
	if code != http.StatusOK || !strings.Contains(body, `"decided_by":"alice"`) {
		t.Fatalf("approve: %d %s", code, body)
	}
	x := p2.execution(id)
	if x.Status != api.ExecSuccess || x.DecidedBy != "alice" || x.DecisionReason != "checked the graphs" || x.DecidedAt == nil {
		t.Fatalf("approved execution: %+v", x)
	}
	if n := lines(marker); n != 1 {
		t.Errorf("ran %d times, want once", n)
	}
	if code, body := p2.decide(aliceToken, id, "approve", "again"); code != http.StatusConflict || !strings.Contains(body, `"status":"success"`) {
		t.Errorf("approve again: %d %s", code, body)
	}
	noteWith(t, e.og, a.ID, "approved by alice: checked the graphs")
	waitFor(t, "the rule's routing", func() bool { return slices.Contains(e.og.Teams(a.ID), "ops_unix") })
	p2.waitLog("approved log", "event=execution_approved", "execution_id="+id, "client=alice", "detail=\"checked the graphs\"")
	m := p2.get("/metrics", nil)
	if !strings.Contains(m, `actionhandler_approvals_total{outcome="approved"} 1`) ||
		!strings.Contains(m, "actionhandler_executions_awaiting_approval 0") {
		t.Errorf("metrics:\n%s", grepLines(m, "approv"))
	}
	assertNoToken(t, note+p.logs.String()+p2.logs.String())
}

func assertNoToken(t *testing.T, text string) {
	t.Helper()
	for _, tok := range []string{token, aliceToken, bobToken} {
		if strings.Contains(text, tok) {
			t.Fatalf("a token appears in notes or logs")
		}
	}
}

// Denied or expired: nothing runs; the ticket says why and goes to the
// investigation queue.
func TestApprovalDeniedAndExpiredRunNothing(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s, poll_interval: 200ms}\n", filepath.Join(e.dir, "ah.db")))
	e.write("tokens", approvalTokens)
	p := e.start(cfg)
	marker := filepath.Join(e.dir, "marker")
	denied := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "denied", Teams: []string{"incoming"}})
	code, acc := p.post(request(denied, approvalRule(e, "restart_denied", marker, map[string]any{"required": true})))
	if code != http.StatusAccepted || acc.Status != api.ExecAwaitingApproval {
		t.Fatalf("post: %d %+v", code, acc)
	}
	noteWith(t, e.og, denied.ID, "[approval]", "POST /v1/executions/"+acc.ExecutionID+"/approve")
	if code, body := p.decide(bobToken, acc.ExecutionID, "deny", ""); code != http.StatusBadRequest || !strings.Contains(body, "reason: required") {
		t.Errorf("deny without reason: %d %s", code, body)
	}
	code, body := p.decide(bobToken, acc.ExecutionID, "deny", "not during the sale")
	if code != http.StatusOK || !strings.Contains(body, `"status":"denied"`) {
		t.Fatalf("deny: %d %s", code, body)
	}
	noteWith(t, e.og, denied.ID, "denied by bob: not during the sale", "Sent to queue_needsinvestigation")
	waitFor(t, "denied: investigation queue", func() bool {
		return slices.Contains(e.og.Teams(denied.ID), "queue_needsinvestigation")
	})
	if code, body := p.decide(aliceToken, acc.ExecutionID, "approve", "too late"); code != http.StatusConflict || !strings.Contains(body, `"status":"denied"`) {
		t.Errorf("approve after deny: %d %s", code, body)
	}
	p.waitLog("denied log", "event=execution_denied", "client=bob")
	p.waitLog("denied finished", "event=execution_finished", "action_status=denied", "execution_id="+acc.ExecutionID)

	expired := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "expired", Teams: []string{"incoming"}})
	_, acc2 := p.post(request(expired, approvalRule(e, "restart_expired", marker, map[string]any{"required": true, "expires": "1s"})))
	if acc2.Status != api.ExecAwaitingApproval {
		t.Fatalf("post: %+v", acc2)
	}
	waitFor(t, "expired", func() bool { return p.current(acc2.ExecutionID).Status == api.ExecExpired })
	x := p.current(acc2.ExecutionID)
	if x.FinishedAt == nil || x.ReportedAt == nil || x.DecidedBy != "" || len(x.Steps) != 0 {
		t.Errorf("expired: %+v", x)
	}
	noteWith(t, e.og, expired.ID, "neither approved nor denied before", "Sent to queue_needsinvestigation")
	waitFor(t, "expired: investigation queue", func() bool {
		return slices.Contains(e.og.Teams(expired.ID), "queue_needsinvestigation")
	})
	p.waitLog("expired log", "event=approval_expired", "execution_id="+acc2.ExecutionID)
	p.waitLog("expired finished", "event=execution_finished", "action_status=expired", "execution_id="+acc2.ExecutionID)
	if code, body := p.decide(aliceToken, acc2.ExecutionID, "approve", "late"); code != http.StatusConflict || !strings.Contains(body, `"status":"expired"`) {
		t.Errorf("approve after expiry: %d %s", code, body)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a denied or expired execution ran")
	}
	m := p.get("/metrics", nil)
	for _, want := range []string{`actionhandler_approvals_total{outcome="denied"} 1`, `actionhandler_approvals_total{outcome="expired"} 1`,
		`actionhandler_executions_total{status="denied"} 1`, `actionhandler_executions_total{status="expired"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "approv"))
		}
	}
}

// Two replicas on one PostgreSQL, two approvals at once: one 200, one
// 409, one run.
func TestApprovalRaceTwoReplicasPostgres(t *testing.T) {
	e := newEnv(t)
	dsn := e.write("pg_dsn", pgtest.DSN(t)+"\n")
	cfg := func(name string) string {
		return e.config(name, fmt.Sprintf("replica_id: %s\nstore: {postgres_dsn_file: %s, lease: 2s, poll_interval: 200ms}\n", name, dsn))
	}
	ca, cb := cfg("replica-a"), cfg("replica-b")
	e.write("tokens", approvalTokens)
	ra, rb := e.start(ca), e.start(cb)
	marker := filepath.Join(e.dir, "marker")
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "race", Teams: []string{"incoming"}})
	_, acc := ra.post(request(al, approvalRule(e, "restart_race", marker, map[string]any{"required": true})))
	if acc.Status != api.ExecAwaitingApproval {
		t.Fatalf("post: %+v", acc)
	}
	// The same alert on the other replica joins it.
	if code, dup := rb.post(request(al, approvalRule(e, "restart_race", marker, map[string]any{"required": true}))); code != http.StatusOK ||
		dup.ExecutionID != acc.ExecutionID {
		t.Fatalf("duplicate on replica b: %d %+v", code, dup)
	}
	codes := make([]int, 2)
	var wg sync.WaitGroup
	for i, p := range []*proc{ra, rb} {
		tok := []string{aliceToken, bobToken}[i]
		wg.Go(func() { codes[i], _ = p.decide(tok, acc.ExecutionID, "approve", "go ahead") })
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != http.StatusOK || codes[1] != http.StatusConflict {
		t.Fatalf("answers %v, want one 200 and one 409", codes)
	}
	if x := rb.execution(acc.ExecutionID); x.Status != api.ExecSuccess {
		t.Fatalf("after approval: %+v", x)
	}
	if n := lines(marker); n != 1 {
		t.Errorf("ran %d times, want once", n)
	}
	n := strings.Count(ra.logs.String()+rb.logs.String(), "event=execution_approved")
	if n != 1 {
		t.Errorf("%d execution_approved lines, want 1", n)
	}
	waitFor(t, "one approved note", func() bool {
		c := 0
		for _, n := range e.og.Notes(al.ID) {
			if strings.Contains(n, "was approved by") {
				c++
			}
		}
		return c == 1
	})
}

// The governor decides again when an approved execution is claimed: of
// two executions approved under max_executions_per_entity 1, the second
// is skipped. A secret in a task's headers never reaches a note or a log.
func TestApprovalGovernorAtClaimAndNoSecretInNote(t *testing.T) {
	e := newEnv(t)
	const secret = "approval-secret-6b1d9e3f7a"
	secretFile := e.write("tok", secret+"\n")
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		fmt.Fprint(w, "restarted")
	}))
	defer srv.Close()
	cfg := e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s, poll_interval: 200ms}\nsecrets: {tok: %s}\nhttp: {allowed_hosts: [127.0.0.1]}\n",
		filepath.Join(e.dir, "ah.db"), secretFile))
	e.write("tokens", approvalTokens)
	p := e.start(cfg)
	rule := map[string]any{"rule_name": "restart_limited", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"approval": map[string]any{"required": true},
		"governor": map[string]any{"max_executions_per_entity": 1, "window": "1h"},
		"task_list": []any{map[string]any{"task": map[string]any{"task_type": "http", "action": "restart_via_lb", "method": "POST",
			"url": srv.URL + "/restart", "headers": map[string]string{"Authorization": `Bearer {{ secret "tok" }}`}}}}}
	var ids []string
	var alerts []opsgenietest.Alert
	for i := range 2 {
		a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: fmt.Sprint("m", i), Teams: []string{"incoming"}})
		code, acc := p.post(request(a, rule))
		if code != http.StatusAccepted || acc.Status != api.ExecAwaitingApproval {
			t.Fatalf("post %d: %d %+v", i, code, acc)
		}
		ids, alerts = append(ids, acc.ExecutionID), append(alerts, a)
	}
	note := noteWith(t, e.og, alerts[0].ID, "[approval]")
	if !strings.Contains(note, "task 1 (restart_via_lb) on "+e.ssh.Addr+": call POST "+srv.URL+"/restart") {
		t.Errorf("note:\n%s", note)
	}
	// Both waiting: the governor counted neither.
	for _, id := range ids {
		if code, body := p.decide(aliceToken, id, "approve", "go"); code != http.StatusOK {
			t.Fatalf("approve %s: %d %s", id, code, body)
		}
	}
	first, second := p.execution(ids[0]), p.execution(ids[1])
	statuses := []string{first.Status, second.Status}
	slices.Sort(statuses)
	if statuses[0] != api.ExecSkipped || statuses[1] != api.ExecSuccess {
		t.Fatalf("statuses %v, want one success and one skipped", statuses)
	}
	skipped := first
	if second.Status == api.ExecSkipped {
		skipped = second
	}
	if !strings.Contains(skipped.Reason, "max_executions_per_entity 1") || skipped.DecidedBy != "alice" {
		t.Errorf("skipped: %+v", skipped)
	}
	mu.Lock()
	n := hits
	mu.Unlock()
	if n != 1 {
		t.Errorf("ran %d times, want once", n)
	}
	all := p.logs.String()
	for _, a := range alerts {
		all += strings.Join(e.og.Notes(a.ID), "\n")
	}
	if strings.Contains(all, secret) {
		t.Error("the secret appears in a log or a note")
	}
}

// An approved execution of a rule that also verifies runs once, is
// verified against the state its task left on the host, and ends
// remediated, with the approver and the verdict both in its history.
func TestApprovalThenVerification(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s, poll_interval: 200ms}\n", filepath.Join(e.dir, "ah.db")))
	e.write("tokens", approvalTokens)
	p := e.start(cfg)
	marker, state := filepath.Join(e.dir, "marker"), filepath.Join(e.dir, "state")
	rule := approvalRule(e, "approve_and_verify", marker, map[string]any{"required": true})
	rule["task_list"] = []any{sshTask("echo ran >> " + marker + " && touch " + state)}
	rule["verify"] = map[string]any{"after": "1s", "task": verifyTask("test -f " + state)}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	code, acc := p.post(request(a, rule))
	if code != http.StatusAccepted || acc.Status != api.ExecAwaitingApproval {
		t.Fatalf("post: %d %+v", code, acc)
	}
	if code, body := p.decide(aliceToken, acc.ExecutionID, "approve", "go ahead"); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	x := p.verdict(acc.ExecutionID)
	if x.Status != api.ExecRemediated || x.DecidedBy != "alice" || x.DecisionReason != "go ahead" {
		t.Fatalf("approved and verified: %+v", x)
	}
	if n := lines(marker); n != 1 {
		t.Errorf("ran %d times, want once", n)
	}
	noteWith(t, e.og, a.ID, "approved by alice: go ahead")
	noteWith(t, e.og, a.ID, "[verified]")
}
