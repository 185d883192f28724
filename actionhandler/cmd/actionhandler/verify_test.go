package main

// Verification (docs/rollout.md) through the real binary, a real sshd and
// the local OpsGenie: a rule's verify task checks the state the fix left
// on the host (remediated), or a state nobody made (ineffective: noted
// and sent to the investigation queue); alert_resolved reads the alert's
// status at the source; a verification due across a restart happens
// once; a refused value in the verify task runs nothing; ineffective
// verifications count for the circuit breaker.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/pgtest"
	_ "modernc.org/sqlite"
)

// verdict waits for execution id's verification to end and its verdict
// to be written back, and returns it.
func (p *proc) verdict(id string) api.Execution {
	p.t.Helper()
	var x api.Execution
	waitFor(p.t, "verdict of "+id, func() bool {
		x = api.Execution{}
		p.get("/v1/executions/"+id, &x)
		return x.ReportedAt != nil && x.Verification != nil && x.Verification.VerifiedAt != nil
	})
	return x
}

// verifyTask is a remote_ssh verify task running cmd.
func verifyTask(cmd string, extra ...any) map[string]any {
	return sshTask(cmd, append([]any{"action", "check"}, extra...)...)["task"].(map[string]any)
}

// noteIndex is the index of the first note containing part, -1 if none.
func noteIndex(notes []string, part string) int {
	return slices.IndexFunc(notes, func(n string) bool { return strings.Contains(n, part) })
}

