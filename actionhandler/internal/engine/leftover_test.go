package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
)

// fakeKiller answers per entity: killed, ended or an error.
type fakeKiller struct {
	asked []string
}

func (k *fakeKiller) KillLeftover(_ context.Context, entity string, p sshexec.Process) (bool, error) {
	k.asked = append(k.asked, entity)
	switch entity {
	case "app01":
		return true, nil
	case "app02":
		return false, nil
	}
	return false, errors.New("dial tcp: connection refused")
}

// What an execution taken over from a dead replica left on its hosts is
// looked at once per interrupted remote_ssh step with a known process, and
// the outcome reaches the step and the note.
func TestKillLeftovers(t *testing.T) {
	k := &fakeKiller{}
	f := newFixture(t, func(o *Options) { o.Leftovers = k })
	step := func(entity string, pid int, status, taskType string) store.Step {
		return store.Step{Entity: entity, TaskType: taskType, Action: "restart", Status: status, ExitCode: -1,
			RemotePID: pid, RemoteStart: "12345", Error: store.InterruptedStepError}
	}
	x := &store.Execution{ID: "x1", RuleName: "r1", Status: store.Interrupted, Entities: []string{"app01", "app02", "app03", "app04"},
		Steps: []store.Step{
			step("app01", 100, store.Interrupted, "remote_ssh"),
			step("app02", 200, store.Interrupted, "remote_ssh"),
			step("app03", 300, store.Interrupted, "remote_ssh"),
			step("app04", 0, store.Interrupted, "remote_ssh"), // its host never reported the process
			step("app04", 400, store.Success, "remote_ssh"),   // ended normally
			step("app04", 500, store.Interrupted, "local"),
		}}
	f.eng.KillLeftovers(context.Background(), x)
	if strings.Join(k.asked, ",") != "app01,app02,app03" {
		t.Errorf("asked about %q", k.asked)
	}
	for entity, want := range map[string]string{
		"app01": "interrupted while running, outcome unknown; its command (pid 100) was still running and was killed",
		"app02": "its command (pid 200) had ended",
		"app03": "could not check whether its command (pid 300) still runs: dial tcp: connection refused",
	} {
		if note := f.eng.Note(x, nil, entity); !strings.Contains(note, want) {
			t.Errorf("note for %s: %q, want %q in it", entity, note, want)
		}
	}
	if note := f.eng.Note(x, nil, "app04"); strings.Contains(note, "pid") || strings.Contains(note, store.InterruptedStepError) {
		t.Errorf("note for app04: %q", note)
	}
	logs := f.logs.String()
	for _, ev := range []string{"event=remote_command_killed", "event=remote_command_ended", "event=remote_command_unknown"} {
		if strings.Count(logs, ev) != 1 {
			t.Errorf("want one %s line:\n%s", ev, logs)
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
