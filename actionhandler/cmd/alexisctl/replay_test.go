package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

const (
	replayClassifierToken = "tok-classifier-to-ah-1a2b3c4d5e6f"
	replayPollerToken     = "tok-poller-to-classifier-6f5e4d3c"
	replaySigningKey      = "replay-signing-key-0123456789abcdef0123"
)

// replayRuleFile is a rule matching alerts tagged tag, running command
// on the alert's details.host.
func replayRuleFile(name, tag, command string) string {
	return mustJSON(map[string]any{"enabled": "true", "os_type": "linux", "rule_name": name, "alert_feed": "OpsGenie",
		"evaluation_list": []any{map[string]any{"evaluation": map[string]any{"tags": []string{tag}}}},
		"task_list": []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "action": "restart",
			"run_command": command, "template": true}}},
		"entity_type": "keyvalue", "entity_keyvalue": []string{"details", "host"}, "route_to_team": "ops_unix"})
}

func writeRulesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startHistoryClassifier runs the real classifier on rulesDir, pushing to
// the action handler h and recording every decision there.
func startHistoryClassifier(t *testing.T, h *realHandler, rulesDir string) string {
	t.Helper()
	bin := classifierBinary(t)
	ahToken := writeFile(t, "ah_token", replayClassifierToken+"\n")
	cfg := writeFile(t, "classifier.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
rules_dir: %s
action_handlers:
  linux: %s/v1/action
action_handler_token_file: %s
signing_key_file: %s
action_handler_timeout: 10s
default_investigation_queue: ops_investigation
history:
  url: %s/v1/decisions
  token_file: %s
  flush_interval: 50ms
opsgenie:
  api_url: %s
  api_key_file: %s
  timeout: 5s
  retries: 1
`, writeFile(t, "tokens", "poller:"+replayPollerToken+"\n"), rulesDir, h.url, ahToken,
		writeFile(t, "signing_key", replaySigningKey+"\n"), h.url, ahToken, h.og.Host(), writeFile(t, "genie_key", h.og.APIKey()+"\n")))
	return runClassifier(t, bin, cfg)
}

// classify posts an alert tagged tag, acting on host, to the classifier,
// as the poller does, and returns the classifier's result.
func classify(t *testing.T, og *opsgenietest.Server, classifierURL, tag, host, service string) string {
	t.Helper()
	a := og.CreateAlert(opsgenietest.AlertSpec{Message: tag + " trouble", Teams: []string{"incoming"}})
	env := mustJSON(map[string]any{"id": a.ID, "tinyId": a.TinyID, "message": a.Message, "tags": []string{tag},
		"details": map[string]string{"host": host, "service": service},
		"alexis":  map[string]string{"unique_key": "tinyId", "unique_value": a.TinyID, "feed_type": "OpsGenie", "feed_name": "incoming"}})
	req, err := http.NewRequest(http.MethodPost, classifierURL+"/v1/classifier", bytes.NewReader([]byte(env)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+replayPollerToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res api.Classification
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("classify %s: %d %v", tag, resp.StatusCode, err)
	}
	return res.Result
}

// TestRealReplay: alerts go through the real classifier to the real
// action handler (which records the decisions and runs the matched rule
// over SSH); alexisctl replay then re-classifies them with rules
// directories: the deployed one changes nothing (exit 0 even with
// -fail-on-change), a modified one shows each kind of difference and,
// with -fail-on-change, exits 6.
func TestRealReplay(t *testing.T) {
	h := startRealHandlerWith(t, "signing_key_file: "+writeFile(t, "ah_signing_key", replaySigningKey+"\n")+"\n",
		"classifier:"+replayClassifierToken+" scopes=act,record\n")
	restart := replayRuleFile("restart_app", "app-down", "echo restarting {{ .details.service }}")
	cpu := replayRuleFile("cpu_hog", "cpu", "echo renice")
	deployed := writeRulesDir(t, map[string]string{"restart.json": restart, "cpu.json": cpu})
	c := startHistoryClassifier(t, h, deployed)

	for _, tc := range []struct{ tag, service, want string }{
		{"app-down", "nginx", "matched"},
		{"app-down", "redis", "matched"},
		{"cpu", "java", "matched"},
		{"mem", "java", "unmatched"},
	} {
		if got := classify(t, h.og, c, tc.tag, h.ssh.Addr, tc.service); got != tc.want {
			t.Fatalf("%s: %s, want %s", tc.tag, got, tc.want)
		}
	}
	env := h.env(t)
	waitUntil(t, "4 decisions recorded", func() bool {
		var l api.DecisionList
		r := cli(t, env, "-o", "json", "alerts", "list", "-since", "1h")
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &l) == nil && len(l.Decisions) == 4
	})

	// The deployed rules: nothing differs.
	r := cli(t, env, "replay", "-rules", deployed, "-since", "1h", "-fail-on-change")
	if r.code != 0 || !strings.Contains(r.stdout, "replayed 4 recorded alert(s) with 2 rule file(s)") ||
		!strings.Contains(r.stdout, ": 4 unchanged, 0 different") {
		t.Fatalf("unchanged rules:\n%s", r)
	}

	// The candidate: restart_app restarts redis differently, cpu_hog is
	// gone, mem_hog is new.
	candidate := writeRulesDir(t, map[string]string{
		"restart.json": replayRuleFile("restart_app", "app-down",
			`echo {{ if eq .details.service "redis" }}try-restarting{{ else }}restarting{{ end }} {{ .details.service }}`),
		"mem.json":     replayRuleFile("mem_hog", "mem", "echo heap dump"),
		".editor.json": "not a rule: ignored like the classifier ignores it",
		"README.md":    "ignored",
	})
	r = cli(t, env, "replay", "-rules", candidate, "-since", "1h", "-fail-on-change")
	if r.code != exitChanged {
		t.Fatalf("want exit %d:\n%s", exitChanged, r)
	}
	for _, want := range []string{
		": 1 unchanged, 3 different",
		"newly matched (1):", "(none) → mem_hog", "+ run 'echo heap dump'",
		"no longer matched (1):", "cpu_hog → (none)",
		"command changed (1):", "restart_app → restart_app",
		"#0 remote_ssh on " + h.ssh.Addr,
		"- run 'echo restarting 'redis''", "+ run 'echo try-restarting 'redis''",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "matched by another rule") || !strings.Contains(r.stderr, "would be decided or run differently") {
		t.Errorf("output:\n%s", r)
	}
	// Without -fail-on-change the same differences exit 0 (a report).
	if r := cli(t, env, "replay", "-rules", candidate, "-since", "1h"); r.code != 0 || !strings.Contains(r.stdout, "3 different") {
		t.Errorf("without -fail-on-change:\n%s", r)
	}
	// -o json: the API's answer.
	r = cli(t, env, "-o", "json", "replay", "-rules", candidate, "-since", "1h", "-limit", "2")
	var ans api.ReplayAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != 0 || ans.Decisions != 2 || !ans.Truncated ||
		!strings.Contains(r.stderr, "more recorded alerts were in the range than -limit 2") {
		t.Errorf("json, limit 2: %v\n%s", err, r)
	}
	// A read-only token is enough; nothing was run or written: still 4
	// decisions, and only the 3 executions the classifier pushed.
	readOnly := map[string]string{"ALEXIS_URL": h.url, "ALEXIS_TOKEN_FILE": writeFile(t, "reader_token", readerToken+"\n")}
	if r := cli(t, readOnly, "replay", "-rules", candidate, "-since", "1h"); r.code != 0 {
		t.Errorf("read-only token:\n%s", r)
	}
	var xl api.ExecutionList
	if r := cli(t, env, "-o", "json", "executions", "list", "-since", "1h"); json.Unmarshal([]byte(r.stdout), &xl) != nil || len(xl.Executions) != 3 {
		t.Errorf("executions after replay:\n%s", r)
	}
	// A bad candidate rule: exit 2, the file and field named.
	bad := writeRulesDir(t, map[string]string{"broken.json": `{"rule_name": "broken", "enabled": "maybe"}`})
	if r := cli(t, env, "replay", "-rules", bad); r.code != exitUsage || !strings.Contains(r.stderr, "broken.json: enabled") {
		t.Errorf("bad rule:\n%s", r)
	}
	if r := cli(t, env, "replay", "-rules", t.TempDir()); r.code != exitUsage || !strings.Contains(r.stderr, "no rule files") {
		t.Errorf("empty dir:\n%s", r)
	}
	_ = time.Second
}
