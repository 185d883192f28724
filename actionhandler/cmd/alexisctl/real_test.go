package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// The real action handler, built once for the tests that need it.
var (
	handlerOnce sync.Once
	handlerBin  string
	handlerErr  error
)

func actionHandlerBinary(t *testing.T) string {
	t.Helper()
	handlerOnce.Do(func() {
		handlerBin = filepath.Join(buildDir, "actionhandler")
		out, err := exec.Command("go", "build", "-o", handlerBin, "../actionhandler").CombinedOutput()
		if err != nil {
			handlerErr = fmt.Errorf("build actionhandler: %v\n%s", err, out)
		}
	})
	if handlerErr != nil {
		t.Fatal(handlerErr)
	}
	return handlerBin
}

const readerToken = "tok-reader-only-9a8b7c6d5e4f"

// realHandler is an action handler process against a real sshd and a
// local OpsGenie; oncall (the test token) has adhoc and read, reader only
// read.
type realHandler struct {
	url string
	ssh *sshdtest.Server
	og  *opsgenietest.Server
}

func startRealHandler(t *testing.T) *realHandler {
	t.Helper()
	return startRealHandlerWith(t, "", "")
}

// startRealHandlerWith appends extra to the configuration and tokens to
// the tokens file.
func startRealHandlerWith(t *testing.T, extra, tokens string) *realHandler {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the action handler and sshd")
	}
	sshdtest.Require(t)
	bin := actionHandlerBinary(t)
	dir := t.TempDir()
	h := &realHandler{ssh: sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"}), og: opsgenietest.NewT(t)}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("actionhandler.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
investigation_queue: queue_needsinvestigation
shutdown_grace: 5s
store: {sqlite_path: %s}
ssh:
  user: %s
  key_file: %s
  known_hosts_file: %s
  connect_timeout: 5s
  command_timeout: 30s
opsgenie:
  api_url: %s
  api_key_file: %s
  timeout: 5s
  retries: 1
%s`, write("tokens", "oncall:"+testToken+" scopes=adhoc,read\nreader:"+readerToken+" scopes=read\n"+tokens),
		filepath.Join(dir, "actionhandler.db"), h.ssh.User, h.ssh.ClientKeyFile, h.ssh.KnownHostsFile,
		h.og.Host(), write("opsgenie_key", h.og.APIKey()+"\n"), extra))
	logs := &logtest.Buffer{}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	re := regexp.MustCompile(`event=service_started listen=(\S+)`)
	waitUntil(t, "service_started", func() bool {
		select {
		case <-done:
			t.Fatalf("action handler exited:\n%s", logs)
		default:
		}
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			h.url = "http://" + m[1]
			return true
		}
		return false
	})
	return h
}

func (h *realHandler) env(t *testing.T) map[string]string {
	return map[string]string{"ALEXIS_URL": h.url, "ALEXIS_TOKEN_FILE": tokenFile(t, 0o600)}
}

// files writes a rule running cmd on the sshd and an alert for it.
func (h *realHandler) files(t *testing.T, ruleName, cmd string) (rulePath, alertPath string) {
	t.Helper()
	a := h.og.CreateAlert(opsgenietest.AlertSpec{Message: "duplicator GC", Teams: []string{"incoming"}})
	r := map[string]any{"enabled": "true", "os_type": "linux", "rule_name": ruleName, "alert_feed": "OpsGenie",
		"evaluation_list": []any{map[string]any{"evaluation": map[string]any{"tags": []string{"t"}}}},
		"task_list":       []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "run_command": cmd, "action": "say_hello"}}},
		"entity_type":     "keyvalue", "entity_keyvalue": []string{"details", "host"}, "route_to_team": "ops_unix"}
	al := map[string]any{"id": a.ID, "tinyId": a.TinyID, "message": a.Message, "tags": []string{"t"},
		"details": map[string]string{"host": h.ssh.Addr},
		"alexis":  map[string]string{"unique_key": "tinyId", "unique_value": a.TinyID, "feed_type": "OpsGenie", "feed_name": "incoming"}}
	return writeFile(t, "rule.json", mustJSON(r)), writeFile(t, "alert.json", mustJSON(al))
}

var executionRE = regexp.MustCompile(`execution (\S+) queued on `)

func TestRealActionHandler(t *testing.T) {
	h := startRealHandler(t)
	env := h.env(t)
	rf, af := h.files(t, "say_hello", "echo hello from alexis; echo oops >&2")

	r := cli(t, env, "run", "-rule", rf, "-alert", af, "-interval", "200ms")
	if r.code != 0 {
		t.Fatal(r)
	}
	m := executionRE.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "execution "+m[1]+" success") || !strings.Contains(r.stdout, "on "+h.ssh.Addr) {
		t.Fatalf("run output:\n%s", r)
	}
	id := m[1]

	// The same alert and rule again: the same execution (dedup window).
	r = cli(t, env, "run", "-rule", rf, "-alert", af, "-no-wait")
	if r.code != 0 || !strings.Contains(r.stdout, "execution "+id+" exists already") {
		t.Errorf("%s", r)
	}

	r = cli(t, env, "executions", "list", "-rule", "say_hello", "-status", "success", "-since", "1h")
	if r.code != 0 || !regexp.MustCompile(`(?m)^`+id+`\s+success\s+say_hello\s+`+regexp.QuoteMeta(h.ssh.Addr)).MatchString(r.stdout) {
		t.Errorf("list:\n%s", r)
	}
	r = cli(t, env, "executions", "list", "-rule", "no_such_rule")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("an empty list:\n%s", r)
	}

	waitUntil(t, "the execution written back", func() bool {
		var x api.Execution
		r := cli(t, env, "-o", "json", "executions", "show", id)
		return json.Unmarshal([]byte(r.stdout), &x) == nil && x.ReportedAt != nil
	})
	r = cli(t, env, "executions", "show", id)
	for _, want := range []string{"status        success", "[ad-hoc", "#0 remote_ssh say_hello on " + h.ssh.Addr + ": success, exit 0",
		"$ echo hello from alexis; echo oops >&2", "stdout:\n       hello from alexis", "stderr:\n       oops"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "written back  -") {
		t.Errorf("not written back:\n%s", r.stdout)
	}

	r = cli(t, env, "report", "-since", "1h", "-actions")
	if r.code != 0 || !regexp.MustCompile(`(?m)^say_hello\s+1\s+1\s+0\s+0\s+100\.0%`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^say_hello\s+`+regexp.QuoteMeta(h.ssh.Addr)+`\s+1\s+1\s`).MatchString(r.stdout[strings.Index(r.stdout, "ACTION"):]) {
		t.Errorf("report:\n%s", r)
	}

	// The action handler records a decision (result direct) for each
	// action posted to it directly: the alert's timeline.
	t.Run("alerts", func(t *testing.T) {
		r := cli(t, env, "alerts", "list", "-outcome", "direct")
		if r.code == exitNotFound {
			t.Skip("this action handler has no GET /v1/decisions")
		}
		if r.code != 0 || !regexp.MustCompile(`(?m)^direct-`+id+`\s+.*\sdirect\s+say_hello\s+`+regexp.QuoteMeta(h.ssh.Addr)+`\s+success\s+duplicator GC$`).MatchString(r.stdout) {
			t.Errorf("alerts list:\n%s", r)
		}
		r = cli(t, env, "alerts", "show", "direct-"+id)
		for _, want := range []string{"posted directly to the action handler (not classified)", "pushed say_hello: accepted, execution " + id,
			"execution " + id + " success", "$ echo hello from alexis; echo oops >&2", "written back onto the alert"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("alerts show lacks %q:\n%s", want, r)
			}
		}
	})

	// A command that fails: run exits 1.
	rf2, af2 := h.files(t, "say_fail", "echo no; exit 3")
	r = cli(t, env, "run", "-rule", rf2, "-alert", af2, "-interval", "200ms")
	if r.code != 1 || !strings.Contains(r.stdout, "failure") || !strings.Contains(r.stdout, "exit 3") {
		t.Errorf("a failing run:\n%s", r)
	}

	// Not found, and a token without the scope.
	if r := cli(t, env, "executions", "show", "0123456789abcdef"); r.code != 3 {
		t.Errorf("%s", r)
	}
	reader := writeFile(t, "reader", readerToken)
	if err := os.Chmod(reader, 0o600); err != nil {
		t.Fatal(err)
	}
	env["ALEXIS_TOKEN_FILE"] = reader
	rf3, af3 := h.files(t, "say_refused", "echo never")
	r = cli(t, env, "run", "-rule", rf3, "-alert", af3)
	if r.code != 4 || !strings.Contains(r.stderr, "lacks scope") {
		t.Errorf("read-only token running a rule:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, readerToken) {
		t.Errorf("token printed:\n%s", r)
	}
	if r := cli(t, env, "executions", "list"); r.code != 0 {
		t.Errorf("the read-only token cannot list:\n%s", r)
	}
}

