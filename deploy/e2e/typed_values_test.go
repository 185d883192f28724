package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

// restartsRule is issue 10's rule with the value typed: it restarts when
// details.restarts is over 3. MARKER and CANARY are replaced with files.
const restartsRule = `{"enabled": "true", "os_type": "linux", "rule_name": "restarts_typed", "rule_version": "1",
 "alert_feed": "OpsGenie",
 "when": {"all": [{"path": "tags", "op": "tags_include", "value": ["syn.restarts"]}]},
 "task_list": [{"task": {"task_type": "remote_ssh", "template": true,
                         "run_command": "if [[ {{ .details.restarts | int }} -gt 3 ]]; then echo restarted >> MARKER; fi",
                         "action": "restart_service", "action_reason": "restarts"}}],
 "entity_type": "path", "entity_path": "details.host", "route_to_team": "email_opsunixadmins"}`

// untypedRule is issue 10's rule as the review wrote it: refused at load.
const untypedRule = `{"enabled": "true", "os_type": "linux", "rule_name": "restarts_untyped", "rule_version": "1",
 "alert_feed": "OpsGenie",
 "when": {"all": [{"path": "tags", "op": "tags_include", "value": ["syn.untyped"]}]},
 "task_list": [{"task": {"task_type": "remote_ssh", "template": true,
                         "run_command": "if [[ {{ .details.restarts }} -gt 3 ]]; then echo restarted >> MARKER; fi"}}],
 "entity_type": "path", "entity_path": "details.host"}`

// Issue 10's exploit end to end (OpsGenie → poller → classifier → action
// handler → real sshd): details.restarts = a[$(touch CANARY)] runs nothing
// on the host, with the rule as the review wrote it (refused at load) or
// typed | int (refused at render); restarts = 5 runs the typed rule.
func TestHostileValueRunsNothing(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	canary := filepath.Join(e.dir, "canary")
	for name, text := range map[string]string{"restarts_typed.json": restartsRule, "restarts_untyped.json": untypedRule} {
		text = strings.NewReplacer("MARKER", e.marker).Replace(text)
		tmp := filepath.Join(e.rules, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(e.rules, name)); err != nil {
			t.Fatal(err)
		}
	}
	alert := func(tag, restarts string) string {
		return e.OpsGenie.CreateAlert(opsgenietest.AlertSpec{
			Message: "app restarts", Description: "app restarted too often", Entity: e.SSH.Addr,
			Tags:    []string{tag},
			Details: map[string]string{"host": e.SSH.Addr, "restarts": restarts},
			Teams:   []string{stack.IncomingTeam},
		}).ID
	}
	hostile := "a[$(touch " + canary + ")]"
	for _, tag := range []string{"syn.untyped", "syn.restarts"} {
		id := alert(tag, hostile)
		eventually(t, "the hostile alert "+tag+" sent to people", 60*time.Second, func() bool {
			return len(e.OpsGenie.Teams(id)) > 1
		})
		t.Logf("%s: teams %q, notes %q", tag, e.OpsGenie.Teams(id), e.OpsGenie.Notes(id))
	}
	// The rules are read when alerts arrive.
	if _, err := e.Procs["classifier"].WaitFor(ctx, "event=rule_invalid", "restarts_untyped", "inside [[ ]]"); err != nil {
		t.Fatalf("the untyped rule was not refused at load: %v", err)
	}
	ok := alert("syn.restarts", "5")
	eventually(t, "the typed rule run for restarts=5", 60*time.Second, func() bool {
		b, err := os.ReadFile(e.marker)
		return err == nil && strings.Contains(string(b), "restarted") && contains(e.OpsGenie.Teams(ok), "email_opsunixadmins")
	})
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("the hostile value ran a command on the host")
	}
	b, _ := os.ReadFile(e.marker)
	if n := strings.Count(string(b), "restarted"); n != 1 {
		t.Errorf("the command ran %d times, want once (for restarts=5 only)", n)
	}
	// The refusal names the field and the type, and not the value.
	line, err := e.Procs["actionhandler"].WaitFor(ctx, "restarts_typed", "details.restarts refused by type int")
	if err != nil {
		t.Fatalf("no log line for the refused value: %v", err)
	}
	if strings.Contains(line, canary) {
		t.Errorf("the log shows the hostile value: %s", line)
	}
}
