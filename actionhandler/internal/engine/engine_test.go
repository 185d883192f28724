package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

// events is an ordered record of what the runner and the sleeper did.
type events struct {
	mu   sync.Mutex
	list []string
}

func (ev *events) add(s string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.list = append(ev.list, s)
}

func (ev *events) get() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]string(nil), ev.list...)
}

// fakeRunner records "run <entity> <index>" and fails the steps named in fail.
type fakeRunner struct {
	ev      *events
	fail    map[string]bool // "entity index"
	stdout  string
	block   chan struct{} // if set, Run waits for it or ctx
	mu      sync.Mutex
	running int
	maxRun  int
}

func (f *fakeRunner) Run(ctx context.Context, s task.Step) task.Result {
	f.mu.Lock()
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	key := fmt.Sprintf("%s %d", s.Entity, s.Index)
	f.ev.add("run " + key)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return task.Result{ExitCode: -1, Err: errors.New("cancelled: killed"), Elapsed: time.Millisecond}
		}
	}
	if f.fail[key] {
		return task.Result{ExitCode: 3, Stderr: "boom", Err: errors.New("exit status 3"), Elapsed: 400 * time.Millisecond}
	}
	return task.Result{ExitCode: 0, Stdout: f.stdout, Elapsed: 1200 * time.Millisecond}
}

func (f *fakeRunner) Describe(t rule.Task) string { return "run '" + t.RunCommand + "'" }

const ruleJSON = `{"enabled": "true", "os_type": "linux", "rule_name": "r1", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["t"]}}],
 "task_list": [
   {"task": {"task_type": "remote_ssh", "run_command": "systemctl restart dup", "delay_after": "30s", "action": "restart_service", "action_reason": "gc"}},
   {"task": {"task_type": "remote_ssh", "run_command": "systemctl status dup", "delay_after": "5s", "action": "check_service", "action_reason": "gc"}}],
 "entity_type": "explicit", "entities": %s, "route_to_team": "ops_unix"}`

func request(t *testing.T, feed string, entities ...string) *action.Request {
	t.Helper()
	ents, _ := jsonList(entities)
	body := `{"id": "og-1", "tinyId": "42", "alexis": {"unique_key": "tinyId", "unique_value": "42", "feed_type": "` + feed +
		`", "feed_name": "incoming"}, "rule": ` + fmt.Sprintf(ruleJSON, ents) + `}`
	req, err := action.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func jsonList(s []string) (string, error) {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = `"` + v + `"`
	}
	return "[" + strings.Join(q, ",") + "]", nil
}

type fixture struct {
	eng    *Engine
	runner *fakeRunner
	ev     *events
	rec    *tickettest.Recorder
	logs   *bytes.Buffer
	mu     *sync.Mutex
}

func newFixture(t *testing.T, edit func(*Options)) *fixture {
	t.Helper()
	ev := &events{}
	f := &fixture{runner: &fakeRunner{ev: ev, fail: map[string]bool{}, stdout: "restarted ok\n"},
		ev: ev, rec: &tickettest.Recorder{}, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", f.rec)
	o := Options{
		Runners:            map[string]task.Runner{"remote_ssh": f.runner},
		Tickets:            tickets,
		InvestigationQueue: "queue_needsinvestigation",
		Log:                logging.New(lockedWriter{f.mu, f.logs}, "actionhandler", logging.Options{}),
		Sleep: func(ctx context.Context, d time.Duration) error {
			ev.add("sleep " + d.String())
			return nil
		},
	}
	if edit != nil {
		edit(&o)
	}
	f.eng = New(o)
	return f
}

func (f *fixture) logText() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) run(t *testing.T, ctx context.Context, req *action.Request, entities ...string) *Report {
	t.Helper()
	return f.eng.Run(ctx, Execution{ID: "exec1", Request: req, Entities: entities, Client: "classifier"})
}

func calls(rec *tickettest.Recorder, op string) []string {
	var out []string
	for _, c := range rec.Calls() {
		if c.Op == op {
			if c.ID != "og-1" {
				panic("write-back to id " + c.ID)
			}
			out = append(out, c.Value)
		}
	}
	return out
}

