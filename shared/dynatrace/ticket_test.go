package dynatrace

import (
	"context"
	"errors"
	"testing"

	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/ticket"
)

func TestWriteErrorsAreTicketErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		temporary bool
	}{
		{name: "400", status: 400, temporary: false},
		{name: "404", status: 404, temporary: false},
		{name: "429", status: 429, temporary: true},
		{name: "500", status: 500, temporary: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dynatracetest.NewT(t)
			p := s.CreateProblem(dynatracetest.ProblemSpec{Title: "p"})
			c := newClient(t, s, -1, "")
			s.FailNext(5, tc.status)
			err := c.Do(context.Background(), p.ProblemID, ticket.Op{Kind: ticket.KindNote, Value: "n"})
			var te *ticket.Error
			if !errors.As(err, &te) || te.System != System || te.Status != tc.status {
				t.Fatalf("err %v (%+v), want a ticket.Error of %s with status %d", err, te, System, tc.status)
			}
			if ticket.Temporary(err) != tc.temporary {
				t.Errorf("Temporary(%v) = %v, want %v", err, !tc.temporary, tc.temporary)
			}
		})
	}
	s := dynatracetest.NewT(t)
	c := newClient(t, s, -1, "")
	err := c.Do(context.Background(), "x", ticket.Op{Kind: ticket.KindEscalate, Value: "e"})
	if !errors.Is(err, ticket.ErrUnsupported) || ticket.Temporary(err) {
		t.Errorf("escalate: %v, want unsupported and not temporary", err)
	}
}

func TestIsOpen(t *testing.T) {
	s := dynatracetest.NewT(t)
	p := s.CreateProblem(dynatracetest.ProblemSpec{Title: "p"})
	c := newClient(t, s, -1, "")
	ctx := context.Background()
	sr, ok := ticket.StatusOf(&ticket.Multi{Primary: c})
	if !ok {
		t.Fatal("StatusOf finds no StatusReader on the client")
	}
	if open, err := sr.IsOpen(ctx, p.ProblemID); !open || err != nil {
		t.Errorf("open problem: %v, %v", open, err)
	}
	if err := c.Do(ctx, p.ProblemID, ticket.Op{Kind: ticket.KindClose}); err != nil {
		t.Fatal(err)
	}
	if open, err := sr.IsOpen(ctx, p.ProblemID); open || err != nil {
		t.Errorf("closed problem: %v, %v", open, err)
	}
	open, err := sr.IsOpen(ctx, "-404_1V2")
	if !open || err == nil || ticket.Temporary(err) {
		t.Errorf("unknown problem: %v, %v; want open (cannot tell) and a 404", open, err)
	}
}
