// Package e2e runs the whole pipeline as real processes: poller →
// classifier → action handler → OpenSSH sshd, with write-back to a local
// OpsGenie-compatible server through the real OpsGenie SDK.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "alexis-e2e-bin-")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	if err := stack.Build(ctx, dir); err != nil {
		cancel()
		os.RemoveAll(dir)
		panic(err)
	}
	cancel()
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	*stack.Stack
	t      *testing.T
	dir    string
	rules  string
	marker string
}

func start(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Dir: dir, BinDir: binDir, RulesDir: rules, LoopInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{Stack: s, t: t, dir: dir, rules: rules, marker: filepath.Join(dir, "duplicator.restarted")}
}

// dropRule installs the GC-restart rule, pointing its command at the marker
// file, with an atomic rename as an operator's editor or config tool would.
func (e *env) dropRule() {
	e.t.Helper()
	data, err := os.ReadFile("testdata/day_duplicator_gc_restart.json")
	if err != nil {
		e.t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("MARKER"), []byte(e.marker))
	tmp := filepath.Join(e.rules, ".day_duplicator_gc_restart.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.rules, "day_duplicator_gc_restart.json")); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) gcAlert() string {
	a := e.CreateAlert("duplicator: Long garbage-collection time",
		"JVM reports Long garbage-collection time on duplicator", e.SSH.Addr, "syn.day", "syn.duplicator")
	return a.ID
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestAlertIsRemediatedOverSSH(t *testing.T) {
	e := start(t)
	e.dropRule()
	id := e.gcAlert()

	eventually(t, "the remote command's marker file", 90*time.Second, func() bool {
		b, err := os.ReadFile(e.marker)
		return err == nil && strings.Contains(string(b), "duplicator restarted")
	})
	eventually(t, "route_to_team on the alert", 90*time.Second, func() bool {
		return contains(e.OpsGenie.Teams(id), "email_opsunixadmins")
	})
	notes := e.OpsGenie.Notes(id)
	if !contains(notes, "Autoremediation rule day_duplicator_gc_restart has matched, pushing to Action Handler") {
		t.Errorf("classifier note missing; notes: %q", notes)
	}
	if !contains(notes, e.SSH.Addr) || !contains(notes, "success") {
		t.Errorf("per-host result note missing; notes: %q", notes)
	}
	if contains(e.OpsGenie.Teams(id), stack.InvestigationQueue) {
		t.Errorf("remediated alert was routed to the investigation queue")
	}
	b, _ := os.ReadFile(e.marker)
	if n := strings.Count(string(b), "duplicator restarted"); n != 1 {
		t.Errorf("command ran %d times, want exactly once", n)
	}

	// The action handler's log line carries the reporting keys.
	ah := e.Procs["actionhandler"]
	line, err := ah.WaitFor(context.Background(), "event=action_finished", "alert_id="+id)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{
		"service=actionhandler", "rule_name=day_duplicator_gc_restart", "entity=" + e.SSH.Addr,
		"action=restart_service", "action_reason=garbage_collection", "action_status=success",
		"exit_code=0", "elapsed_ms=", "client=classifier", "requested_by=poller",
	} {
		if !strings.Contains(line, kv) {
			t.Errorf("action_finished line lacks %q: %s", kv, line)
		}
	}
	if _, err := e.Procs["classifier"].WaitFor(context.Background(), "event=rule_matched", "rule_name=day_duplicator_gc_restart"); err != nil {
		t.Error(err)
	}
	// The history says who asked (the poller's token, relayed by the
	// classifier in a signed request): not ad-hoc.
	xs := e.executions(t, id)
	if len(xs) != 1 || xs[0].Client != "classifier" || xs[0].RequestedBy != "poller" || xs[0].AdHoc {
		t.Errorf("executions %+v, want one by classifier, requested_by poller, not adhoc", xs)
	}
	if contains(notes, "ad-hoc") {
		t.Errorf("a verified execution noted as ad-hoc: %q", notes)
	}
	// No secret reaches a log.
	for name, p := range e.Procs {
		for _, l := range p.Lines() {
			if strings.Contains(l, e.UserToken) || strings.Contains(l, e.OpsGenie.APIKey()) || strings.Contains(l, "PRIVATE KEY") {
				t.Errorf("%s logged a secret: %s", name, l)
			}
		}
	}
}

func TestRuleDroppedInAppliesToNextAlert(t *testing.T) {
	e := start(t)

	// No rules yet: the alert goes to a human.
	first := e.gcAlert()
	eventually(t, "first alert routed to the investigation queue", 90*time.Second, func() bool {
		return contains(e.OpsGenie.Teams(first), stack.InvestigationQueue)
	})
	if !contains(e.OpsGenie.Notes(first), "none matched") {
		t.Errorf("unmatched note missing: %q", e.OpsGenie.Notes(first))
	}
	if _, err := os.Stat(e.marker); err == nil {
		t.Fatal("command ran without a rule")
	}

	// Drop the rule in while everything runs: the next alert is remediated.
	e.dropRule()
	second := e.gcAlert()
	eventually(t, "second alert remediated", 90*time.Second, func() bool {
		_, err := os.Stat(e.marker)
		return err == nil && contains(e.OpsGenie.Teams(second), "email_opsunixadmins")
	})
	if contains(e.OpsGenie.Teams(second), stack.InvestigationQueue) {
		t.Error("second alert was routed to the investigation queue")
	}
}

func TestDirectActionNeedsToken(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "not-a-valid-token-at-all", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.ActionHandlerURL+"/v1/action", strings.NewReader(`{}`))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// A person posts an action straight to the action handler with their own
// token, as Alexis users do; it runs and is attributed to them.
func TestPersonPostsActionDirectly(t *testing.T) {
	e := start(t)
	a := e.CreateAlert("manual remediation", "on-call asked for a restart", e.SSH.Addr)
	data, err := os.ReadFile("testdata/day_duplicator_gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rule.Parse(bytes.ReplaceAll(data, []byte("MARKER"), []byte(e.marker)))
	if err != nil {
		t.Fatal(err)
	}
	record, _ := json.Marshal(map[string]any{"id": a.ID, "tinyId": a.TinyID, "details": map[string]string{"host": e.SSH.Addr}})
	env, err := alert.New(record, alert.Meta{UniqueKey: "tinyId", UniqueValue: a.TinyID, FeedType: "OpsGenie", FeedName: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(&action.Request{Alert: env, Rule: r})
	req, _ := http.NewRequest(http.MethodPost, e.ActionHandlerURL+"/v1/action", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.UserToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var acc api.ActionAccepted
	if err := json.NewDecoder(resp.Body).Decode(&acc); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || acc.ExecutionID == "" || len(acc.Entities) != 1 || acc.Entities[0] != e.SSH.Addr {
		t.Fatalf("answer %d %+v", resp.StatusCode, acc)
	}
	eventually(t, "the command's marker file", 90*time.Second, func() bool {
		_, err := os.Stat(e.marker)
		return err == nil
	})
	eventually(t, "the result note", 90*time.Second, func() bool {
		return contains(e.OpsGenie.Notes(a.ID), "success")
	})
	if _, err := e.Procs["actionhandler"].WaitFor(context.Background(), "event=action_finished", "client=oncall", "execution_id="+acc.ExecutionID); err != nil {
		t.Fatal(err)
	}
	// Its rule is not one the classifier forwarded: it ran on the scope
	// adhoc, and says so in history, log and note.
	xs := e.executions(t, a.ID)
	if len(xs) != 1 || !xs[0].AdHoc || xs[0].RequestedBy != "oncall" {
		t.Errorf("executions %+v, want one ad-hoc execution requested by oncall", xs)
	}
	if !contains(e.OpsGenie.Notes(a.ID), "[ad-hoc] Alexis rule day_duplicator_gc_restart was posted by oncall") {
		t.Errorf("notes %q lack the ad-hoc line", e.OpsGenie.Notes(a.ID))
	}
	if _, err := e.Procs["actionhandler"].WaitFor(context.Background(), "event=adhoc_action", "client=oncall"); err != nil {
		t.Error(err)
	}
}

// executions lists the action handler's executions of an alert.
func (e *env) executions(t *testing.T, alertID string) []api.Execution {
	t.Helper()
	return listExecutions(t, e.Stack, "alert_id="+alertID)
}

// listExecutions is GET /v1/executions?query on s's action handler, as
// its user; anything but a 200 with a list fails the test.
func listExecutions(t *testing.T, s *stack.Stack, query string) []api.Execution {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.ActionHandlerURL+"/v1/executions?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+s.UserToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list api.ExecutionList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/executions: %d %v", resp.StatusCode, err)
	}
	return list.Executions
}
