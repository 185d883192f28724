package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
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
	mu      sync.Mutex
	fail    map[string]bool // "entity index"
	stdout  string
	block   chan struct{} // if set, Run waits for it or ctx
	running int
	maxRun  int
}

func (f *fakeRunner) Run(ctx context.Context, s task.Step) task.Result {
	f.mu.Lock()
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	fail, block := f.fail[fmt.Sprintf("%s %d", s.Entity, s.Index)], f.block
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	f.ev.add(fmt.Sprintf("run %s %d", s.Entity, s.Index))
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return task.Result{Command: s.Task.RunCommand, ExitCode: -1, Err: fmt.Errorf("cancelled: %v, command killed", context.Cause(ctx))}
		}
	}
	if fail {
		return task.Result{Command: s.Task.RunCommand, ExitCode: 3, Stderr: "boom", Err: errors.New("exit status 3")}
	}
	return task.Result{Command: s.Task.RunCommand, ExitCode: 0, Stdout: f.stdout}
}

func (f *fakeRunner) Describe(s task.Step) (string, error) {
	return "run '" + s.Task.RunCommand + "'", nil
}

const ruleJSON = `{"enabled": "true", "os_type": "linux", "rule_name": "r1", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["t"]}}],
 "task_list": %s,
 "entity_type": "explicit", "entities": %s, "route_to_team": "ops_unix"}`

const twoTasks = `[
   {"task": {"task_type": "remote_ssh", "run_command": "systemctl restart dup", "delay_after": "30s", "action": "restart_service", "action_reason": "gc"}},
   {"task": {"task_type": "remote_ssh", "run_command": "systemctl status dup", "delay_after": "5s", "action": "check_service", "action_reason": "gc"}}]`

func request(t testing.TB, feed, tasks string, entities ...string) *action.Request {
	t.Helper()
	ents, _ := json.Marshal(entities)
	body := `{"id": "og-1", "tinyId": "42", "alexis": {"unique_key": "tinyId", "unique_value": "42", "feed_type": "` + feed +
		`", "feed_name": "incoming"}, "rule": ` + fmt.Sprintf(ruleJSON, tasks, ents) + `}`
	req, err := action.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

type fixture struct {
	eng    *Engine
	wb     *writeback.Writer
	st     store.Store
	runner *fakeRunner
	ev     *events
	rec    *tickettest.Recorder
	logs   *logtest.Buffer
	n      int
}

func newFixture(t *testing.T, edit func(*Options)) *fixture {
	t.Helper()
	return newFixtureWB(t, edit, nil)
}

// newFixtureWB is newFixture with editWB changing write-back's options
// (its Redact is the engine's).
func newFixtureWB(t *testing.T, edit func(*Options), editWB func(*writeback.Options)) *fixture {
	t.Helper()
	ev := &events{}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "e.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{runner: &fakeRunner{ev: ev, fail: map[string]bool{}, stdout: "restarted ok\n"},
		ev: ev, rec: &tickettest.Recorder{}, logs: &logtest.Buffer{}, st: st}
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", f.rec)
	log := logging.New(f.logs, "actionhandler", logging.Options{})
	wo := writeback.Options{
		Store:              st,
		Owner:              "rep1",
		Tickets:            tickets,
		InvestigationQueue: "queue_needsinvestigation",
		Log:                log,
	}
	o := Options{
		Store:   st,
		Owner:   "rep1",
		Lease:   time.Minute,
		Runners: map[string]task.Runner{"remote_ssh": f.runner},
		Log:     log,
		Sleep: func(ctx context.Context, d time.Duration) error {
			ev.add("sleep " + d.String())
			return nil
		},
	}
	if edit != nil {
		edit(&o)
	}
	wo.Redact = o.Redact
	if editWB != nil {
		editWB(&wo)
	}
	f.wb = writeback.New(wo)
	o.Writeback = f.wb
	f.eng = New(o)
	return f
}

// queue records an execution of req on entities and claims it.
func (f *fixture) queue(t *testing.T, req *action.Request, entities ...string) *store.Execution {
	t.Helper()
	f.n++
	merged, _ := json.Marshal(req)
	x := &store.Execution{ID: fmt.Sprintf("exec%d", f.n), AlertID: req.Alert.ID(), UniqueValue: req.Alert.Meta.UniqueValue,
		FeedType: req.Alert.Meta.FeedType, FeedName: req.Alert.Meta.FeedName, RuleName: req.Rule.Name,
		Client: "classifier", Request: merged, Entities: entities}
	if _, created, err := f.st.Create(context.Background(), x, 0); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	got, err := f.st.Claim(context.Background(), "rep1", time.Minute, nil)
	if err != nil || got == nil || got.ID != x.ID {
		t.Fatalf("claim: %+v %v", got, err)
	}
	return got
}