func TestTasksInOrderWithDelays(t *testing.T) {
	f := newFixture(t, nil)
	hosts := []string{"app01", "app02", "app03"}
	rep := f.run(t, context.Background(), request(t, "OpsGenie", hosts...), hosts...)
	if rep.Status != logging.StatusSuccess {
		t.Fatalf("status %s", rep.Status)
	}
	got := f.ev.get()
	// Task 0 on every host (any order), the delay, task 1 on every host; no
	// delay after the last task.
	if len(got) != 7 || got[3] != "sleep 30s" {
		t.Fatalf("events %q", got)
	}
	first, second := slices.Sorted(slices.Values(got[:3])), slices.Sorted(slices.Values(got[4:]))
	if !slices.Equal(first, []string{"run app01 0", "run app02 0", "run app03 0"}) ||
		!slices.Equal(second, []string{"run app01 1", "run app02 1", "run app03 1"}) {
		t.Fatalf("events %q", got)
	}
	notes := calls(f.rec, "note")
	if len(notes) != 3 {
		t.Fatalf("want one note per host, got %q", notes)
	}
	want := "Alexis rule r1: restart_service on app01: success (exit 0, 1.2s)\nrestarted ok\n\n" +
		"Alexis rule r1: check_service on app01: success (exit 0, 1.2s)\nrestarted ok"
	if notes[0] != want {
		t.Errorf("note:\n%s\nwant:\n%s", notes[0], want)
	}
	if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"ops_unix"}) {
		t.Errorf("teams %q, want route_to_team only", teams)
	}
}

func TestStopOnFailurePerHost(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.fail["app02 0"] = true
	hosts := []string{"app01", "app02"}
	rep := f.run(t, context.Background(), request(t, "OpsGenie", hosts...), hosts...)
	if rep.Status != logging.StatusFailure {
		t.Fatalf("status %s", rep.Status)
	}
	got := f.ev.get()
	if slices.Contains(got, "run app02 1") || !slices.Contains(got, "run app01 1") {
		t.Fatalf("events %q: app02 must stop after its failure, app01 go on", got)
	}
	if rep.Hosts[0].Status != logging.StatusSuccess || rep.Hosts[1].Status != logging.StatusFailure {
		t.Errorf("host statuses %s %s", rep.Hosts[0].Status, rep.Hosts[1].Status)
	}
	notes := calls(f.rec, "note")
	want := "Alexis rule r1: restart_service on app02: failure (exit 3, 0.4s)\nstderr:\nboom\n\n" +
		"Alexis rule r1: check_service on app02: skipped (an earlier task failed)"
	if len(notes) != 2 || notes[1] != want {
		t.Errorf("notes %q\nwant second:\n%s", notes, want)
	}
	if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
		t.Errorf("teams %q, want the investigation queue only", teams)
	}
	if !strings.Contains(f.logText(), "failed=1") || !strings.Contains(f.logText(), "succeeded=1") {
		t.Errorf("execution_finished counts missing:\n%s", f.logText())
	}
}

func TestAllFailedSkipsDelay(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.fail["app01 0"] = true
	f.run(t, context.Background(), request(t, "OpsGenie", "app01"), "app01")
	if got := f.ev.get(); !slices.Equal(got, []string{"run app01 0"}) {
		t.Fatalf("events %q: no delay and no further task once every host failed", got)
	}
}

func TestDevelopmentRunsNothing(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Development = true })
	rep := f.run(t, context.Background(), request(t, "OpsGenie", "app01", "app02"), "app01", "app02")
	if rep.Status != logging.StatusDryRun {
		t.Fatalf("status %s", rep.Status)
	}
	if got := f.ev.get(); len(got) != 0 {
		t.Fatalf("development mode ran or slept: %q", got)
	}
	notes := calls(f.rec, "note")
	if len(notes) != 2 || !strings.Contains(notes[0], "[development mode] would run 'systemctl restart dup' on app01") ||
		!strings.Contains(notes[0], "[development mode] would run 'systemctl status dup' on app01") {
		t.Fatalf("notes %q", notes)
	}
	if teams := calls(f.rec, "team"); len(teams) != 0 {
		t.Errorf("development mode routed the alert: %q", teams)
	}
	logs := f.logText()
	for _, want := range []string{"event=action_dry_run", "action_status=dry_run", "entity=app01",
		`command="systemctl restart dup"`, "event=execution_finished"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "event=action_started") {
		t.Errorf("development mode logged action_started")
	}
}