func TestVerificationRemediatedAndIneffective(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", "store: {sqlite_path: "+filepath.Join(e.dir, "ah.db")+"}\n"))
	state, nobody := filepath.Join(e.dir, "state"), filepath.Join(e.dir, "nobody-makes-this")
	rule := func(name, check string) map[string]any {
		return map[string]any{"rule_name": name, "entity_type": "explicit", "entities": []string{e.ssh.Addr},
			"task_list": []any{sshTask("touch " + state)},
			"verify":    map[string]any{"after": "1s", "task": verifyTask("test -f " + check)}}
	}
	run := func(r map[string]any) (api.Execution, opsgenietest.Alert) {
		t.Helper()
		a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
		code, acc := p.post(request(a, r))
		if code != http.StatusAccepted {
			t.Fatalf("post: %d", code)
		}
		p.waitLog("scheduled", "event=verification_scheduled", "execution_id="+acc.ExecutionID, "verify_at=")
		return p.verdict(acc.ExecutionID), a
	}

	x, a := run(rule("fixed", state))
	if x.Status != api.ExecRemediated || x.Verification.Outcome != api.ExecRemediated ||
		len(x.Verification.Steps) != 1 || x.Verification.Steps[0].Status != api.ExecSuccess ||
		x.Verification.Steps[0].TaskIndex != -1 || len(x.Steps) != 1 || x.Steps[0].TaskIndex != 0 {
		t.Fatalf("remediated: %+v", x)
	}
	if !x.Verification.VerifiedAt.After(x.Verification.VerifyAt) && !x.Verification.VerifiedAt.Equal(x.Verification.VerifyAt) {
		t.Errorf("verified at %v before due %v", x.Verification.VerifiedAt, x.Verification.VerifyAt)
	}
	waitFor(t, "route_to_team", func() bool { return slices.Contains(e.og.Teams(a.ID), "ops_unix") })
	notes := e.og.Notes(a.ID)
	applied, verified := noteIndex(notes, "Fix applied; verifying at "), noteIndex(notes, "[verified] Alexis rule fixed")
	if applied < 0 || verified < applied {
		t.Fatalf("notes %q: want the task's note with 'verifying at', then [verified]", notes)
	}
	// on_success (route_to_team) waited for the verdict: the team was
	// added after the [verified] note.
	var order []string
	for _, r := range e.og.Requests() {
		if strings.Contains(r.Path, a.ID) && r.Method != http.MethodGet {
			order = append(order, r.Path)
		}
	}
	lastNote := -1
	firstTeam := slices.IndexFunc(order, func(p string) bool { return strings.HasSuffix(p, "/teams") })
	for i, p := range order {
		if strings.HasSuffix(p, "/notes") {
			lastNote = i
		}
	}
	if firstTeam < lastNote {
		t.Errorf("team added before the verdict's note: %q", order)
	}
	if slices.Contains(e.og.Teams(a.ID), "queue_needsinvestigation") {
		t.Errorf("remediated went to the investigation queue: %q", e.og.Teams(a.ID))
	}
	p.waitLog("verification_finished", "event=verification_finished", "execution_id="+x.ID, "action_status=remediated")
	p.waitLog("execution_finished", "event=execution_finished", "execution_id="+x.ID, "action_status=remediated")

	y, b := run(rule("unfixed", nobody))
	if y.Status != api.ExecIneffective || len(y.Verification.Steps) != 1 ||
		y.Verification.Steps[0].Status != api.ExecFailure || y.Reason != "the verify task failed on "+e.ssh.Addr+" (exit 1)" {
		t.Fatalf("ineffective: %s %q %+v", y.Status, y.Reason, y.Verification)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(e.og.Teams(b.ID), "queue_needsinvestigation") })
	if slices.Contains(e.og.Teams(b.ID), "ops_unix") {
		t.Errorf("ineffective got on_success: %q", e.og.Teams(b.ID))
	}
	if n := strings.Join(e.og.Notes(b.ID), "\n"); !strings.Contains(n, "[ineffective] Alexis rule unfixed") ||
		!strings.Contains(n, "exit 1") || !strings.Contains(n, "verify check on") {
		t.Errorf("notes %q", n)
	}
	p.waitLog("verification_finished", "event=verification_finished", "execution_id="+y.ID, "action_status=ineffective")

	var l api.ExecutionList
	for status, want := range map[string]string{"remediated": x.ID, "ineffective": y.ID} {
		p.get("/v1/executions?status="+status, &l)
		if len(l.Executions) != 1 || l.Executions[0].ID != want {
			t.Errorf("list %s: %+v", status, l.Executions)
		}
	}
	m := p.get("/metrics", nil)
	for _, want := range []string{`actionhandler_verifications_total{outcome="remediated"} 1`,
		`actionhandler_verifications_total{outcome="ineffective"} 1`,
		`actionhandler_executions_total{status="remediated"} 1`, `actionhandler_executions_total{status="ineffective"} 1`,
		"actionhandler_verification_duration_seconds_count 2"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics: no %s:\n%s", want, grepLines(m, "verif"))
		}
	}
	if strings.Contains(m, `actionhandler_executions_total{status="success"}`) {
		t.Errorf("a verified execution counted success:\n%s", grepLines(m, "executions_total"))
	}
}

// alert_resolved asks OpsGenie: closed at the source, remediated; still
// open, ineffective.
func TestVerificationAlertResolved(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", "store: {sqlite_path: "+filepath.Join(e.dir, "ah.db")+"}\n"))
	rule := map[string]any{"rule_name": "resolves", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("true")},
		"verify":    map[string]any{"after": "2s", "alert_resolved": true}}

	closed := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(closed, rule))
	// Closed at the source (the monitor saw the service recover) well
	// before the verification is due.
	if !e.og.CloseAlert(closed.ID) {
		t.Fatal("close")
	}
	x := p.verdict(acc.ExecutionID)
	if x.Status != api.ExecRemediated || !strings.Contains(x.Reason, "closed at its source") || len(x.Verification.Steps) != 0 {
		t.Fatalf("closed: %s %q %+v", x.Status, x.Reason, x.Verification)
	}

	open := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "n", Teams: []string{"incoming"}})
	_, acc = p.post(request(open, rule))
	y := p.verdict(acc.ExecutionID)
	if y.Status != api.ExecIneffective || !strings.Contains(y.Reason, "still open") {
		t.Fatalf("open: %s %q", y.Status, y.Reason)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(e.og.Teams(open.ID), "queue_needsinvestigation") })
}

