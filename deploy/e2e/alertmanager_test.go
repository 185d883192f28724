package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
)

// alertmanagerRule acts on the test's alert, on the host its "host" label
// names. MARKER is replaced with the marker file.
const alertmanagerRule = `{"enabled": "true", "os_type": "linux", "rule_name": "am_disk_cleanup", "rule_version": "1",
 "rule_description": "Clean up when Prometheus says the disk is full",
 "alert_feed": "Alertmanager",
 "when": {"all": [
   {"path": "labels.alertname", "op": "equals", "value": "AlexisE2EDiskFull"},
   {"path": "tags", "op": "tags_include", "value": ["severity=page"]}]},
 "task_list": [{"task": {"task_type": "remote_ssh", "template": true,
                         "run_command": "echo cleaned {{ .labels.mountpoint | path }} >> MARKER",
                         "action": "clean_files", "action_reason": "disk_full"}}],
 "entity_type": "path", "entity_path": "host"}`

// Prometheus Alertmanager posts to the classifier; the rule's command runs
// on the real sshd exactly once although Alertmanager sends the firing
// alert again and again, and the resolved alert triggers nothing.
func TestAlertmanagerAlertIsRemediatedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	if _, err := exec.LookPath(stack.AlertmanagerBin); err != nil {
		msg := fmt.Sprintf("%s not installed (Debian package prometheus-alertmanager)", stack.AlertmanagerBin)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ": CI must install it") // a skip would hide the missing install step
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "disk.cleaned")
	rule := strings.ReplaceAll(alertmanagerRule, "MARKER", marker)
	if err := os.WriteFile(filepath.Join(rules, "am_disk_cleanup.json"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Dir: dir, BinDir: binDir, RulesDir: rules, LoopInterval: time.Second,
		Alertmanager: &stack.AlertmanagerOptions{GroupWait: time.Second, GroupInterval: time.Second, RepeatInterval: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cl, ah := s.Procs["classifier"], s.Procs["actionhandler"]

	firing := stack.PostedAlert{
		Labels:      map[string]string{"alertname": "AlexisE2EDiskFull", "host": s.SSH.Addr, "mountpoint": "/var", "severity": "page"},
		Annotations: map[string]string{"summary": "/var is full", "description": "1% left"},
		StartsAt:    time.Now().Add(-time.Minute),
	}
	if err := s.Alertmanager.Post(ctx, firing); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the remote command's marker file", 90*time.Second, func() bool {
		b, err := os.ReadFile(marker)
		return err == nil && strings.Contains(string(b), "cleaned /var")
	})
	matched, err := cl.WaitFor(ctx, "event=rule_matched", "rule_name=am_disk_cleanup", "feed_type=Alertmanager")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ah.WaitFor(ctx, "event=action_finished", "rule_name=am_disk_cleanup", "action_status=success", "entity="+s.SSH.Addr); err != nil {
		t.Fatal(err)
	}

	// Alertmanager sends the still-firing alert again at repeat_interval:
	// the classifier pushes it again, and the action handler, seeing the
	// same alert id and rule, does not run it again.
	if _, err := ah.WaitFor(ctx, "event=execution_duplicate"); err != nil {
		t.Fatal(err)
	}
	// The classifier's line about the repeat is written before the push,
	// but reaches this test through another pipe: wait for it.
	eventually(t, "the classifier matching the repeat (2 rule_matched lines)", 30*time.Second, func() bool {
		return len(cl.Find("event=rule_matched", "rule_name=am_disk_cleanup")) >= 2
	})
	if n := len(ah.Find("event=execution_queued")); n != 1 {
		t.Errorf("%d executions queued, want 1", n)
	}

	// Resolved: Alertmanager sends the resolved notification, which the
	// classifier skips.
	firing.EndsAt = time.Now().Add(-time.Second)
	if err := s.Alertmanager.Post(ctx, firing); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WaitFor(ctx, "event=alert_skipped", "feed_type=Alertmanager"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(marker)
	if n := strings.Count(string(b), "cleaned /var"); n != 1 {
		t.Errorf("command ran %d times, want exactly once:\n%s", n, b)
	}
	if n := len(ah.Find("event=execution_queued")); n != 1 {
		t.Errorf("%d executions queued after the resolved notification, want 1", n)
	}
	// The alert id is the fingerprint and the time it started firing.
	if !strings.Contains(matched, "unique_value=") || !strings.Contains(matched, "feed_type=Alertmanager") {
		t.Errorf("rule_matched line: %s", matched)
	}
	amToken, err := os.ReadFile(filepath.Join(dir, "secrets", "alertmanager_token"))
	if err != nil || len(amToken) < 16 {
		t.Fatalf("alertmanager token: %v", err)
	}
	for _, l := range append(cl.Lines(), s.Alertmanager.Proc.Lines()...) {
		if strings.Contains(l, string(amToken)) {
			t.Errorf("the alertmanager token was logged: %s", l)
		}
	}
}
