package main

// Audit mode (docs/rollout.md) through the real binary, a real sshd and
// the local OpsGenie: an audit rule records the rendered command and
// touches nothing (no SSH login, no file, no write-back), audit_note
// writes one note and nothing else, the governor's verdict is recorded
// but not enforced, and audit executions are not counted by it.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// ogWrites are the calls to the local OpsGenie that change an alert
// (anything but reading).
func ogWrites(og *opsgenietest.Server) []string {
	var out []string
	for _, r := range og.Requests() {
		if r.Method != http.MethodGet {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// loggingSSHD starts an sshd of e's fleet that logs logins (sshdtest's
// LogLevel ERROR logs none; a Match block may raise it per user).
func loggingSSHD(e *env) *sshdtest.Server {
	return e.fleet.StartT(e.t, sshdtest.Options{Addr: "127.0.0.3:0",
		ExtraConfig: []string{"Match User " + e.fleet.User, "  LogLevel INFO"}})
}

func TestAuditRuleTouchesNothing(t *testing.T) {
	e := newEnv(t)
	e.ssh = loggingSSHD(e)
	p := e.start(e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db"))))
	marker := filepath.Join(e.dir, "marker")
	rule := map[string]any{"rule_name": "audited", "mode": "audit", "entity_type": "explicit",
		"entities":  []string{e.ssh.Addr},
		"task_list": []any{sshTask("touch " + marker)}, "on_success": []any{map[string]any{"op": "close"}}}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	e.og.ResetRequests()
	code, acc := p.post(request(a, rule))
	if code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	x := p.execution(acc.ExecutionID)
	if x.Status != api.ExecAudit || len(x.Steps) != 1 || x.Steps[0].Status != api.ExecAudit ||
		!strings.Contains(x.Steps[0].Command, "touch "+marker) {
		t.Fatalf("execution: %+v", x)
	}
	if !strings.Contains(x.Reason, "the governor would allow it") || !strings.Contains(x.Reason, "close") {
		t.Errorf("reason %q: want the governor's verdict and the write-back on success", x.Reason)
	}
	p.waitLog("execution_finished", "event=execution_finished", "action_status=audit", "execution_id="+acc.ExecutionID)
	p.waitLog("action_audit", "event=action_audit", "execution_id="+acc.ExecutionID)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the command ran: %v", err)
	}
	if strings.Contains(e.ssh.Stderr(), "Accepted publickey") {
		t.Errorf("sshd saw a login:\n%s", e.ssh.Stderr())
	}
	if w := ogWrites(e.og); len(w) != 0 {
		t.Errorf("write-back on the ticket: %q", w)
	}
	if got, _ := e.og.Alert(a.ID); got.Status == "closed" {
		t.Errorf("alert closed")
	}
	var l api.ExecutionList
	p.get("/v1/executions?status=audit", &l)
	if len(l.Executions) != 1 || l.Executions[0].ID != acc.ExecutionID {
		t.Errorf("history of audit: %+v", l)
	}

	m := p.get("/metrics", nil)
	if !strings.Contains(m, `actionhandler_executions_total{status="audit"} 1`) ||
		!strings.Contains(m, `actionhandler_actions_total{status="audit",task_type="remote_ssh"} 1`) ||
		strings.Contains(m, `actionhandler_ssh_connections_total{result="opened"}`) ||
		strings.Contains(m, `actionhandler_executions_total{status="success"}`) {
		t.Errorf("metrics:\n%s", grepLines(m, "actionhandler_"))
	}

	// A real run of the same command on the same sshd does log in: the
	// check above can fail.
	real := map[string]any{"rule_name": "real", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("touch " + marker)}}
	b := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "n", Teams: []string{"incoming"}})
	_, acc = p.post(request(b, real))
	if x := p.execution(acc.ExecutionID); x.Status != api.ExecSuccess {
		t.Fatalf("real run: %+v", x)
	}
	if _, err := os.Stat(marker); err != nil || !strings.Contains(e.ssh.Stderr(), "Accepted publickey") {
		t.Errorf("real run: marker %v, sshd log:\n%s", err, e.ssh.Stderr())
	}
}