// The action handler restarts after the tasks and before verify_at: the
// verification is done, once, by the new process. (verify.after is an
// hour, so the first process cannot have done it; while it is down, the
// test moves verify_at to now in its database, as if the hour had passed.)
func TestVerificationSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	dbPath := filepath.Join(e.dir, "ah.db")
	cfg := e.config("ah.yaml", "store: {sqlite_path: "+dbPath+"}\n")
	p := e.start(cfg)
	state, checks := filepath.Join(e.dir, "state"), filepath.Join(e.dir, "checks")
	rule := map[string]any{"rule_name": "restart", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("touch " + state)},
		"verify":    map[string]any{"after": "1h", "task": verifyTask("echo check >> " + checks + "; test -f " + state)}}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(a, rule))
	x := p.execution(acc.ExecutionID) // its first write-back: verifying
	if x.Status != api.ExecVerifying || x.Verification == nil || x.Verification.VerifiedAt != nil {
		t.Fatalf("before the restart: %+v", x)
	}
	p.kill()
	if n := lines(checks); n != 0 {
		t.Fatalf("verified before verify_at: %d", n)
	}
	if due := x.Verification.VerifyAt.Sub(*x.FinishedAt); due < 59*time.Minute {
		t.Fatalf("verify_at %s after the end, want verify.after 1h", due)
	}
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE executions SET verify_at = ? WHERE id = ?`, time.Now().UnixMicro(), acc.ExecutionID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	q := e.start(cfg)
	y := q.verdict(acc.ExecutionID)
	if y.Status != api.ExecRemediated {
		t.Fatalf("after the restart: %s %q", y.Status, y.Reason)
	}
	q.waitLog("verification_finished", "event=verification_finished", "execution_id="+y.ID)
	if n := lines(checks); n != 1 {
		t.Errorf("verify task ran %d times, want 1", n)
	}
	if n := strings.Count(strings.Join(e.og.Notes(a.ID), "\n"), "[verified]"); n != 1 {
		t.Errorf("%d [verified] notes, want 1", n)
	}
}

// An alert value that does not fit the verify task's template: refused,
// nothing run, ineffective.
func TestVerificationRefusedValue(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", "store: {sqlite_path: "+filepath.Join(e.dir, "ah.db")+"}\n"))
	marker := filepath.Join(e.dir, "verify-ran")
	rule := map[string]any{"rule_name": "refused", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("true")},
		"verify": map[string]any{"after": "1s",
			"task": verifyTask("touch "+marker+"; test -f {{ .details.dir }}", "template", true)}}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	var req map[string]any
	_ = json.Unmarshal(request(a, rule), &req)
	req["details"] = map[string]any{"dir": []string{"a", "b"}} // no command takes an array
	body, _ := json.Marshal(req)
	_, acc := p.post(body)
	x := p.verdict(acc.ExecutionID)
	if x.Status != api.ExecIneffective || len(x.Verification.Steps) != 1 ||
		x.Verification.Steps[0].Status != api.ExecRefused || !strings.Contains(x.Reason, "refused") {
		t.Fatalf("%s %q %+v", x.Status, x.Reason, x.Verification)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the verify task ran: %v", err)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(e.og.Teams(a.ID), "queue_needsinvestigation") })
	p.waitLog("refused", "event=action_refused", "execution_id="+x.ID, "task_index=-1")
}

// Ineffective verifications count for the circuit breaker: pause_after 2,
// two ineffective (the verify task finds no fixed state on the host), the
// rule is paused and the next match skipped; resumed by an admin, it runs
// again, and a verification that passes resets the count.
func TestVerificationIneffectivePausesRule(t *testing.T) {
	e := newEnv(t)
	p := e.start(breakerConfig(e, ""))
	ran, fixed := filepath.Join(e.dir, "ran"), filepath.Join(e.dir, "fixed")
	rule := map[string]any{"rule_name": "no_fix", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"governor":  map[string]any{"pause_after": 2},
		"task_list": []any{sshTask("echo ran >> " + ran)},
		"verify":    map[string]any{"after": "1s", "task": verifyTask("test -f " + fixed)}}
	run := func() api.Execution {
		a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
		_, acc := p.post(request(a, rule))
		return p.execution(acc.ExecutionID)
	}
	for i := range 2 {
		x := run()
		if y := p.verdict(x.ID); y.Status != api.ExecIneffective {
			t.Fatalf("run %d: %s", i, y.Status)
		}
		waitFor(t, "the breaker's count", func() bool {
			st, _ := p.ruleState("no_fix", "")
			return st.Failures == i+1
		})
	}
	p.waitLog("rule_paused", "event=rule_paused", "rule_name=no_fix", "failed=2")
	if x := run(); x.Status != api.ExecSkipped || !strings.HasPrefix(x.Reason, "rule_paused:") {
		t.Fatalf("paused rule: %s %q", x.Status, x.Reason)
	}
	if n := lines(ran); n != 2 {
		t.Errorf("ran %d times, want 2", n)
	}

	if code, body := p.resume(adminToken, "no_fix", `{"reason": "state fixed by hand"}`); code != http.StatusOK {
		t.Fatalf("resume: %d %s", code, body)
	}
	p.waitLog("rule_resumed", "event=rule_resumed", "rule_name=no_fix")
	if err := os.WriteFile(fixed, []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := run()
	if y := p.verdict(x.ID); y.Status != api.ExecRemediated {
		t.Fatalf("after resume: %s %q", y.Status, y.Reason)
	}
	waitFor(t, "the count reset", func() bool {
		st, ok := p.ruleState("no_fix", "")
		return ok && st.Failures == 0 && !st.Paused
	})
	if n := lines(ran); n != 3 {
		t.Errorf("ran %d times, want 3", n)
	}
}

// The verify task runs through the same runners as the tasks (here
// local, with a secret in its environment); the secret is in no answer,
// note, reason or log line, though the check printed it.
func TestVerificationLocalTaskKeepsSecrets(t *testing.T) {
	e := newEnv(t)
	const secret = "verify-token-4be81d0c77"
	secretFile := e.write("check_token", secret+"\n")
	p := e.start(e.config("ah.yaml", "store: {sqlite_path: "+filepath.Join(e.dir, "ah.db")+"}\n"+
		"local: {allowed: [sh]}\nsecrets: {check: "+secretFile+"}\n"))
	rule := map[string]any{"rule_name": "local_check", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("true")},
		"verify": map[string]any{"after": "1s", "task": map[string]any{"task_type": "local", "action": "probe",
			"argv": []string{"sh", "-c", `echo "probing $ALEXIS_ENTITY with $TOKEN"; echo "$TOKEN" >&2; exit 2`},
			"env":  map[string]string{"TOKEN": `{{ secret "check" }}`}}}}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(a, rule))
	x := p.verdict(acc.ExecutionID)
	if x.Status != api.ExecIneffective || len(x.Verification.Steps) != 1 ||
		x.Verification.Steps[0].TaskType != "local" || *x.Verification.Steps[0].ExitCode != 2 ||
		x.Verification.Steps[0].Stdout != "probing "+e.ssh.Addr+" with <secret>\n" {
		t.Fatalf("%s %q %+v", x.Status, x.Reason, x.Verification)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(e.og.Teams(a.ID), "queue_needsinvestigation") })
	raw := p.get("/v1/executions/"+acc.ExecutionID, nil)
	notes := strings.Join(e.og.Notes(a.ID), "\n")
	if !strings.Contains(notes, "<secret>") {
		t.Errorf("the note lacks the check's (redacted) output: %q", notes)
	}
	for what, s := range map[string]string{"answer": raw, "notes": notes, "logs": p.logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("the secret is in the %s", what)
		}
	}
}

// A rule in audit mode with verify: nothing runs, the verification
// neither; the reason says what it would verify.
func TestVerificationInAuditModeRunsNothing(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", "store: {sqlite_path: "+filepath.Join(e.dir, "ah.db")+"}\n"))
	marker := filepath.Join(e.dir, "ran")
	rule := map[string]any{"rule_name": "audited", "mode": "audit", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("touch " + marker)},
		"verify":    map[string]any{"after": "1s", "task": verifyTask("touch " + marker), "alert_resolved": true}}
	a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(a, rule))
	x := p.execution(acc.ExecutionID)
	if x.Status != api.ExecAudit || x.Verification != nil ||
		!strings.Contains(x.Reason, "on success it would verify after 1s (the verify task check on every host and the alert resolved at its source)") {
		t.Fatalf("%s %q %+v", x.Status, x.Reason, x.Verification)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("something ran: %v", err)
	}
	if strings.Contains(p.logs.String(), "event=verification_") {
		t.Errorf("a verification in audit mode:\n%s", grepLines(p.logs.String(), "verification_"))
	}
}

// Two replicas sharing PostgreSQL: each due verification is done by one
// of them, once, and its verdict written back once.
func TestVerificationTwoReplicasOnePostgres(t *testing.T) {
	e := newEnv(t)
	dsn := e.write("pg_dsn", pgtest.DSN(t)+"\n")
	cfg := func(name string) string {
		return e.config(name, fmt.Sprintf("replica_id: %s\nstore: {postgres_dsn_file: %s, poll_interval: 100ms}\n", name, dsn))
	}
	a, b := e.start(cfg("replica-a")), e.start(cfg("replica-b"))
	state := filepath.Join(e.dir, "state")
	type run struct {
		id    string
		alert opsgenietest.Alert
	}
	var runs []run
	for i := range 6 {
		p := a
		if i%2 == 1 {
			p = b
		}
		checks := filepath.Join(e.dir, fmt.Sprintf("checks-%d", i))
		al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: fmt.Sprint("m", i), Teams: []string{"incoming"}})
		code, acc := p.post(request(al, map[string]any{"rule_name": "shared", "entity_type": "explicit",
			"entities": []string{e.ssh.Addr}, "task_list": []any{sshTask("touch " + state)},
			"verify": map[string]any{"after": "1s", "task": verifyTask("echo check >> " + checks + "; test -f " + state)}}))
		if code != http.StatusAccepted {
			t.Fatalf("post %d: %d", i, code)
		}
		runs = append(runs, run{acc.ExecutionID, al})
	}
	for i, r := range runs {
		if x := a.verdict(r.id); x.Status != api.ExecRemediated {
			t.Errorf("run %d: %s %q", i, x.Status, x.Reason)
		}
	}
	// Both replicas polled for due verifications all along; give a second
	// one a poll interval and more to show itself.
	waitFor(t, "every verdict noted", func() bool {
		for _, r := range runs {
			if noteIndex(e.og.Notes(r.alert.ID), "[verified]") < 0 {
				return false
			}
		}
		return true
	})
	a.stop()
	b.stop()
	for i, r := range runs {
		if n := lines(filepath.Join(e.dir, fmt.Sprintf("checks-%d", i))); n != 1 {
			t.Errorf("run %d: verify task ran %d times, want 1", i, n)
		}
		if n := strings.Count(strings.Join(e.og.Notes(r.alert.ID), "\n"), "[verified]"); n != 1 {
			t.Errorf("run %d: %d [verified] notes, want 1", i, n)
		}
	}
	started := strings.Count(a.logs.String(), "event=verification_started") + strings.Count(b.logs.String(), "event=verification_started")
	if started != len(runs) {
		t.Errorf("%d verifications started, want %d", started, len(runs))
	}
}