// run executes req on entities and returns the stored execution.
func (f *fixture) run(t *testing.T, ctx context.Context, req *action.Request, entities ...string) *store.Execution {
	t.Helper()
	x := f.queue(t, req, entities...)
	f.eng.Execute(ctx, x)
	got, err := f.st.Get(context.Background(), x.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Teams added through ticket.Do (the rules' operations) count as "team".
func calls(rec *tickettest.Recorder, op string) []string {
	var out []string
	for _, c := range rec.Calls() {
		if c.Op == op || (op == "team" && c.Op == ticket.KindAddTeam) {
			if c.ID != "og-1" {
				panic("write-back to id " + c.ID)
			}
			out = append(out, c.Value)
		}
	}
	return out
}

// seconds hides step durations in notes.
var secondsRE = regexp.MustCompile(`\d+\.\ds\)`)

func noTimes(s string) string { return secondsRE.ReplaceAllString(s, "Ns)") }

func stepStatuses(x *store.Execution) map[string]string {
	out := map[string]string{}
	for _, st := range x.Steps {
		out[fmt.Sprintf("%s %d", st.Entity, st.TaskIndex)] = st.Status
	}
	return out
}

func TestTasksInOrderWithDelays(t *testing.T) {
	f := newFixture(t, nil)
	hosts := []string{"app01", "app02", "app03"}
	x := f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, hosts...), hosts...)
	if x.Status != store.Success || x.ReportedAt.IsZero() || x.Owner != "" {
		t.Fatalf("execution %+v", x)
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
	if len(x.Steps) != 6 || x.Steps[0].Command != "systemctl restart dup" || x.Steps[0].Stdout != "restarted ok\n" ||
		x.Steps[0].StartedAt.IsZero() || x.Steps[0].FinishedAt.IsZero() {
		t.Errorf("steps %+v", x.Steps)
	}
	notes := calls(f.rec, "note")
	if len(notes) != 3 {
		t.Fatalf("want one note per host, got %q", notes)
	}
	want := "Alexis rule r1: restart_service on app01: success (exit 0, Ns)\nrestarted ok\n\n" +
		"Alexis rule r1: check_service on app01: success (exit 0, Ns)\nrestarted ok"
	if noTimes(notes[0]) != want {
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
	x := f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, hosts...), hosts...)
	if x.Status != store.Failure {
		t.Fatalf("status %s", x.Status)
	}
	got := f.ev.get()
	if slices.Contains(got, "run app02 1") || !slices.Contains(got, "run app01 1") {
		t.Fatalf("events %q: app02 must stop after its failure, app01 go on", got)
	}
	notes := calls(f.rec, "note")
	want := "Alexis rule r1: restart_service on app02: failure (exit 3, Ns)\nstderr:\nboom\n\n" +
		"Alexis rule r1: check_service on app02: skipped (stopped after an earlier task failed)"
	if len(notes) != 2 || noTimes(notes[1]) != want {
		t.Errorf("notes %q\nwant second:\n%s", notes, want)
	}
	if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
		t.Errorf("teams %q, want the investigation queue only", teams)
	}
	if !strings.Contains(f.logs.String(), "failed=1") || !strings.Contains(f.logs.String(), "succeeded=1") {
		t.Errorf("execution_finished counts missing:\n%s", f.logs)
	}
}

func TestAllFailedSkipsDelay(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.fail["app01 0"] = true
	f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01"), "app01")
	if got := f.ev.get(); !slices.Equal(got, []string{"run app01 0"}) {
		t.Fatalf("events %q: no delay and no further task once every host failed", got)
	}
}

// restart; check (on_failure continue); diagnose if anything failed;
// clean up always.
const flowTasks = `[
	{"task": {"task_type": "remote_ssh", "run_command": "restart", "action": "restart"}},
	{"task": {"task_type": "remote_ssh", "run_command": "check", "action": "check", "on_failure": "continue"}},
	{"task": {"task_type": "remote_ssh", "run_command": "diagnose", "action": "diagnose", "run_if": "failure"}},
	{"task": {"task_type": "remote_ssh", "run_command": "cleanup", "action": "cleanup", "run_if": "always"}}]`

func TestRunIfAndOnFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   []int
		status string
		steps  []string // status of tasks 0..3
	}{
		{name: "all good", status: store.Success,
			steps: []string{store.Success, store.Success, store.Skipped, store.Success}},
		{name: "check fails: diagnose", fail: []int{1}, status: store.Failure,
			steps: []string{store.Success, store.Failure, store.Success, store.Success}},
		{name: "restart fails and stops: cleanup only", fail: []int{0}, status: store.Failure,
			steps: []string{store.Failure, store.Skipped, store.Skipped, store.Success}},
		{name: "diagnose fails too", fail: []int{1, 2}, status: store.Failure,
			steps: []string{store.Success, store.Failure, store.Failure, store.Success}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			for _, i := range tc.fail {
				f.runner.fail[fmt.Sprintf("h1 %d", i)] = true
			}
			x := f.run(t, context.Background(), request(t, "OpsGenie", flowTasks, "h1"), "h1")
			if x.Status != tc.status {
				t.Errorf("status %s, want %s", x.Status, tc.status)
			}
			got := stepStatuses(x)
			for i, want := range tc.steps {
				if got[fmt.Sprintf("h1 %d", i)] != want {
					t.Errorf("task %d: %s, want %s", i, got[fmt.Sprintf("h1 %d", i)], want)
				}
			}
		})
	}
}

func TestDevelopmentRunsNothing(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Development = true })
	x := f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01", "app02"), "app01", "app02")
	if x.Status != store.DryRun {
		t.Fatalf("status %s", x.Status)
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
	logs := f.logs.String()
	for _, want := range []string{"event=action_dry_run", "action_status=dry_run", "entity=app01",
		`command="run 'systemctl restart dup'"`, "event=execution_finished"} {
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
	f.run(t, context.Background(), request(t, "Dynatrace", twoTasks, "app01"), "app01")
	if len(f.rec.Calls()) != 0 {
		t.Fatalf("wrote to the OpsGenie ticket for a Dynatrace alert: %v", f.rec.Calls())
	}
	if !strings.Contains(f.logs.String(), "event=writeback_skipped") {
		t.Errorf("no writeback_skipped:\n%s", f.logs)
	}
}

func TestWritebackErrorIsLogged(t *testing.T) {
	f := newFixture(t, nil)
	f.rec.Err = errors.New("opsgenie down")
	x := f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01"), "app01")
	if !strings.Contains(f.logs.String(), "event=writeback_failed") {
		t.Errorf("no writeback_failed:\n%s", f.logs)
	}
	if x.ReportedAt.IsZero() {
		t.Error("not marked reported")
	}
}

func TestShutdownInterruptsAndStillWritesBack(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.block = make(chan struct{})
	ctx, cancel := context.WithCancelCause(context.Background())
	x := f.queue(t, request(t, "OpsGenie", twoTasks, "app01"), "app01")
	done := make(chan struct{})
	go func() { f.eng.Execute(ctx, x); close(done) }()
	for !slices.Contains(f.ev.get(), "run app01 0") {
		time.Sleep(time.Millisecond)
	}
	cancel(errShutdown)
	<-done
	got, _ := f.st.Get(context.Background(), x.ID)
	if got.Status != store.Interrupted || !strings.Contains(got.Reason, "shut down") {
		t.Fatalf("status %s %q", got.Status, got.Reason)
	}
	if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
		t.Errorf("teams %q", teams)
	}
	if notes := calls(f.rec, "note"); len(notes) != 1 || !strings.Contains(notes[0], "failure (cancelled") ||
		!strings.Contains(notes[0], "was interrupted") || !strings.Contains(notes[0], "check_service on app01: skipped") {
		t.Errorf("notes %q", notes)
	}
}

func TestExecutionTimeout(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ExecutionTimeout = 50 * time.Millisecond })
	f.runner.block = make(chan struct{})
	x := f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01"), "app01")
	if x.Status != store.Failure || !strings.Contains(x.Steps[0].Error, "execution_timeout 50ms reached") {
		t.Fatalf("status %s steps %+v", x.Status, x.Steps)
	}
}

func TestConcurrencyBound(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Concurrency = 2 })
	var hosts []string
	for i := 0; i < 10; i++ {
		hosts = append(hosts, fmt.Sprintf("h%d", i))
	}
	f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, hosts...), hosts...)
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
	f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01"), "app01")
	var started, finished string
	for _, l := range strings.Split(f.logs.String(), "\n") {
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
	for _, k := range []string{"action_status=failure", "exit_code=3", "elapsed_ms=", `error="exit status 3"`} {
		if !strings.Contains(finished, k) {
			t.Errorf("%s missing: %s", k, finished)
		}
	}
	if strings.Contains(f.logs.String(), "boom") {
		t.Errorf("command output reached the log")
	}
}

