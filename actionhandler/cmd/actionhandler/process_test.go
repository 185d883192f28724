package main

// Tests that run the action handler binary as real processes, against real
// sshd servers, a local OpsGenie and, for replicas, a real PostgreSQL: a
// kill -9 mid-execution and a restart, two replicas receiving the same
// action, a host with a wrong host key, a command that never ends, the
// governor, every task type, and no secret in any answer, note or log.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/pgtest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// binary is the action handler built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "actionhandler-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "actionhandler")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "build actionhandler: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Run(m)
	os.RemoveAll(dir) // before exiting: os.Exit runs no deferred calls
	os.Exit(code)
}

// env is what a process test runs against: an sshd fleet, a local
// OpsGenie, files in a directory.
type env struct {
	t     *testing.T
	dir   string
	fleet *sshdtest.Fleet
	ssh   *sshdtest.Server
	og    *opsgenietest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.fleet = sshdtest.NewFleetT(t)
	e.ssh = e.fleet.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"})
	e.og = opsgenietest.NewT(t)
	return e
}

func (e *env) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// config writes an action handler configuration; extra is appended.
func (e *env) config(name, extra string) string {
	return e.write(name, fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
investigation_queue: queue_needsinvestigation
shutdown_grace: 5s
ssh:
  user: %s
  key_file: %s
  known_hosts_file: %s
  connect_timeout: 5s
  command_timeout: 60s
opsgenie:
  api_url: %s
  api_key_file: %s
  timeout: 5s
  retries: 1
%s`, e.write("tokens", "oncall:"+token+" scopes=adhoc,read,metrics\n"), e.fleet.User, e.fleet.ClientKeyFile, e.fleet.KnownHostsFile,
		e.og.Host(), e.write("opsgenie_key", e.og.APIKey()+"\n"), extra))
}

// proc is one action handler process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *logtest.Buffer
	url  string
	done chan struct{}
}

var listenRE = regexp.MustCompile(`event=service_started listen=(\S+)`)

// start runs the binary with cfg and waits until it listens.
func (e *env) start(cfg string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, logs: &logtest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, "-config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() { p.kill() })
	waitFor(e.t, "service_started", func() bool {
		select {
		case <-p.done:
			e.t.Fatalf("action handler exited:\n%s", p.logs)
		default:
		}
		if m := listenRE.FindStringSubmatch(p.logs.String()); m != nil {
			p.url = "http://" + m[1]
			return true
		}
		return false
	})
	return p
}

// kill sends SIGKILL (kill -9) and waits for the process to end.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stop sends SIGTERM and waits.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Errorf("action handler did not stop on SIGTERM:\n%s", p.logs)
		p.kill()
	}
}

func (p *proc) waitLog(what string, parts ...string) string {
	p.t.Helper()
	var line string
	waitFor(p.t, what, func() bool {
		for _, l := range strings.Split(p.logs.String(), "\n") {
			ok := true
			for _, part := range parts {
				ok = ok && strings.Contains(l, part)
			}
			if ok {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// request builds an action request for alert a and a rule.
func request(a opsgenietest.Alert, r map[string]any) []byte {
	base := map[string]any{"enabled": "true", "os_type": "linux", "alert_feed": "OpsGenie",
		"evaluation_list": []any{map[string]any{"evaluation": map[string]any{"tags": []string{"t"}}}},
		"route_to_team":   "ops_unix"}
	for k, v := range r {
		base[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "message": a.Message, "tags": []string{"t"},
		"alexis": map[string]string{"unique_key": "tinyId", "unique_value": a.TinyID, "feed_type": "OpsGenie", "feed_name": "incoming"},
		"rule":   base,
	})
	return body
}

func sshTask(cmd string, extra ...any) map[string]any {
	t := map[string]any{"task_type": "remote_ssh", "run_command": cmd, "action": "remediate"}
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i].(string)] = extra[i+1]
	}
	return map[string]any{"task": t}
}

func (p *proc) post(body []byte) (int, api.ActionAccepted) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/action", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var acc api.ActionAccepted
	_ = json.Unmarshal(b, &acc)
	return resp.StatusCode, acc
}

func (p *proc) get(path string, out any) string {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatal(err)
		}
	}
	return string(b)
}

// execution waits for execution id to be reported (written back) and
// returns it.
func (p *proc) execution(id string) api.Execution {
	p.t.Helper()
	var x api.Execution
	waitFor(p.t, "execution "+id+" reported", func() bool {
		x = api.Execution{}
		p.get("/v1/executions/"+id, &x)
		return x.ReportedAt != nil
	})
	return x
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "the remote command's pid", func() bool {
		b, _ := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 1
	})
	return pid
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// stillRuns reports whether pid, which should have been killed by now,
// still runs after a grace of seconds: a process sent SIGKILL may take a
// moment to be gone on a loaded machine, a leftover runs for minutes.
func stillRuns(pid int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func lines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

func TestKill9MidExecutionThenRestart(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("ah.yaml", fmt.Sprintf("max_concurrent_executions: 1\nstore: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db")))
	p := e.start(cfg)
	pidFile, marker := filepath.Join(e.dir, "pid"), filepath.Join(e.dir, "marker")
	host := map[string]any{"entity_type": "explicit", "entities": []string{e.ssh.Addr}}
	long := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "long", Teams: []string{"incoming"}})
	queued := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "queued", Teams: []string{"incoming"}})
	r1 := map[string]any{"rule_name": "long_restart", "task_list": []any{sshTask("echo $$ > " + pidFile + "; sleep 600")}}
	r2 := map[string]any{"rule_name": "marker", "task_list": []any{sshTask("echo ran >> " + marker)}}
	for k, v := range host {
		r1[k], r2[k] = v, v
	}
	code, first := p.post(request(long, r1))
	if code != http.StatusAccepted {
		t.Fatalf("first: %d", code)
	}
	remote := readPID(t, pidFile)
	defer syscall.Kill(remote, syscall.SIGKILL)
	code, second := p.post(request(queued, r2)) // waits: one execution at a time
	if code != http.StatusAccepted {
		t.Fatalf("second: %d", code)
	}
	p.kill()
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the queued execution ran before the crash")
	}

	p2 := e.start(cfg)
	x := p2.execution(first.ExecutionID)
	if x.Status != api.ExecInterrupted || !strings.Contains(x.Reason, "stopped before it finished") ||
		len(x.Steps) != 1 || x.Steps[0].Status != api.ExecInterrupted || x.Steps[0].Command == "" {
		t.Errorf("interrupted execution: %+v", x)
	}
	waitFor(t, "interrupted note and routing", func() bool {
		return slices.Contains(e.og.Teams(long.ID), "queue_needsinvestigation")
	})
	notes := strings.Join(e.og.Notes(long.ID), "\n")
	if !strings.Contains(notes, "execution "+first.ExecutionID+" was interrupted") || !strings.Contains(notes, "outcome unknown") ||
		!strings.Contains(notes, fmt.Sprintf("its command (pid %d) was still running and was killed", remote)) {
		t.Errorf("notes %q", notes)
	}
	// The command the dead process left on the host was killed before the
	// host was given to the next execution.
	if stillRuns(remote) {
		t.Errorf("the interrupted execution's command (pid %d) still runs on the host", remote)
	}
	p2.waitLog("remote_command_killed", "event=remote_command_killed", fmt.Sprintf("pid %d", remote))
	y := p2.execution(second.ExecutionID)
	if y.Status != api.ExecSuccess || lines(marker) != 1 {
		t.Errorf("queued execution after restart: %s, marker lines %d", y.Status, lines(marker))
	}
	p2.waitLog("execution_recovered", "event=execution_recovered", "execution_id="+first.ExecutionID)
	p2.stop()
}

func TestTwoReplicasOnePostgres(t *testing.T) {
	e := newEnv(t)
	dsn := e.write("pg_dsn", pgtest.DSN(t)+"\n")
	cfg := func(name string) string {
		return e.config(name, fmt.Sprintf("replica_id: %s\nstore: {postgres_dsn_file: %s, lease: 2s, poll_interval: 200ms}\n", name, dsn))
	}
	a, b := e.start(cfg("replica-a")), e.start(cfg("replica-b"))
	out := filepath.Join(e.dir, "ran")
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "both", Teams: []string{"incoming"}})
	body := request(al, map[string]any{"rule_name": "append", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("echo ran >> " + out)}})
	// Both replicas receive the same action at once, several times.
	type answer struct {
		code int
		acc  api.ActionAccepted
	}
	answers := make(chan answer, 6)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range 6 {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Go(func() {
			start.Wait()
			code, acc := p.post(body)
			answers <- answer{code, acc}
		})
	}
	start.Done()
	wg.Wait()
	close(answers)
	accepted, ids := 0, map[string]bool{}
	for ans := range answers {
		switch ans.code {
		case http.StatusAccepted:
			accepted++
		case http.StatusOK:
		default:
			t.Errorf("answer %d", ans.code)
		}
		ids[ans.acc.ExecutionID] = true
	}
	if accepted != 1 || len(ids) != 1 {
		t.Fatalf("%d accepted, %d execution ids: want one execution", accepted, len(ids))
	}
	var id string
	for id = range ids {
	}
	x := a.execution(id)
	if x.Status != api.ExecSuccess {
		t.Errorf("status %s", x.Status)
	}
	var l api.ExecutionList
	b.get("/v1/executions?alert_id="+al.ID, &l)
	if len(l.Executions) != 1 || l.Executions[0].ID != id {
		t.Errorf("replica b lists %+v", l.Executions)
	}

	// A replica killed mid-execution: the other reports it interrupted once
	// its lease has expired.
	pidFile := filepath.Join(e.dir, "pid")
	al2 := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "dies", Teams: []string{"incoming"}})
	code, acc := a.post(request(al2, map[string]any{"rule_name": "long", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("echo $$ > " + pidFile + "; sleep 600")}}))
	if code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	remote := readPID(t, pidFile)
	defer syscall.Kill(remote, syscall.SIGKILL)
	var runner, other *proc = a, b
	if strings.Contains(b.logs.String(), "event=execution_started") && strings.Contains(b.logs.String(), acc.ExecutionID) {
		runner, other = b, a
	}
	runner.kill()
	y := other.execution(acc.ExecutionID)
	if y.Status != api.ExecInterrupted {
		t.Errorf("status %s", y.Status)
	}
	waitFor(t, "interrupted note", func() bool { return slices.Contains(e.og.Teams(al2.ID), "queue_needsinvestigation") })
	if stillRuns(remote) {
		t.Errorf("the killed replica's command (pid %d) still runs on the host", remote)
	}
	other.stop()
	// Seconds after the first execution ended (a lease and more), a second
	// run of its command, if any, would have shown.
	if n := lines(out); n != 1 {
		t.Errorf("the command ran %d times, want once", n)
	}
}

// Two replicas given actions for one host at once run them one after the
// other: a command that notices another one on the host says so.
func TestTwoReplicasOneHostAtATime(t *testing.T) {
	e := newEnv(t)
	dsn := e.write("pg_dsn", pgtest.DSN(t)+"\n")
	cfg := func(name string) string {
		return e.config(name, fmt.Sprintf("replica_id: %s\nstore: {postgres_dsn_file: %s, lease: 2s, poll_interval: 200ms}\n", name, dsn))
	}
	a, b := e.start(cfg("replica-a")), e.start(cfg("replica-b"))
	busy, out := filepath.Join(e.dir, "busy"), filepath.Join(e.dir, "ran")
	// mkdir is atomic: it fails while another execution's command holds it.
	cmd := fmt.Sprintf("mkdir %s || echo overlap >> %s; sleep 1; rmdir %s; echo done >> %s", busy, out, busy, out)
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, p := range []*proc{a, b, a, b} {
		al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: fmt.Sprintf("same host %d", i), Teams: []string{"incoming"}})
		body := request(al, map[string]any{"rule_name": fmt.Sprintf("fix%d", i), "entity_type": "explicit",
			"entities": []string{e.ssh.Addr}, "task_list": []any{sshTask(cmd)}})
		wg.Go(func() {
			code, acc := p.post(body)
			if code != http.StatusAccepted {
				t.Errorf("post %d: %d", i, code)
			}
			mu.Lock()
			ids = append(ids, acc.ExecutionID)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if x := a.execution(id); x.Status != api.ExecSuccess {
			t.Errorf("execution %s: %s", id, x.Status)
		}
	}
	got, _ := os.ReadFile(out)
	if string(got) != strings.Repeat("done\n", 4) {
		t.Errorf("the host saw %q: want 4 commands, one at a time", got)
	}
}

func TestWrongHostKeyFailsThatHost(t *testing.T) {
	e := newEnv(t)
	bad := e.fleet.StartT(t, sshdtest.Options{Addr: "127.0.0.3:0"})
	// known_hosts: the good server, and a key for the other that is not its own.
	kh := e.write("known_hosts", e.ssh.HostKeyLine+"\n"+bad.WrongHostKeyLine()+"\n")
	cfg := e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db")))
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte("known_hosts_file: "+e.fleet.KnownHostsFile), []byte("known_hosts_file: "+kh), 1), 0o600)
	p := e.start(cfg)
	marker := filepath.Join(e.dir, "marker")
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(al, map[string]any{"rule_name": "two_hosts", "entity_type": "explicit",
		"entities": []string{e.ssh.Addr, bad.Addr}, "task_list": []any{sshTask("echo $SSH_CONNECTION >> " + marker)}}))
	x := p.execution(acc.ExecutionID)
	if x.Status != api.ExecFailure || len(x.Steps) != 2 {
		t.Fatalf("execution %+v", x)
	}
	good, wrong := x.Steps[0], x.Steps[1]
	if good.Status != api.ExecSuccess || wrong.Status != api.ExecFailure || wrong.Entity != bad.Addr ||
		!strings.Contains(wrong.Error, "host key mismatch") || !strings.Contains(wrong.Error, "differs from known_hosts") {
		t.Errorf("steps %+v", x.Steps)
	}
	if b, _ := os.ReadFile(marker); strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), e.ssh.Host) {
		t.Errorf("ran on %q, want the good host only", b)
	}
	notes := strings.Join(e.og.Notes(al.ID), "\n")
	if !strings.Contains(notes, "host key mismatch") {
		t.Errorf("notes %q", notes)
	}
}

func TestCommandThatNeverEndsIsKilled(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db"))))
	// The command's text marks its processes: on a loaded machine the
	// shell may not have got as far as writing a pid file when its time
	// is up, and then there must be nothing of it left either.
	sleep, marker := uniqueSleep(t)
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, acc := p.post(request(al, map[string]any{"rule_name": "hangs", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask(sleep, "timeout", "3s")}}))
	x := p.execution(acc.ExecutionID)
	if x.Status != api.ExecFailure || !strings.Contains(x.Steps[0].Error, "timeout: command still running after 3s, killed") {
		t.Errorf("execution %+v", x)
	}
	assertNoCommandLeft(t, marker)
}

func TestGovernorLimitSkips(t *testing.T) {
	e := newEnv(t)
	p := e.start(e.config("ah.yaml", fmt.Sprintf("store: {sqlite_path: %s}\n", filepath.Join(e.dir, "ah.db"))))
	marker := filepath.Join(e.dir, "marker")
	rule := map[string]any{"rule_name": "restart_once", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"governor":  map[string]any{"max_executions_per_entity": 1, "window": "1h"},
		"task_list": []any{sshTask("echo ran >> " + marker)}}
	first := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "1", Teams: []string{"incoming"}})
	_, acc1 := p.post(request(first, rule))
	if x := p.execution(acc1.ExecutionID); x.Status != api.ExecSuccess {
		t.Fatalf("first: %s", x.Status)
	}
	second := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "2", Teams: []string{"incoming"}})
	code, acc2 := p.post(request(second, rule))
	if code != http.StatusAccepted {
		t.Fatalf("second: %d", code)
	}
	x := p.execution(acc2.ExecutionID)
	if x.Status != api.ExecSkipped || !strings.Contains(x.Reason, "max_executions_per_entity 1") || len(x.Steps) != 0 {
		t.Errorf("second: %+v", x)
	}
	if n := lines(marker); n != 1 {
		t.Errorf("ran %d times", n)
	}
	waitFor(t, "investigation queue", func() bool { return slices.Contains(e.og.Teams(second.ID), "queue_needsinvestigation") })
	if notes := strings.Join(e.og.Notes(second.ID), "\n"); !strings.Contains(notes, "did not run on "+e.ssh.Addr) ||
		!strings.Contains(notes, "max_executions_per_entity 1") {
		t.Errorf("notes %q", notes)
	}
	p.waitLog("execution_skipped log", "event=execution_skipped", "execution_id="+acc2.ExecutionID, "reason=")
	var l api.ExecutionList
	p.get("/v1/executions?status=skipped&rule_name=restart_once", &l)
	if len(l.Executions) != 1 || l.Executions[0].ID != acc2.ExecutionID {
		t.Errorf("history: %+v", l)
	}
}

// TestTaskTypesAndSecrets runs a rule using every task type through the
// API: restart over SSH; check over HTTP (failing); then, since it
// failed, a local program and a plugin collect diagnostics. A secret goes
// into the HTTP header and the local program's environment, and comes
// back in their output: it must be in no answer, note or log. An http
// call to the entity's host, which http.allowed_hosts does not list, is
// refused: nothing rendered from its url is in the history, notes or logs.
func TestTaskTypesAndSecrets(t *testing.T) {
	e := newEnv(t)
	const secret = "lb-token-7f1c9e2a5d"
	secretFile := e.write("lb_token", secret+"\n")
	hits := make(chan string, 4)
	checker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy; you sent %s", r.Header.Get("Authorization"))
	}))
	defer checker.Close()
	plugins := filepath.Join(e.dir, "plugins")
	os.Mkdir(plugins, 0o755)
	os.WriteFile(filepath.Join(plugins, "collect"), []byte("#!/bin/sh\ncat > /dev/null\n"+
		`echo '{"status": "success", "message": "collected for '"$ALEXIS_ENTITY"'", "output": "heap dump saved"}'`+"\n"), 0o755)
	p := e.start(e.config("ah.yaml", fmt.Sprintf(`store: {sqlite_path: %s}
local: {allowed: [sh]}
plugins: {dir: %s}
secrets: {lb: %s}
http: {allowed_hosts: [127.0.0.1]}
`, filepath.Join(e.dir, "ah.db"), plugins, secretFile)))
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(checker.URL, "http://"))
	refusedURL := "http://{{ entity }}:" + port + "/refused-{{ .message }}/{{ entity }}" // the entity is on 127.0.0.2
	_, acc := p.post(request(al, map[string]any{"rule_name": "restart_check_diagnose", "entity_type": "explicit",
		"entities": []string{e.ssh.Addr},
		"task_list": []any{
			sshTask("echo restarted", "action", "restart"),
			map[string]any{"task": map[string]any{"task_type": "http", "action": "check", "on_failure": "continue",
				"url": checker.URL + "/health/{{ entity }}", "headers": map[string]string{"Authorization": `Bearer {{ secret "lb" }}`}}},
			map[string]any{"task": map[string]any{"task_type": "local", "action": "diagnose", "run_if": "failure",
				"argv": []string{"sh", "-c", `echo "diagnosing $ALEXIS_ENTITY with $TOKEN"`}, "env": map[string]string{"TOKEN": `{{ secret "lb" }}`}}},
			map[string]any{"task": map[string]any{"task_type": "plugin", "action": "collect", "plugin": "collect", "run_if": "failure"}},
			map[string]any{"task": map[string]any{"task_type": "http", "action": "refused", "on_failure": "continue", "run_if": "always",
				"url": refusedURL, "headers": map[string]string{"Authorization": `Bearer {{ secret "lb" }}`}}},
			sshTask("echo never", "action", "after"),
		}}))
	x := p.execution(acc.ExecutionID)
	raw := p.get("/v1/executions/"+acc.ExecutionID, nil)
	// The refused call refuses the execution and stops its host, whatever
	// on_failure says: the last task does not run.
	if x.Status != api.ExecRefused || len(x.Steps) != 6 {
		t.Fatalf("execution %s", raw)
	}
	want := []struct{ status, out string }{
		{api.ExecSuccess, "restarted\n"},
		{api.ExecFailure, "unhealthy; you sent Bearer <secret>"},
		{api.ExecSuccess, "diagnosing " + e.ssh.Addr + " with <secret>\n"},
		{api.ExecSuccess, "collected for " + e.ssh.Addr + "\nheap dump saved"},
		{api.ExecRefused, ""},
		{api.ExecSkipped, ""},
	}
	for i, w := range want {
		if s := x.Steps[i]; s.Status != w.status || s.Stdout != w.out {
			t.Errorf("step %d: %s %q, want %s %q", i, s.Status, s.Stdout, w.status, w.out)
		}
	}
	if s := x.Steps[1]; s.HTTPStatus != 503 || s.Command != "GET "+checker.URL+"/health/"+strings.NewReplacer(":", "%3A", ".", "%2E").Replace(e.ssh.Addr) {
		t.Errorf("http step %+v", s)
	}
	if s := x.Steps[4]; strings.Contains(s.Command, "127.0.0.2") || !strings.Contains(s.Error, "allowed_hosts") || strings.Contains(s.Error, "127.0.0.2") {
		t.Errorf("refused http step: command %q error %q (a refused step records nothing rendered)", s.Command, s.Error)
	}
	if got := <-hits; got != "GET /health/"+e.ssh.Addr+" Bearer "+secret {
		t.Errorf("checker saw %q", got)
	}
	if len(hits) > 0 {
		t.Errorf("the refused call reached the server: %q", <-hits)
	}
	waitFor(t, "routing", func() bool { return slices.Contains(e.og.Teams(al.ID), "queue_needsinvestigation") })
	var list api.ExecutionList
	listRaw := p.get("/v1/executions?entity="+e.ssh.Addr, &list)
	p.stop()
	everything := raw + listRaw + strings.Join(e.og.Notes(al.ID), "\n") + p.logs.String()
	key, _ := os.ReadFile(e.fleet.ClientKeyFile)
	for name, s := range map[string]string{"task secret": secret, "token": token, "opsgenie key": e.og.APIKey(), "key header": "PRIVATE KEY"} {
		if strings.Contains(everything, s) {
			t.Errorf("%s leaked", name)
		}
	}
	for _, line := range strings.Split(string(key), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(everything, line) {
			t.Errorf("private key material leaked")
		}
	}
	if strings.Contains(p.logs.String(), "heap dump saved") {
		t.Error("task output logged")
	}
	if strings.Contains(everything, "refused-m") || strings.Contains(everything, "refused-%") {
		t.Error("the refused call's rendered url was recorded")
	}
}