// An alert value that does not fit its template is refused in audit too;
// audit_note writes exactly one note, nothing else.
func TestAuditNoteAndRefusal(t *testing.T) {
	e := newEnv(t)
	e.ssh = loggingSSHD(e)
	p := e.start(e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db"))))
	marker := filepath.Join(e.dir, "marker")
	rule := map[string]any{"rule_name": "audited", "mode": "audit", "audit_note": true, "entity_type": "explicit",
		"entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("touch " + marker),
			sshTask("echo {{ .details.dir }} >> "+marker, "template", true, "action", "echo_message")}}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	e.og.ResetRequests()
	// details.dir: an array, which no command may take.
	var req map[string]any
	_ = json.Unmarshal(request(a, rule), &req)
	req["details"] = map[string]any{"dir": []string{"a", "b"}}
	body, _ := json.Marshal(req)
	_, acc := p.post(body)
	x := p.execution(acc.ExecutionID)
	if x.Status != api.ExecAudit || len(x.Steps) != 2 || x.Steps[0].Status != api.ExecAudit ||
		x.Steps[1].Status != api.ExecRefused || !strings.Contains(x.Steps[1].Error, "array") {
		t.Fatalf("execution: %+v", x)
	}
	if !strings.Contains(x.Reason, "1 refused") {
		t.Errorf("reason %q", x.Reason)
	}
	waitFor(t, "the audit note", func() bool { return len(e.og.Notes(a.ID)) > 0 })
	p.waitLog("writeback", "event=writeback_done", "execution_id="+acc.ExecutionID)
	notes := e.og.Notes(a.ID)
	if len(notes) != 1 || !strings.Contains(notes[0], "[audit]") || !strings.Contains(notes[0], "touch "+marker) ||
		!strings.Contains(notes[0], "would refuse task 2") || !strings.Contains(notes[0], "governor would allow") ||
		!strings.Contains(notes[0], "add_team ops_unix") {
		t.Errorf("notes %q", notes)
	}
	if w := ogWrites(e.og); len(w) != 1 || !strings.HasSuffix(w[0], "/notes") {
		t.Errorf("want one note and nothing else: %q", w)
	}
	if teams := e.og.Teams(a.ID); len(teams) != 1 {
		t.Errorf("teams %q", teams)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) || strings.Contains(e.ssh.Stderr(), "Accepted publickey") {
		t.Errorf("something ran: %v\n%s", err, e.ssh.Stderr())
	}
}

// The governor decides on audit executions without enforcing, and never
// counts them: a max_executions 1 rule in audit mode three times, then
// enforced once, runs; in audit again it records that it would be skipped
// (and ends audit), and enforced again it is skipped.
func TestAuditGovernorVerdict(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db"))))
	marker := filepath.Join(e.dir, "marker")
	rule := func(mode string) map[string]any {
		return map[string]any{"rule_name": "once", "mode": mode, "entity_type": "explicit", "entities": []string{e.ssh.Addr},
			"governor":  map[string]any{"max_executions": 1, "window": "1h"},
			"task_list": []any{sshTask("echo ran >> " + marker)}}
	}
	run := func(mode string) api.Execution {
		a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: mode, Teams: []string{"incoming"}})
		_, acc := p.post(request(a, rule(mode)))
		return p.execution(acc.ExecutionID)
	}
	for i := range 3 {
		if x := run("audit"); x.Status != api.ExecAudit || !strings.HasPrefix(x.Reason, "the governor would allow it") {
			t.Fatalf("audit %d: %s %q", i, x.Status, x.Reason)
		}
	}
	if x := run("enforce"); x.Status != api.ExecSuccess {
		t.Fatalf("enforce after audits: %s %q (audit executions were counted)", x.Status, x.Reason)
	}
	x := run("audit")
	if x.Status != api.ExecAudit || !strings.HasPrefix(x.Reason, "the governor would skip it: governor:") ||
		!strings.Contains(x.Reason, "max_executions 1") {
		t.Errorf("audit over the limit: %s %q", x.Status, x.Reason)
	}
	if x := run("enforce"); x.Status != api.ExecSkipped {
		t.Errorf("enforce over the limit: %s %q", x.Status, x.Reason)
	}
	if n := lines(marker); n != 1 {
		t.Errorf("ran %d times, want 1", n)
	}
}

