package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

var recordRefusals = flag.String("record-refusals", "",
	"write the log of TestRefusalsAreReported to this file (e.g. ../../internal/report/testdata/refusals.log)")

// postJSON posts an alert with details and rule r (fields over the
// defaults of request) and returns the status and answer.
func (s *instance) postJSON(t *testing.T, a opsgenietest.Alert, details map[string]any, r map[string]any) (int, api.ActionAccepted) {
	t.Helper()
	code, retryAfter, b := s.postRaw(t, a, details, r)
	var acc api.ActionAccepted
	_ = json.Unmarshal(b, &acc)
	if code == http.StatusServiceUnavailable && retryAfter == "" {
		t.Errorf("503 without Retry-After")
	}
	return code, acc
}

// get fetches path from the API into out.
func (s *instance) get(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// reported waits until execution id is written back and returns it.
func (s *instance) reported(t *testing.T, id string) api.Execution {
	t.Helper()
	var x api.Execution
	waitFor(t, "execution "+id+" reported", func() bool {
		x = api.Execution{}
		s.get(t, "/v1/executions/"+id, &x)
		return x.ReportedAt != nil
	})
	return x
}

func ssh(cmd string) []any {
	return []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "run_command": cmd, "template": true,
		"action": "remediate"}}}
}

// TestRefusalsAreReported drives every way a remediation the action
// handler is asked for does not run through the real service (real sshd,
// local OpsGenie): each logs one line with action_status and reason, shows
// in the history where it has an execution, and the report of the
// recorded log counts it by reason.
func TestRefusalsAreReported(t *testing.T) {
	s := startWith(t, false, "5s", "max_queued_executions: 1\n", nil)
	marker := filepath.Join(s.dir, "ran")
	alert := func(msg string) opsgenietest.Alert {
		return s.og.CreateAlert(opsgenietest.AlertSpec{Message: msg, Teams: []string{"incoming"}})
	}

	// entity_refused: the entity is not a safe host name.
	code, _ := s.postJSON(t, alert("entity"), map[string]any{"host": "web-02; touch " + marker},
		map[string]any{"rule_name": "bad_entity", "entity_type": "path", "entity_path": "details.host",
			"task_list": ssh("echo ran >> " + marker)})
	if code != http.StatusUnprocessableEntity {
		t.Errorf("entity refused: %d, want 422", code)
	}

	// value_refused: the alert value cannot be placed in the command.
	va := alert("value")
	code, acc := s.postJSON(t, va, map[string]any{"dir": []string{"a", "b"}},
		map[string]any{"rule_name": "bad_value", "task_list": ssh("echo {{ .details.dir }} >> " + marker)})
	if code != http.StatusAccepted {
		t.Fatalf("value: %d", code)
	}
	x := s.reported(t, acc.ExecutionID)
	if x.Status != api.ExecRefused || len(x.Steps) != 1 || x.Steps[0].Status != api.ExecRefused ||
		!strings.Contains(x.Steps[0].Error, "is an array") || !strings.Contains(x.Reason, "refused") {
		t.Errorf("value refused execution: %+v", x)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(s.og.Teams(va.ID), "queue_needsinvestigation") })
	if notes := strings.Join(s.og.Notes(va.ID), "\n"); !strings.Contains(notes, "refused, nothing was run") ||
		!strings.Contains(notes, "is an array") {
		t.Errorf("value refused notes %q", notes)
	}
	var l api.ExecutionList
	s.get(t, "/v1/executions?status=refused", &l)
	if len(l.Executions) != 1 || l.Executions[0].ID != acc.ExecutionID {
		t.Errorf("history of refused: %+v", l)
	}

	// queue_full: one execution runs on the host, one waits for it (the
	// queue holds 1), the third is refused.
	gate := filepath.Join(s.dir, "gate")
	_, busy := s.postJSON(t, alert("busy"), nil, map[string]any{"rule_name": "busy",
		"task_list": ssh("while [ ! -e " + gate + " ]; do sleep 0.05; done")})
	waitFor(t, "busy running", func() bool {
		var x api.Execution
		s.get(t, "/v1/executions/"+busy.ExecutionID, &x)
		return x.Status == api.ExecRunning
	})
	code, waiting := s.postJSON(t, alert("waiting"), nil, map[string]any{"rule_name": "waiting", "task_list": ssh("true")})
	if code != http.StatusAccepted {
		t.Fatalf("waiting: %d", code)
	}
	if code, _ := s.postJSON(t, alert("full"), nil, map[string]any{"rule_name": "full", "task_list": ssh("true")}); code != http.StatusServiceUnavailable {
		t.Errorf("queue full: %d, want 503", code)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.reported(t, busy.ExecutionID)
	s.reported(t, waiting.ExecutionID)

	// governor: the second execution of a rule allowed once an hour.
	gov := map[string]any{"rule_name": "once", "governor": map[string]any{"max_executions": 1, "window": "1h"},
		"task_list": ssh("true")}
	_, first := s.postJSON(t, alert("gov1"), nil, gov)
	s.reported(t, first.ExecutionID)
	_, second := s.postJSON(t, alert("gov2"), nil, gov)
	if x := s.reported(t, second.ExecutionID); x.Status != api.ExecSkipped {
		t.Errorf("governor: %+v", x)
	}

	if b, _ := os.ReadFile(marker); len(b) != 0 {
		t.Errorf("a refused remediation ran: %q", b)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	logs := s.logs.String()
	if *recordRefusals != "" {
		if err := os.WriteFile(*recordRefusals, []byte(logs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// One line per remediation that did not run, with action_status and reason.
	for _, tc := range []struct{ name, status, reason, rule string }{
		{"entity", "refused", "entity_refused", "bad_entity"},
		{"value", "refused", "value_refused", "bad_value"},
		{"queue", "refused", "queue_full", "full"},
		{"governor", "skipped", "governor", "once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var found []string
			for _, ln := range strings.Split(logs, "\n") {
				if strings.Contains(ln, "reason="+tc.reason) && strings.Contains(ln, "action_status=") {
					found = append(found, ln)
				}
			}
			if len(found) != 1 || !strings.Contains(found[0], "action_status="+tc.status) ||
				!strings.Contains(found[0], "rule_name="+tc.rule) {
				t.Errorf("lines with reason=%s and action_status: %q", tc.reason, found)
			}
		})
	}
	rep, err := report.Read(strings.NewReader(logs), report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"entity_refused": 1, "value_refused": 1, "queue_full": 1, "governor": 1}
	if got := rep.RefusalsByReason(); !mapsEqual(got, want) {
		t.Errorf("report refusals %v, want %v\n%+v", got, want, rep.Refusals)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
