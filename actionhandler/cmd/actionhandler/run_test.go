package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

const (
	token           = "oncall-token-5f3e9a1c7b"
	classifierToken = "classifier-token-8d2b4e6f0a"
	signingKey      = "signing-key-0123456789abcdef0123456789"
)

type instance struct {
	url    string
	client *http.Client // http.DefaultClient unless TLS is configured
	logs   *logtest.Buffer
	stop   func() error
	og     *opsgenietest.Server
	ssh    *sshdtest.Server
	dir    string
}

// start runs the action handler for real on 127.0.0.1:0 against a real
// sshd and a local OpsGenie, with extra config lines appended.
func start(t *testing.T, development bool) *instance {
	return startGrace(t, development, "5s")
}

func startGrace(t *testing.T, development bool, grace string) *instance {
	t.Helper()
	return startWith(t, development, grace, "", nil)
}

// startWith appends extra to the configuration; with client set, the
// service is reached over HTTPS with it.
func startWith(t *testing.T, development bool, grace, extra string, client *http.Client) *instance {
	t.Helper()
	return startDB(t, development, grace, extra, client, "")
}

// startDB is startWith with store as the store block's keys ("": SQLite
// in the instance's directory).
func startDB(t *testing.T, development bool, grace, extra string, client *http.Client, store string) *instance {
	t.Helper()
	s := &instance{logs: &logtest.Buffer{}, dir: t.TempDir(), client: http.DefaultClient}
	scheme := "http://"
	if client != nil {
		s.client, scheme = client, "https://"
	}
	s.ssh = sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"})
	s.og = opsgenietest.NewT(t)
	write := func(name, content string) string {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// oncall posts its own rules (ad-hoc); classifier posts what it signs.
	if store == "" {
		store = "sqlite_path: " + filepath.Join(s.dir, "actionhandler.db")
	}
	cfg := write("actionhandler.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
signing_key_file: %s
development: %t
investigation_queue: queue_needsinvestigation
shutdown_grace: %s
store: {%s}
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
%s`, write("tokens", "oncall:"+token+" scopes=adhoc,read,metrics\nclassifier:"+classifierToken+"\n"),
		write("signing_key", signingKey+"\n"), development, grace, store, s.ssh.User, s.ssh.ClientKeyFile, s.ssh.KnownHostsFile,
		s.og.Host(), write("opsgenie_key", s.og.APIKey()+"\n"), extra))

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", cfg}, s.logs, s.logs) }()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() { cancel(); stopErr = <-errc })
		return stopErr
	}
	t.Cleanup(func() { s.stop() })

	re := regexp.MustCompile(`event=service_started listen=(\S+)`)
	waitFor(t, "service_started", func() bool {
		select {
		case err := <-errc:
			t.Fatalf("run ended early: %v\n%s", err, s.logs)
		default:
		}
		m := re.FindStringSubmatch(s.logs.String())
		if m != nil {
			s.url = scheme + m[1]
		}
		return m != nil
	})
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second) // generous: the machine may be loaded
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post sends an alert (the OpsGenie alert a) with a rule running cmd on
// the sshd.
func (s *instance) post(t *testing.T, a opsgenietest.Alert, cmd string) (int, api.ActionAccepted) {
	t.Helper()
	return s.postRule(t, a, markerRule(cmd))
}

// markerRule is the rule post sends: cmd on the host in details.host.
func markerRule(cmd string) rule.Rule {
	return rule.Rule{
		Enabled: true, OSType: "linux", Name: "write_marker", AlertFeed: "OpsGenie",
		Evaluations: []rule.EvaluationItem{{Evaluation: rule.Evaluation{Tags: []string{"t"}}}},
		Tasks: []rule.TaskItem{{Task: rule.Task{TaskType: "remote_ssh", RunCommand: cmd,
			Action: "write_marker", ActionReason: "test"}}},
		EntityType: rule.EntityKeyValue, EntityKeyValue: []string{"details", "host"}, RouteToTeam: "ops_unix",
	}
}

// postRule sends the OpsGenie alert a with r, unsigned, as oncall.
func (s *instance) postRule(t *testing.T, a opsgenietest.Alert, r rule.Rule) (int, api.ActionAccepted) {
	t.Helper()
	code, b := s.postAs(t, a, r, token, "", "")
	var acc api.ActionAccepted
	_ = json.Unmarshal(b, &acc)
	return code, acc
}

// postAs sends the OpsGenie alert a with r with tok; with key set, signed
// with it as the classifier does, with requested_by.
func (s *instance) postAs(t *testing.T, a opsgenietest.Alert, r rule.Rule, tok, key, requestedBy string) (int, []byte) {
	t.Helper()
	fields := map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "message": a.Message, "tags": []string{"t"},
		"details": map[string]string{"host": s.ssh.Addr},
		"alexis":  map[string]string{"unique_key": "tinyId", "unique_value": a.TinyID, "feed_type": "OpsGenie", "feed_name": "incoming"},
		"rule":    r,
	}
	if requestedBy != "" {
		fields["requested_by"] = requestedBy
	}
	body, _ := json.Marshal(fields)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/action", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		k, err := auth.NewKey([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(auth.SignatureHeader, k.Sign(body, time.Now()))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestServiceRunsActionOverSSH(t *testing.T) {
	s := start(t, false)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "duplicator GC", Teams: []string{"incoming"}})
	marker := filepath.Join(s.dir, "marker")
	status, acc := s.post(t, a, "echo duplicator restarted >> "+marker+"; echo all good")
	if status != http.StatusAccepted || acc.ExecutionID == "" || acc.Status != "queued" ||
		!slices.Equal(acc.Entities, []string{s.ssh.Addr}) {
		t.Fatalf("answer %d %+v", status, acc)
	}
	waitFor(t, "the marker file", func() bool {
		b, _ := os.ReadFile(marker)
		return string(b) == "duplicator restarted\n"
	})
	waitFor(t, "route_to_team", func() bool { return slices.Contains(s.og.Teams(a.ID), "ops_unix") })
	notes := strings.Join(s.og.Notes(a.ID), "\n")
	want := "Alexis rule write_marker: write_marker on " + s.ssh.Addr + ": success (exit 0, "
	if !strings.Contains(notes, want) || !strings.Contains(notes, "all good") {
		t.Errorf("notes %q, want %q and the output", notes, want)
	}
	if slices.Contains(s.og.Teams(a.ID), "queue_needsinvestigation") {
		t.Errorf("successful alert routed to the investigation queue")
	}
	if err := s.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	logs := s.logs.String()
	if testing.Verbose() {
		t.Log(logs)
	}
	for _, want := range []string{
		"event=service_started", "event=execution_queued", "client=oncall", "execution_id=" + acc.ExecutionID,
		"event=action_started", "event=action_finished", "action_status=success", "exit_code=0",
		"entity=" + s.ssh.Addr, "alert_id=" + a.ID, "event=execution_finished", "event=team_added", "event=service_stopped",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(logs, "all good") {
		t.Errorf("command output logged")
	}
	assertNoSecrets(t, s, logs+"\n"+notes)
}

func TestServiceFailureGoesToInvestigation(t *testing.T) {
	s := start(t, false)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	if status, _ := s.post(t, a, "echo oops >&2; exit 3"); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(s.og.Teams(a.ID), "queue_needsinvestigation") })
	notes := strings.Join(s.og.Notes(a.ID), "\n")
	if !strings.Contains(notes, "failure (exit 3, ") || !strings.Contains(notes, "oops") {
		t.Errorf("notes %q", notes)
	}
	if slices.Contains(s.og.Teams(a.ID), "ops_unix") {
		t.Errorf("failed alert routed to route_to_team")
	}
}

func TestServiceDevelopmentMode(t *testing.T) {
	s := start(t, true)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	marker := filepath.Join(s.dir, "marker")
	cmd := "touch " + marker
	if status, _ := s.post(t, a, cmd); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	want := "[development mode] would run '" + cmd + "' on " + s.ssh.Addr
	waitFor(t, "dry-run note", func() bool { return strings.Contains(strings.Join(s.og.Notes(a.ID), "\n"), want) })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("development mode ran the command")
	}
	logs := s.logs.String()
	for _, w := range []string{"event=development_mode", "event=action_dry_run", "action_status=dry_run"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %s", w)
		}
	}
}

func TestShutdownCancelsAfterGrace(t *testing.T) {
	s := startGrace(t, false, "200ms")
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	pidFile := filepath.Join(s.dir, "pid")
	if status, _ := s.post(t, a, "echo $$ > "+pidFile+"; sleep 600"); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	waitFor(t, "the remote command to start", func() bool {
		b, _ := os.ReadFile(pidFile)
		return len(b) > 0
	})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 1 {
		t.Fatalf("pid file %q", b)
	}
	// The command was killed before run returned (a zombie awaiting its
	// reaper counts as gone).
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(st), ") Z ") {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("remote command still running after shutdown: %s", st)
	}
	if !slices.Contains(s.og.Teams(a.ID), "queue_needsinvestigation") {
		t.Errorf("cancelled execution not routed to the investigation queue: %q", s.og.Teams(a.ID))
	}
	notes := strings.Join(s.og.Notes(a.ID), "\n")
	if !strings.Contains(notes, "failure (cancelled") {
		t.Errorf("notes %q", notes)
	}
	if !strings.Contains(s.logs.String(), "event=executions_cancelled") {
		t.Errorf("no executions_cancelled log")
	}
}

// assertNoSecrets checks that no token, API key or private key material
// appears in text.
func assertNoSecrets(t *testing.T, s *instance, text string) {
	t.Helper()
	key, err := os.ReadFile(s.ssh.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"token": token, "opsgenie api key": s.og.APIKey(), "key header": "PRIVATE KEY"}
	for i, line := range strings.Split(string(key), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets[fmt.Sprintf("private key line %d", i)] = line
		}
	}
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		if strings.Contains(text, secrets[name]) {
			t.Errorf("%s appears in logs or notes", name)
		}
	}
}

func TestBadConfigFails(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("ssh: {user: u}\n"), 0o600)
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", cfg}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "investigation_queue: required") {
		t.Fatalf("err %v", err)
	}
	if err := run(context.Background(), []string{"-nope"}, &out, &out); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestTaskRegistryCoversRuleTaskTypes(t *testing.T) {
	runners, err := taskRunners(taskDeps{})
	if err != nil {
		t.Fatal(err)
	}
	for name := range rule.TaskTypes {
		if runners[name] == nil {
			t.Errorf("rule task type %q has no runner", name)
		}
	}
	for name := range runners {
		if !rule.TaskTypes[name] {
			t.Errorf("runner %q is not a rule task type (add it to shared/task/tasks)", name)
		}
	}
}

func TestVersion(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || out.String() != "actionhandler dev\n" {
		t.Fatalf("version: %q, %v; want \"actionhandler dev\\n\"", out.String(), err)
	}
}