func TestNoteTrimsOutput(t *testing.T) {
	f := newFixture(t, nil)
	f.runner.stdout = strings.Repeat("x", 5000)
	f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01"), "app01")
	note := calls(f.rec, "note")[0]
	if len(note) > 2*writeback.OutputNoteLimit+300 || !strings.Contains(note, "[trimmed]") {
		t.Errorf("note of %d bytes, want output trimmed to about %d each: %.200q", len(note), writeback.OutputNoteLimit, note)
	}
}

func TestSecretsRedacted(t *testing.T) {
	const secret = "hunter2-very-secret"
	f := newFixture(t, func(o *Options) { o.Redact = redact.New(secret) })
	f.runner.stdout = "token is " + secret + "\n"
	f.runner.fail["app01 1"] = true
	tasks := `[{"task": {"task_type": "remote_ssh", "run_command": "echo ` + secret + `", "action": "leak"}},
		{"task": {"task_type": "remote_ssh", "run_command": "false", "action": "fail"}}]`
	x := f.run(t, context.Background(), request(t, "OpsGenie", tasks, "app01"), "app01")
	stored := fmt.Sprintf("%+v", x.Steps)
	all := stored + strings.Join(calls(f.rec, "note"), "\n") + f.logs.String()
	if strings.Contains(all, secret) {
		t.Fatalf("secret leaked:\n%s", all)
	}
	if !strings.Contains(stored, "echo <secret>") || !strings.Contains(stored, "token is <secret>") {
		t.Errorf("redaction not visible in %s", stored)
	}
}

func TestLeaseLostStops(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Lease = 30 * time.Millisecond })
	f.runner.block = make(chan struct{})
	x := f.queue(t, request(t, "OpsGenie", twoTasks, "app01"), "app01")
	// Another replica takes the execution over while it runs.
	if err := f.st.ExpireLeases(context.Background(), "rep1"); err != nil {
		t.Fatal(err)
	}
	taken, err := f.st.Recover(context.Background(), "rep2", time.Hour)
	if err != nil || len(taken) != 1 {
		t.Fatalf("recover: %v %v", taken, err)
	}
	f.eng.Execute(context.Background(), x) // returns once the heartbeat finds the lease gone
	if !strings.Contains(f.logs.String(), "event=lease_lost") {
		t.Errorf("no lease_lost:\n%s", f.logs)
	}
	got, _ := f.st.Get(context.Background(), x.ID)
	if got.Owner != "rep2" || got.Status != store.Interrupted || len(calls(f.rec, "note")) != 0 {
		t.Errorf("the new owner's execution was touched: %+v, notes %q", got, calls(f.rec, "note"))
	}
}

func TestReportRecoveredAndSkipped(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	x := f.queue(t, request(t, "OpsGenie", twoTasks, "app01"), "app01")
	f.st.SaveStep(ctx, x.ID, store.Step{TaskIndex: 0, Entity: "app01", TaskType: "remote_ssh", Action: "restart_service",
		Command: "run 'systemctl restart dup'", Status: store.Running, ExitCode: -1, StartedAt: time.Now()})
	f.st.ExpireLeases(ctx, "")
	xs, _ := f.st.Recover(ctx, "rep1", time.Minute)
	if len(xs) != 1 {
		t.Fatalf("recovered %d", len(xs))
	}
	f.eng.Report(ctx, xs[0])
	notes := calls(f.rec, "note")
	if len(notes) != 1 || !strings.Contains(notes[0], "execution exec1 was interrupted (the action handler running it (rep1) stopped") ||
		!strings.Contains(notes[0], "restart_service on app01: interrupted while running, outcome unknown") ||
		!strings.Contains(notes[0], "check_service on app01: not run") {
		t.Errorf("notes %q", notes)
	}
	if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
		t.Errorf("teams %q", teams)
	}
	if !strings.Contains(f.logs.String(), "event=execution_interrupted") {
		t.Errorf("logs:\n%s", f.logs)
	}

	g := newFixture(t, nil)
	req := request(t, "OpsGenie", twoTasks, "app01", "app02")
	merged, _ := json.Marshal(req)
	g.st.Create(ctx, &store.Execution{ID: "skip1", AlertID: "og-1", FeedType: "OpsGenie", RuleName: "r1", Request: merged,
		Entities: []string{"app01", "app02"}}, time.Hour)
	sk, _ := g.st.Claim(ctx, "rep1", time.Minute, func(context.Context, store.Counter, *store.Execution) (string, error) {
		return "governor: too much", nil
	})
	g.eng.Report(ctx, sk)
	want := "Alexis rule r1 did not run on app01, app02: governor: too much. Sent to queue_needsinvestigation for a person to decide."
	if notes := calls(g.rec, "note"); !slices.Equal(notes, []string{want}) {
		t.Errorf("skip notes %q", notes)
	}
	if teams := calls(g.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
		t.Errorf("teams %q", teams)
	}
	if !strings.Contains(g.logs.String(), "event=execution_skipped") || !strings.Contains(g.logs.String(), `detail="governor: too much"`) {
		t.Errorf("logs:\n%s", g.logs)
	}
	if got, _ := g.st.Get(ctx, "skip1"); got.ReportedAt.IsZero() {
		t.Error("skipped execution not marked reported")
	}
}

