package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
)

// fakeKiller answers per entity: killed, ended, an error, or (app04, by
// the step's key only) found on the host and killed.
type fakeKiller struct {
	asked []string
	keys  map[string]string
}

func (k *fakeKiller) KillLeftover(_ context.Context, entity, key string, p sshexec.Process) (sshexec.Leftover, error) {
	k.asked = append(k.asked, entity)
	if k.keys == nil {
		k.keys = map[string]string{}
	}
	k.keys[entity] = key
	switch entity {
	case "app01":
		return sshexec.Leftover{Process: p, Killed: true}, nil
	case "app02":
		return sshexec.Leftover{Process: p}, nil
	case "app04":
		if p.PID == 0 && key == sshexec.StepKey("x1", 2, "app04") {
			return sshexec.Leftover{Process: sshexec.Process{PID: 444, Start: "9"}, Killed: true}, nil
		}
		return sshexec.Leftover{}, errors.New("unexpected question")
	case "app05":
		return sshexec.Leftover{}, nil
	}
	return sshexec.Leftover{}, errors.New("dial tcp: connection refused")
}

// What an execution taken over from a dead replica left on its hosts is
// looked at once per interrupted remote_ssh step, by the stored process or,
// when the pid never reached the store, by the step's key; the outcome
// reaches the step and the note.
func TestKillLeftovers(t *testing.T) {
	k := &fakeKiller{}
	f := newFixture(t, func(o *Options) { o.Leftovers = k })
	step := func(entity string, index, pid int, status, taskType string) store.Step {
		return store.Step{Entity: entity, TaskIndex: index, TaskType: taskType, Action: "restart", Status: status, ExitCode: -1,
			RemotePID: pid, RemoteStart: "12345", Error: store.InterruptedStepError}
	}
	x := &store.Execution{ID: "x1", RuleName: "r1", Status: store.Interrupted, Entities: []string{"app01", "app02", "app03", "app04", "app05"},
		Steps: []store.Step{
			step("app01", 0, 100, store.Interrupted, "remote_ssh"),
			step("app02", 0, 200, store.Interrupted, "remote_ssh"),
			step("app03", 0, 300, store.Interrupted, "remote_ssh"),
			step("app04", 1, 400, store.Success, "remote_ssh"),   // ended normally
			step("app04", 2, 0, store.Interrupted, "remote_ssh"), // the pid never reached the store
			step("app04", 3, 500, store.Interrupted, "local"),    // not remote
			step("app05", 0, 0, store.Interrupted, "remote_ssh"), // nothing recorded on the host
		}}
	x.Steps[4].RemoteStart = ""
	x.Steps[6].RemoteStart = ""
	f.eng.KillLeftovers(context.Background(), x)
	if strings.Join(k.asked, ",") != "app01,app02,app03,app04,app05" {
		t.Errorf("asked about %q", k.asked)
	}
	for entity, key := range k.keys {
		want := sshexec.StepKey("x1", 0, entity)
		if entity == "app04" {
			want = sshexec.StepKey("x1", 2, entity)
		}
		if key != want {
			t.Errorf("%s: asked with key %q, want %q", entity, key, want)
		}
	}
	for entity, want := range map[string]string{
		"app01": "interrupted while running, outcome unknown; its command (pid 100) was still running and was killed",
		"app02": "its command (pid 200) had ended",
		"app03": "could not check whether its command (pid 300) still runs: dial tcp: connection refused",
		"app04": "its command (pid 444) was still running and was killed",
		"app05": "its command had ended or never started (no record of it on the host)",
	} {
		if note := f.wb.Note(x, nil, entity); !strings.Contains(note, want) {
			t.Errorf("note for %s: %q, want %q in it", entity, note, want)
		}
	}
	if st := x.Steps[4]; st.RemotePID != 444 || st.RemoteStart != "9" {
		t.Errorf("the process found by key is not recorded on the step: %+v", st)
	}
	logs := f.logs.String()
	for ev, n := range map[string]int{"event=remote_command_killed": 2, "event=remote_command_ended": 2, "event=remote_command_unknown": 1} {
		if strings.Count(logs, ev) != n {
			t.Errorf("want %d %s lines:\n%s", n, ev, logs)
		}
	}
	// Nothing for an execution that was not interrupted.
	k.asked = nil
	x.Status = store.Failure
	f.eng.KillLeftovers(context.Background(), x)
	if len(k.asked) != 0 {
		t.Errorf("asked about %q for a failed execution", k.asked)
	}
}
