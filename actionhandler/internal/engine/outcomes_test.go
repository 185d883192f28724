package engine

import (
	"context"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

// notesAtObserve records how many notes the ticket had when Outcomes was
// told of each execution.
type notesAtObserve struct {
	rec   *tickettest.Recorder
	notes []int
}

func (o *notesAtObserve) Observe(_ context.Context, _ *store.Execution, _ *rule.Rule) {
	o.notes = append(o.notes, len(calls(o.rec, "note")))
}

// The circuit breaker (Outcomes) counts an execution before its write-back:
// a write-back that is slow or cut short by a crash must not delay or lose
// the count that pauses a failing rule.
func TestOutcomesToldBeforeWriteback(t *testing.T) {
	obs := &notesAtObserve{}
	f := newFixture(t, func(o *Options) { o.Outcomes = obs })
	obs.rec = f.rec
	f.runner.fail["app01 0"] = true
	x := f.run(t, context.Background(), request(t, "OpsGenie", twoTasks, "app01"), "app01")
	if x.Status != store.Failure {
		t.Fatalf("status %q", x.Status)
	}
	if len(obs.notes) != 1 || obs.notes[0] != 0 {
		t.Fatalf("notes on the ticket when Outcomes was told: %v (want [0])", obs.notes)
	}
	if n := calls(f.rec, "note"); len(n) == 0 {
		t.Fatal("no note written back")
	}
}