func TestWorkers(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	// Left running by a previous process: reported interrupted at start.
	old := f.queue(t, request(t, "OpsGenie", twoTasks, "app09"), "app09")
	f.st.ExpireLeases(ctx, "")
	for i := range 3 {
		req := request(t, "OpsGenie", twoTasks, "app01")
		merged, _ := json.Marshal(req)
		f.st.Create(ctx, &store.Execution{ID: fmt.Sprintf("q%d", i), AlertID: fmt.Sprintf("og-%d", i), FeedType: "Dynatrace",
			RuleName: "r1", Request: merged, Entities: []string{"app01"}}, time.Hour)
	}
	w := StartWorkers(WorkerOptions{Store: f.st, Engine: f.eng, Workers: 2, PollInterval: 10 * time.Millisecond, Log: f.eng.o.Log})
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, _ := f.st.List(ctx, store.Filter{Status: store.Success})
		if len(p.Executions) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued executions did not run:\n%s", f.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := f.st.Get(ctx, old.ID); got.Status != store.Interrupted {
		t.Errorf("old execution %s", got.Status)
	}

	// At shutdown, queued executions stay queued; running ones end interrupted.
	f.runner.mu.Lock()
	f.runner.block = make(chan struct{})
	f.runner.mu.Unlock()
	for i := range 3 {
		host := fmt.Sprintf("app1%d", i) // one execution per host at a time
		req := request(t, "OpsGenie", twoTasks, host)
		merged, _ := json.Marshal(req)
		f.st.Create(ctx, &store.Execution{ID: fmt.Sprintf("s%d", i), AlertID: fmt.Sprintf("og-s%d", i), FeedType: "Dynatrace",
			RuleName: "r1", Request: merged, Entities: []string{host}}, time.Hour)
		time.Sleep(2 * time.Millisecond)
	}
	w.Wake()
	for n := 0; n < 2; {
		p, _ := f.st.List(ctx, store.Filter{Status: store.Running})
		n = len(p.Executions)
		time.Sleep(5 * time.Millisecond)
	}
	if w.Shutdown(20 * time.Millisecond) {
		t.Error("shutdown reported everything finished within grace")
	}
	for id, want := range map[string]string{"s0": store.Interrupted, "s1": store.Interrupted, "s2": store.Queued} {
		if got, _ := f.st.Get(ctx, id); got.Status != want {
			t.Errorf("%s: %s, want %s", id, got.Status, want)
		}
	}
}

// The rule's operations follow the notes; one failing does not stop the
// next, and each failure is logged.
func TestRuleOpsAfterNotes(t *testing.T) {
	f := newFixture(t, nil)
	f.rec.Unsupported = []string{ticket.KindEscalate}
	req := request(t, "OpsGenie", twoTasks, "app01")
	req.Rule.OnSuccess = []ticket.Op{{Kind: ticket.KindEscalate, Value: "db"}, {Kind: ticket.KindNote, Value: "fixed"}, {Kind: ticket.KindClose}}
	f.run(t, context.Background(), req, "app01")
	var ops []string
	for _, c := range f.rec.Calls() {
		ops = append(ops, c.Op)
	}
	if want := []string{"note", "note", "close"}; !slices.Equal(ops, want) {
		t.Errorf("calls %q, want %q", ops, want)
	}
	if notes := calls(f.rec, "note"); len(notes) != 2 || notes[1] != "fixed" {
		t.Errorf("notes %q", notes)
	}
	if !strings.Contains(f.logs.String(), "event=writeback_failed") || len(calls(f.rec, "team")) != 0 {
		t.Errorf("want writeback_failed and no team:\n%s", f.logs)
	}
}
