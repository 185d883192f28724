package main

// The circuit breaker (docs/rollout.md) through the real binary, real
// sshd and the local OpsGenie: a rule failing pause_after times in a row
// is paused, its next match skipped with rule_paused, noted and routed;
// only an admin token resumes it; a changed rule resumes by itself; with
// pause_per_entity only the failing host is paused.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/pgtest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

const (
	adminToken  = "admin-token-3c8e1f0a9d"
	readerToken = "reader-token-71b2c4e8aa"
	actorToken  = "actor-token-5d9a0e3c1f"
)

// breakerConfig is e's configuration with tokens of every kind the
// breaker's API meets: oncall (adhoc, read, metrics), admin, reader, actor.
func breakerConfig(e *env, extra string) string {
	cfg := e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db"))+extra)
	e.write("tokens", "oncall:"+token+" scopes=adhoc,read,metrics\nadmin:"+adminToken+" scopes=admin,read\n"+
		"reader:"+readerToken+" scopes=read\nactor:"+actorToken+" scopes=act\n")
	return cfg
}

// resume posts body to /v1/rules/NAME/resume with tok.
func (p *proc) resume(tok, name, body string) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/rules/"+name+"/resume", bytes.NewReader([]byte(body)))
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

// ruleState is the breaker's state of name on entity in GET /v1/rules.
func (p *proc) ruleState(name, entity string) (api.RuleState, bool) {
	var l api.RuleList
	p.get("/v1/rules", &l)
	for _, r := range l.Rules {
		if r.RuleName == name && r.Entity == entity {
			return r, true
		}
	}
	return api.RuleState{}, false
}

// waitRuleState waits until the breaker's state of name on entity
// satisfies ok and returns it: an execution is reported (what
// p.execution waits for) before its outcome is counted.
func (p *proc) waitRuleState(name, entity string, ok func(api.RuleState) bool) api.RuleState {
	p.t.Helper()
	var st api.RuleState
	waitFor(p.t, "rule state of "+name, func() bool {
		st, _ = p.ruleState(name, entity)
		return ok(st)
	})
	return st
}