func TestNoTicketForFeed(t *testing.T) {
	f := newFixture(t, nil)
	f.run(t, context.Background(), request(t, "Dynatrace", "app01"), "app01")
	if len(f.rec.Calls()) != 0 {
		t.Fatalf("wrote to the OpsGenie ticket for a Dynatrace alert: %v", f.rec.Calls())
	}
	if !strings.Contains(f.logText(), "event=writeback_skipped") {
		t.Errorf("no writeback_skipped:\n%s", f.logText())
	}
}

func TestWritebackErrorIsLogged(t *testing.T) {
	f := newFixture(t, nil)
	f.rec.Err = errors.New("opsgenie down")
	f.run(t, context.Background(), request(t, "OpsGenie", "app01"), "app01")
	if !strings.Contains(f.logText(), "event=writeback_failed") {
		t.Errorf("no writeback_failed:\n%s", f.logText())
	}
}

func TestCancelledExecutionStillWritesBack(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.block = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Report)
	go func() { done <- f.run(t, ctx, request(t, "OpsGenie", "app01"), "app01") }()
	for !slices.Contains(f.ev.get(), "run app01 0") {
		time.Sleep(time.Millisecond)
	}
	cancel()
	rep := <-done
	if rep.Status != logging.StatusFailure {
		t.Fatalf("status %s", rep.Status)
	}
	if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
		t.Errorf("teams %q", teams)
	}
	if notes := calls(f.rec, "note"); len(notes) != 1 || !strings.Contains(notes[0], "failure (cancelled") {
		t.Errorf("notes %q", notes)
	}
}

func TestConcurrencyBound(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Concurrency = 2 })
	var hosts []string
	for i := 0; i < 10; i++ {
		hosts = append(hosts, fmt.Sprintf("h%d", i))
	}
	f.run(t, context.Background(), request(t, "OpsGenie", hosts...), hosts...)
	if f.runner.maxRun > 2 || f.runner.maxRun < 1 {
		t.Errorf("max concurrent steps %d, want at most 2", f.runner.maxRun)
	}
	if n := len(f.ev.get()); n != 21 {
		t.Errorf("%d events, want 10+1+10", n)
	}
}

func TestLogKeys(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.fail["app01 0"] = true
	f.run(t, context.Background(), request(t, "OpsGenie", "app01"), "app01")
	var started, finished string
	for _, l := range strings.Split(f.logText(), "\n") {
		switch {
		case strings.Contains(l, "event=action_started"):
			started = l
		case strings.Contains(l, "event=action_finished"):
			finished = l
		}
	}
	common := []string{"execution_id=exec1", "alert_id=og-1", "unique_value=42", "rule_name=r1", "entity=app01",
		"action=restart_service", "action_reason=gc", "task_index=0", "task_type=remote_ssh"}
	for _, k := range common {
		if !strings.Contains(started, k) || !strings.Contains(finished, k) {
			t.Errorf("%s missing:\nstarted: %s\nfinished: %s", k, started, finished)
		}
	}
	for _, k := range []string{"action_status=failure", "exit_code=3", "elapsed_ms=400", `error="exit status 3"`} {
		if !strings.Contains(finished, k) {
			t.Errorf("%s missing: %s", k, finished)
		}
	}
	if strings.Contains(f.logText(), "boom") {
		t.Errorf("command output reached the log")
	}
}

func TestNoteTrimsOutput(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.stdout = strings.Repeat("x", 5000)
	f.run(t, context.Background(), request(t, "OpsGenie", "app01"), "app01")
	note := calls(f.rec, "note")[0]
	if len(note) > 2*OutputNoteLimit+300 || !strings.Contains(note, "[trimmed]") {
		t.Errorf("note of %d bytes, want output trimmed to about %d each: %.200q", len(note), OutputNoteLimit, note)
	}
}
