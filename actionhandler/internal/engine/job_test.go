package engine

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
)

// countDecodes makes the engine count the stored requests it decodes.
func countDecodes(n *atomic.Int32) func(*Options) {
	return func(o *Options) {
		o.decode = func(b []byte) (*action.Request, error) {
			n.Add(1)
			return action.Decode(b)
		}
	}
}

// TestDecodeOncePerExecution: running an execution (its tasks, notes,
// operations and escalation timer) and reporting one that ended without
// running each decode the stored request once (escalating one:
// writeback.TestEscalateDecodesOnce).
func TestDecodeOncePerExecution(t *testing.T) {
	var n atomic.Int32
	f := newFixture(t, countDecodes(&n))
	req := request(t, "OpsGenie", twoTasks, "app01", "app02")
	req.Rule.DelayEscalation = "1h"
	x := f.run(t, context.Background(), req, "app01", "app02")
	if x.Status != store.Success || x.EscalateAt.IsZero() {
		t.Fatalf("execution %s, escalation at %v", x.Status, x.EscalateAt)
	}
	if got := n.Swap(0); got != 1 {
		t.Errorf("Execute decoded the request %d times, want 1", got)
	}

	skipped := *x
	skipped.Status, skipped.Reason = store.Skipped, "too many"
	f.eng.Report(context.Background(), &skipped)
	if got := n.Swap(0); got != 1 {
		t.Errorf("Report decoded the request %d times, want 1", got)
	}
}

// TestDevelopmentDescribesEveryTask: in development mode a run_if
// failure task is described (marked as conditional) on every host, a
// task type without a runner is a dry run saying so, and no delay_after
// is waited.
func TestDevelopmentDescribesEveryTask(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Development = true })
	tasks := `[
   {"task": {"task_type": "remote_ssh", "run_command": "a", "delay_after": "30s"}},
   {"task": {"task_type": "remote_ssh", "run_command": "b", "run_if": "failure", "delay_after": "5s"}},
   {"task": {"task_type": "http", "method": "GET", "url": "https://example.com/x"}}]`
	x := f.run(t, context.Background(), request(t, "OpsGenie", tasks, "app01"), "app01")
	if x.Status != store.DryRun {
		t.Fatalf("status %s", x.Status)
	}
	if got := f.ev.get(); len(got) != 0 {
		t.Fatalf("development mode ran or slept: %q", got)
	}
	want := map[int]store.Step{
		0: {Command: "run 'a'"},
		1: {Command: "run 'b' (only if an earlier task fails)"},
		2: {Error: "no runner for task type http"},
	}
	if len(x.Steps) != len(want) {
		t.Fatalf("steps %+v", x.Steps)
	}
	for _, st := range x.Steps {
		w := want[st.TaskIndex]
		if st.Status != store.DryRun || st.Command != w.Command || st.Error != w.Error {
			t.Errorf("task %d: %s %q %q, want dry_run %q %q", st.TaskIndex, st.Status, st.Command, st.Error, w.Command, w.Error)
		}
	}
}
