package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
)

// writeLog is a store that records the step writes the engine makes.
type writeLog struct {
	store.Store
	mu     sync.Mutex
	writes []string // "save <entity> <task> <status>", "finish <status> [<entity> <task> <status> ...]"
	gets   int
}

func (w *writeLog) Get(ctx context.Context, id string) (*store.Execution, error) {
	w.mu.Lock()
	w.gets++
	w.mu.Unlock()
	return w.Store.Get(ctx, id)
}

func (w *writeLog) SaveStep(ctx context.Context, id string, st store.Step) error {
	w.mu.Lock()
	w.writes = append(w.writes, fmt.Sprintf("save %s %d %s", st.Entity, st.TaskIndex, st.Status))
	w.mu.Unlock()
	return w.Store.SaveStep(ctx, id, st)
}

func (w *writeLog) Finish(ctx context.Context, id, owner, status, reason string, steps ...store.Step) error {
	s := "finish " + status
	for _, st := range steps {
		s += fmt.Sprintf(" %s %d %s", st.Entity, st.TaskIndex, st.Status)
	}
	w.mu.Lock()
	w.writes = append(w.writes, s)
	w.mu.Unlock()
	return w.Store.Finish(ctx, id, owner, status, reason, steps...)
}

func (w *writeLog) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// seenRunner records, as each command starts, how its step stands in the
// store.
type seenRunner struct {
	*fakeRunner
	st   store.Store
	mu   sync.Mutex
	seen []string
}

func (r *seenRunner) Run(ctx context.Context, s task.Step) task.Result {
	x, err := r.st.Get(ctx, s.ExecutionID)
	r.mu.Lock()
	if err != nil {
		r.seen = append(r.seen, err.Error())
	} else {
		r.seen = append(r.seen, fmt.Sprintf("%s %d %s", s.Entity, s.Index, stepStatuses(x)[fmt.Sprintf("%s %d", s.Entity, s.Index)]))
	}
	r.mu.Unlock()
	return r.fakeRunner.Run(ctx, s)
}

// The last task's results land with the execution's status, in one write;
// every step is still recorded running before its command starts. The
// write-back uses the steps the engine holds: nothing is read back.
func TestLastStepsWithFinish(t *testing.T) {
	var wl *writeLog
	var sr *seenRunner
	f := newFixture(t, func(o *Options) {
		wl = &writeLog{Store: o.Store.(store.Store)}
		o.Store = wl
		sr = &seenRunner{fakeRunner: o.Runners["remote_ssh"].(*fakeRunner), st: wl.Store}
		o.Runners = map[string]task.Runner{"remote_ssh": sr}
	})
	req := request(t, "OpsGenie", twoTasks, "web01", "web02")
	f.runner.fail["web02 0"] = true // web02: the last task is skipped
	x := f.queue(t, req, "web01", "web02")
	f.eng.Execute(context.Background(), x)
	sr.mu.Lock()
	seen := fmt.Sprint(sr.seen)
	sr.mu.Unlock()
	for _, w := range []string{"web01 0 running", "web02 0 running", "web01 1 running"} {
		if !strings.Contains(seen, w) {
			t.Errorf("as commands started the store had %s, want %q in it", seen, w)
		}
	}
	var saves []string
	var finish string
	for _, w := range wl.get() {
		if strings.HasPrefix(w, "finish") {
			finish = w
			continue
		}
		saves = append(saves, w)
	}
	slices.Sort(saves)
	wantSaves := []string{"save web01 0 running", "save web01 0 success", "save web01 1 running",
		"save web02 0 failure", "save web02 0 running"}
	if fmt.Sprint(saves) != fmt.Sprint(wantSaves) {
		t.Errorf("step writes\n got %v\nwant %v", saves, wantSaves)
	}
	wl.mu.Lock()
	gets := wl.gets
	wl.mu.Unlock()
	if gets != 0 {
		t.Errorf("the engine read the execution back %d times", gets)
	}
	notes := calls(f.rec, "note")
	if len(notes) != 2 || !strings.Contains(notes[0], "web01") || !strings.Contains(notes[1], "web02") ||
		!strings.Contains(notes[1], "exit 3") || !strings.Contains(notes[0], "check_service") {
		t.Errorf("notes %q", notes)
	}
	if finish != "finish failure web02 1 skipped web01 1 success" {
		t.Errorf("finish wrote %q", finish)
	}
	got, err := f.st.Get(context.Background(), x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.Failure ||
		fmt.Sprint(stepStatuses(got)) != "map[web01 0:success web01 1:success web02 0:failure web02 1:skipped]" {
		t.Errorf("stored %s %v", got.Status, stepStatuses(got))
	}
}