// Every task type in audit mode is described, not run: no HTTP request
// reaches the server, no local process or plugin runs, no SSH login; a
// secret its templates use is in no answer, note or log.
func TestAuditEveryTaskTypeRunsNothing(t *testing.T) {
	e := newEnv(t)
	e.ssh = loggingSSHD(e)
	const secret = "audit-lb-token-93e1c0f7"
	secretFile := e.write("lb_token", secret+"\n")
	hits := make(chan string, 4)
	checker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Method + " " + r.URL.Path
	}))
	defer checker.Close()
	plugins := filepath.Join(e.dir, "plugins")
	os.Mkdir(plugins, 0o755)
	pluginRan, localRan := filepath.Join(e.dir, "plugin-ran"), filepath.Join(e.dir, "local-ran")
	os.WriteFile(filepath.Join(plugins, "collect"), []byte("#!/bin/sh\ntouch "+pluginRan+"\necho '{\"status\": \"success\"}'\n"), 0o755)
	p := e.start(e.config("ah.yaml", fmt.Sprintf(`store: {sqlite_path: %s}
local: {allowed: [sh]}
plugins: {dir: %s}
secrets: {lb: %s}
http: {allowed_hosts: [127.0.0.1]}
`, filepath.Join(e.dir, "ah.db"), plugins, secretFile)))
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(al, map[string]any{"rule_name": "audit_all", "mode": "audit", "audit_note": true,
		"entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{
			sshTask("touch "+filepath.Join(e.dir, "ssh-ran"), "action", "restart"),
			map[string]any{"task": map[string]any{"task_type": "http", "action": "check",
				"url": checker.URL + "/health/{{ entity }}", "headers": map[string]string{"Authorization": `Bearer {{ secret "lb" }}`}}},
			map[string]any{"task": map[string]any{"task_type": "local", "action": "diagnose",
				"argv": []string{"sh", "-c", "touch " + localRan}, "env": map[string]string{"TOKEN": `{{ secret "lb" }}`}}},
			map[string]any{"task": map[string]any{"task_type": "plugin", "action": "collect", "plugin": "collect"}},
		}}))
	x := p.execution(acc.ExecutionID)
	raw := p.get("/v1/executions/"+acc.ExecutionID, nil)
	if x.Status != api.ExecAudit || len(x.Steps) != 4 {
		t.Fatalf("execution %s", raw)
	}
	for i, s := range x.Steps {
		if s.Status != api.ExecAudit || s.Command == "" || s.ExitCode != nil {
			t.Errorf("step %d: %+v", i, s)
		}
	}
	if !strings.Contains(x.Steps[1].Command, checker.URL+"/health/") {
		t.Errorf("http step command %q", x.Steps[1].Command)
	}
	waitFor(t, "the audit note", func() bool { return len(e.og.Notes(al.ID)) == 1 })
	p.stop()
	select {
	case h := <-hits:
		t.Errorf("the HTTP task reached the server: %s", h)
	default:
	}
	for _, f := range []string{pluginRan, localRan, filepath.Join(e.dir, "ssh-ran")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s: it ran", f)
		}
	}
	if strings.Contains(e.ssh.Stderr(), "Accepted publickey") {
		t.Errorf("sshd saw a login")
	}
	everything := raw + strings.Join(e.og.Notes(al.ID), "\n") + p.logs.String()
	if strings.Contains(everything, secret) {
		t.Errorf("the secret leaked")
	}
}
