package ticket_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

func TestObserve(t *testing.T) {
	rec := &tickettest.Recorder{Unsupported: []string{ticket.KindEscalate}}
	var seen []string
	set := ticket.Observe(ticket.Set{"opsgenie": rec}, func(system, kind string, err error) {
		seen = append(seen, system+"/"+kind+"/"+map[bool]string{true: "error", false: "ok"}[err != nil])
	})
	tk, _ := set.For("OpsGenie")
	ctx := context.Background()
	_ = tk.AddNote(ctx, "a1", "hello")
	_ = tk.AddTeam(ctx, "a1", "ops")
	err := ticket.Do(ctx, tk, "a1", ticket.Op{Kind: ticket.KindEscalate, Value: "primary"})
	if !errors.Is(err, ticket.ErrUnsupported) {
		t.Fatalf("unsupported op: %v", err)
	}
	want := []string{"tickettest/note/ok", "tickettest/add_team/ok", "tickettest/unsupported/error"}
	if len(seen) != len(want) {
		t.Fatalf("seen %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("seen %v, want %v", seen, want)
		}
	}
	if calls := rec.Calls(); len(calls) != 2 {
		t.Fatalf("wrapped system got %d calls, want 2", len(calls))
	}
}