var (
	classifierOnce sync.Once
	classifierBin  string
	classifierErr  error
)

// classifierBinary builds the real classifier once.
func classifierBinary(t *testing.T) string {
	t.Helper()
	classifierOnce.Do(func() {
		classifierBin = filepath.Join(buildDir, "classifier")
		out, err := exec.Command("go", "build", "-o", classifierBin, "../../../classifier/cmd/classifier").CombinedOutput()
		if err != nil {
			classifierErr = fmt.Errorf("build classifier: %v\n%s", err, out)
		}
	})
	if classifierErr != nil {
		t.Fatal(classifierErr)
	}
	return classifierBin
}

// startRealClassifier runs the classifier on rulesDir with the test
// token (scope read).
func startRealClassifier(t *testing.T, rulesDir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the classifier")
	}
	bin := classifierBinary(t)
	og := opsgenietest.NewT(t)
	cfg := writeFile(t, "classifier.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
rules_dir: %s
action_handlers:
  linux: http://127.0.0.1:1/v1/action
action_handler_token_file: %s
signing_key_file: %s
action_handler_timeout: 2s
default_investigation_queue: ops_investigation
opsgenie:
  api_url: %s
  api_key_file: %s
  timeout: 5s
  retries: 1
`, writeFile(t, "tokens", "oncall:"+testToken+" scopes=read\n"), rulesDir,
		writeFile(t, "ah_token", "ah-token-0123456789abcdef\n"), writeFile(t, "signing_key", "signing-key-0123456789abcdef0123456789\n"),
		og.Host(), writeFile(t, "genie_key", og.APIKey()+"\n")))
	return runClassifier(t, bin, cfg)
}

// runClassifier starts the classifier binary bin on cfg and answers its
// URL once it has logged service_started.
func runClassifier(t *testing.T, bin, cfg string) string {
	t.Helper()
	logs := &logtest.Buffer{}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	re := regexp.MustCompile(`event=service_started listen=(\S+)`)
	var url string
	waitUntil(t, "classifier service_started", func() bool {
		select {
		case <-done:
			t.Fatalf("classifier exited:\n%s", logs)
		default:
		}
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			url = "http://" + m[1]
			return true
		}
		return false
	})
	return url
}

func TestRealClassifier(t *testing.T) {
	rulesDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rulesDir, "restart.json"), []byte(ruleJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rulesDir, "broken.json"), []byte(`{"rule_name":"broken","enabled":"true"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	url := startRealClassifier(t, rulesDir)
	env := map[string]string{"ALEXIS_CLASSIFIER_URL": url, "ALEXIS_TOKEN_FILE": tokenFile(t, 0o600)}

	r := cli(t, env, "rules", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^\S*restart\.json\s+restart_duplicator\s+-\s+true\s+ok\s`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^\S*broken\.json\s+broken\s+.*invalid`).MatchString(r.stdout) {
		t.Errorf("rules list:\n%s", r)
	}

	matching := writeFile(t, "alert.json", alertJSON)
	r = cli(t, env, "rules", "explain", matching)
	if r.code != 0 || !strings.Contains(r.stdout, "alert 1791 (OpsGenie): matched") ||
		!regexp.MustCompile(`(?m)^\S*restart\.json\s+restart_duplicator\s+matched\s`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^\S*broken\.json\s+broken\s+invalid\s+\S`).MatchString(r.stdout) {
		t.Errorf("rules explain:\n%s", r)
	}
	other := writeFile(t, "other.json", strings.Replace(alertJSON, `"tags":["t"]`, `"tags":["x"]`, 1))
	r = cli(t, env, "rules", "explain", other)
	if r.code != 0 || !strings.Contains(r.stdout, ": unmatched") || !regexp.MustCompile(`restart_duplicator\s+not_matched\s+\S+`).MatchString(r.stdout) {
		t.Errorf("rules explain, no match:\n%s", r)
	}
	r = cli(t, env, "-o", "json", "rules", "explain", other)
	var ans explainAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || ans.Result != "unmatched" || len(ans.Rules) != 2 {
		t.Errorf("%v\n%s", err, r)
	}

	t.Run("lint", func(t *testing.T) {
		good := writeFile(t, "good.json", strings.Replace(ruleJSON, "restart_duplicator", "lint_me", 1))
		bad := writeFile(t, "bad.json", `{"rule_name":"bad","enabled":"maybe"}`)
		r := cli(t, env, "rules", "lint", good)
		if r.code == exitNotFound {
			t.Skip("this classifier has no POST /v1/rules/lint")
		}
		if r.code != 0 || !strings.Contains(r.stdout, good+": ok") {
			t.Errorf("lint of a good file:\n%s", r)
		}
		r = cli(t, env, "rules", "lint", good, bad)
		if r.code != 1 || !strings.Contains(r.stdout, bad+": invalid") || !strings.Contains(r.stdout, "error: ") {
			t.Errorf("lint of a bad file:\n%s", r)
		}
	})
}
