package opsgenie

import (
	"context"
	"errors"
	"testing"

	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
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
			s := opsgenietest.NewT(t)
			a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
			c := newClient(t, s, 0, "")
			s.FailNext(5, tc.status)
			err := c.Do(context.Background(), a.ID, ticket.Op{Kind: ticket.KindClose})
			var te *ticket.Error
			if !errors.As(err, &te) || te.System != System || te.Status != tc.status {
				t.Fatalf("err %v (%+v), want a ticket.Error of %s with status %d", err, te, System, tc.status)
			}
			if ticket.Temporary(err) != tc.temporary {
				t.Errorf("Temporary(%v) = %v, want %v", err, !tc.temporary, tc.temporary)
			}
			if StatusCode(err) != tc.status {
				t.Errorf("StatusCode = %d, the SDK's error is no longer wrapped", StatusCode(err))
			}
		})
	}
}

func TestIsOpen(t *testing.T) {
	s := opsgenietest.NewT(t)
	a := s.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	c := newClient(t, s, 0, "")
	ctx := context.Background()
	sr, ok := ticket.StatusOf(&ticket.Multi{Primary: c})
	if !ok {
		t.Fatal("StatusOf finds no StatusReader on the client")
	}
	if open, err := sr.IsOpen(ctx, a.ID); !open || err != nil {
		t.Errorf("open alert: %v, %v", open, err)
	}
	if err := c.Do(ctx, a.ID, ticket.Op{Kind: ticket.KindClose}); err != nil {
		t.Fatal(err)
	}
	if open, err := sr.IsOpen(ctx, a.ID); open || err != nil {
		t.Errorf("closed alert: %v, %v", open, err)
	}
	open, err := sr.IsOpen(ctx, "no-such-alert")
	if !open || err == nil || ticket.Temporary(err) {
		t.Errorf("unknown alert: %v, %v; want open (cannot tell) and a 404", open, err)
	}
}