func TestBreakerPausesAndResumes(t *testing.T) {
	e := newEnv(t)
	p := e.start(breakerConfig(e, ""))
	marker, ok := filepath.Join(e.dir, "marker"), filepath.Join(e.dir, "ok")
	rule := map[string]any{"rule_name": "flaky", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"governor":  map[string]any{"pause_after": 2},
		"task_list": []any{sshTask("echo ran >> " + marker + "; test -e " + ok)}}
	run := func(r map[string]any) (api.Execution, opsgenietest.Alert) {
		t.Helper()
		a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
		code, acc := p.post(request(a, r))
		if code != http.StatusAccepted {
			t.Fatalf("post: %d", code)
		}
		return p.execution(acc.ExecutionID), a
	}
	if x, _ := run(rule); x.Status != api.ExecFailure {
		t.Fatalf("first: %s", x.Status)
	}
	if st := p.waitRuleState("flaky", "", func(st api.RuleState) bool { return st.Failures > 0 }); st.Failures != 1 || st.Paused || st.RuleHash == "" {
		t.Fatalf("after one failure: %+v", st)
	}
	x2, _ := run(rule)
	p.waitLog("rule_paused", "event=rule_paused", "rule_name=flaky", "execution_id="+x2.ID, "failed=2")
	st, _ := p.ruleState("flaky", "")
	if !st.Paused || st.Failures != 2 || st.PausedAt == nil || st.LastExecutionID != x2.ID {
		t.Fatalf("after two failures: %+v", st)
	}

	// Paused: skipped, noted, routed to people; nothing ran.
	x3, a3 := run(rule)
	if x3.Status != api.ExecSkipped || !strings.HasPrefix(x3.Reason, "rule_paused:") ||
		!strings.Contains(x3.Reason, "alexisctl rules resume flaky") || len(x3.Steps) != 0 {
		t.Fatalf("paused rule: %s %q", x3.Status, x3.Reason)
	}
	if n := lines(marker); n != 2 {
		t.Errorf("ran %d times, want 2", n)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(e.og.Teams(a3.ID), "queue_needsinvestigation") })
	if notes := strings.Join(e.og.Notes(a3.ID), "\n"); !strings.Contains(notes, "rule_paused") ||
		!strings.Contains(notes, "alexisctl rules resume flaky") {
		t.Errorf("notes %q", notes)
	}
	p.waitLog("skip log", "event=execution_skipped", "execution_id="+x3.ID, "reason=rule_paused")

	// Only scope admin resumes, with a reason.
	for _, tok := range []string{readerToken, actorToken} {
		if code, body := p.resume(tok, "flaky", `{"reason": "x"}`); code != http.StatusForbidden {
			t.Errorf("resume with %s: %d %s", tok, code, body)
		}
	}
	if code, body := p.resume(adminToken, "flaky", `{}`); code != http.StatusBadRequest || !strings.Contains(body, "reason") {
		t.Errorf("resume without reason: %d %s", code, body)
	}
	if code, body := p.resume(adminToken, "flaky", `{"reason": "x", "force": true}`); code != http.StatusBadRequest {
		t.Errorf("resume with an unknown field: %d %s", code, body)
	}
	if code, body := p.resume(adminToken, "other", `{"reason": "x"}`); code != http.StatusNotFound {
		t.Errorf("resume of a rule not paused: %d %s", code, body)
	}
	if st, _ := p.ruleState("flaky", ""); !st.Paused {
		t.Fatalf("refused resumes resumed it: %+v", st)
	}
	code, body := p.resume(adminToken, "flaky", `{"reason": "disk cleaned up by hand"}`)
	var ans api.ResumeAnswer
	_ = json.Unmarshal([]byte(body), &ans)
	if code != http.StatusOK || len(ans.Resumed) != 1 || ans.Resumed[0].Paused || ans.Resumed[0].ResumedBy != "admin" {
		t.Fatalf("resume: %d %s", code, body)
	}
	p.waitLog("rule_resumed", "event=rule_resumed", "rule_name=flaky", "client=admin")
	if err := os.WriteFile(ok, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if x, _ := run(rule); x.Status != api.ExecSuccess {
		t.Fatalf("after resume: %s %q", x.Status, x.Reason)
	}
	if n := lines(marker); n != 3 {
		t.Errorf("ran %d times, want 3", n)
	}

	// Paused again; a changed rule file resumes it and runs.
	os.Remove(ok)
	run(rule)
	run(rule)
	if st := p.waitRuleState("flaky", "", func(st api.RuleState) bool { return st.Paused }); !st.Paused {
		t.Fatalf("not paused again: %+v", st)
	}
	changed := map[string]any{}
	for k, v := range rule {
		changed[k] = v
	}
	changed["task_list"] = []any{sshTask("echo ran >> " + marker + "; true")}
	if x, _ := run(changed); x.Status != api.ExecSuccess {
		t.Fatalf("changed rule: %s %q", x.Status, x.Reason)
	}
	p.waitLog("rule_resumed rule_changed", "event=rule_resumed", "rule_name=flaky", "reason=rule_changed")
	if st := p.waitRuleState("flaky", "", func(st api.RuleState) bool { return st.Failures == 0 }); st.Paused || st.Failures != 0 || st.ResumedBy != "rule_changed" {
		t.Errorf("after the change: %+v", st)
	}
	m := p.get("/metrics", nil)
	if !strings.Contains(m, `actionhandler_rule_pauses_total{rule_name="flaky"} 2`) ||
		!strings.Contains(m, "actionhandler_rules_paused 0") ||
		!strings.Contains(m, `actionhandler_governor_skips_total{reason="rule_paused"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(m, "pause"))
	}
}

// With pause_per_entity only the failing host is paused: the rule goes on
// running on the other one; the default comes from governor.pause_after.
func TestBreakerPerEntity(t *testing.T) {
	e := newEnv(t)
	good := e.ssh
	bad := e.fleet.StartT(t, sshdtest.Options{Addr: "127.0.0.3:0"})
	p := e.start(breakerConfig(e, "governor: {pause_after: 1}\n"))
	if err := os.WriteFile(filepath.Join(bad.Home, "broken"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The host comes from the alert: every execution is of the same rule
	// (one version), on the host its alert names.
	rule := map[string]any{"rule_name": "per_host", "entity_type": "path", "entity_path": "details.host",
		"governor":  map[string]any{"pause_per_entity": true},
		"task_list": []any{sshTask(`echo ran >> "$HOME/ran"; test ! -e "$HOME/broken"`)}}
	run := func(host string) api.Execution {
		t.Helper()
		a := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
		var req map[string]any
		_ = json.Unmarshal(request(a, rule), &req)
		req["details"] = map[string]any{"host": host}
		body, _ := json.Marshal(req)
		code, acc := p.post(body)
		if code != http.StatusAccepted {
			t.Fatalf("post: %d", code)
		}
		return p.execution(acc.ExecutionID)
	}
	if x := run(bad.Addr); x.Status != api.ExecFailure {
		t.Fatalf("bad host: %s", x.Status)
	}
	p.waitLog("rule_paused", "event=rule_paused", "rule_name=per_host", "entity="+bad.Addr)
	if x := run(good.Addr); x.Status != api.ExecSuccess {
		t.Fatalf("good host: %s %q", x.Status, x.Reason)
	}
	if st, _ := p.ruleState("per_host", bad.Addr); !st.Paused {
		t.Errorf("bad host: %+v", st)
	}
	if st, _ := p.ruleState("per_host", good.Addr); st.Paused || st.Failures != 0 {
		t.Errorf("good host: %+v", st)
	}
	if _, ok := p.ruleState("per_host", ""); ok {
		t.Errorf("a per-rule row for a per-entity rule")
	}
	if x := run(good.Addr); x.Status != api.ExecSuccess {
		t.Errorf("good host again: %s %q", x.Status, x.Reason)
	}
	x := run(bad.Addr)
	if x.Status != api.ExecSkipped || !strings.Contains(x.Reason, "per_host on "+bad.Addr) ||
		!strings.Contains(x.Reason, "--entity "+bad.Addr) {
		t.Errorf("bad host alone: %s %q", x.Status, x.Reason)
	}
	if n := lines(filepath.Join(bad.Home, "ran")); n != 1 {
		t.Errorf("bad host ran %d times, want 1", n)
	}
	// Resuming another host's pause does nothing; the bad host's works.
	if code, body := p.resume(adminToken, "per_host", `{"reason": "x", "entity": "`+good.Addr+`"}`); code != http.StatusNotFound {
		t.Errorf("resume of the good host: %d %s", code, body)
	}
	if code, body := p.resume(adminToken, "per_host", `{"reason": "fixed", "entity": "`+bad.Addr+`"}`); code != http.StatusOK {
		t.Errorf("resume of the bad host: %d %s", code, body)
	}
	if st, _ := p.ruleState("per_host", bad.Addr); st.Paused {
		t.Errorf("bad host still paused: %+v", st)
	}
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Two replicas sharing PostgreSQL count one rule's failures together,
// exactly, and pause it once; both skip it then, and a resume on one is
// seen by the other.
func TestBreakerTwoReplicasPostgres(t *testing.T) {
	e := newEnv(t)
	dsn := e.write("pg_dsn", pgtest.DSN(t)+"\n")
	cfg := func(name string) string {
		return e.config(name, fmt.Sprintf("replica_id: %s\nstore: {postgres_dsn_file: %s, lease: 2s, poll_interval: 200ms}\n", name, dsn))
	}
	ca, cb := cfg("replica-a"), cfg("replica-b")
	e.write("tokens", "oncall:"+token+" scopes=adhoc,read,metrics\nadmin:"+adminToken+" scopes=admin,read\n")
	a, b := e.start(ca), e.start(cb)
	rule := map[string]any{"rule_name": "flaky_pg", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"governor":  map[string]any{"pause_after": 4},
		"task_list": []any{sshTask("exit 1")}}
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 4 {
		p := a
		if i%2 == 1 {
			p = b
		}
		al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: fmt.Sprint("m", i), Teams: []string{"incoming"}})
		wg.Go(func() {
			code, acc := p.post(request(al, rule))
			if code != http.StatusAccepted {
				t.Errorf("post: %d", code)
			}
			mu.Lock()
			ids = append(ids, acc.ExecutionID)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if x := a.execution(id); x.Status != api.ExecFailure {
			t.Fatalf("%s: %s", id, x.Status)
		}
	}
	waitFor(t, "rule_paused", func() bool {
		return strings.Contains(a.logs.String()+b.logs.String(), "event=rule_paused")
	})
	st, _ := b.ruleState("flaky_pg", "")
	if !st.Paused || st.Failures != 4 {
		t.Fatalf("replica b sees %+v", st)
	}
	if n := strings.Count(a.logs.String()+b.logs.String(), "event=rule_paused"); n != 1 {
		t.Errorf("%d rule_paused lines, want 1", n)
	}
	for _, p := range []*proc{a, b} {
		al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "paused", Teams: []string{"incoming"}})
		_, acc := p.post(request(al, rule))
		if x := p.execution(acc.ExecutionID); x.Status != api.ExecSkipped || !strings.HasPrefix(x.Reason, "rule_paused:") {
			t.Errorf("paused: %s %q", x.Status, x.Reason)
		}
	}
	if code, body := a.resume(adminToken, "flaky_pg", `{"reason": "checked"}`); code != http.StatusOK {
		t.Fatalf("resume: %d %s", code, body)
	}
	if st, _ := b.ruleState("flaky_pg", ""); st.Paused || st.ResumedBy != "admin" {
		t.Errorf("replica b after the resume: %+v", st)
	}
}
