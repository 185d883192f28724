package webhook

import (
	"context"
	"errors"
	"testing"

	"github.com/alexis-ops/alexis/shared/ticket"
)

func TestErrorsAreTicketErrors(t *testing.T) {
	h := newHook(t)
	w, err := New(Config{Name: "chat", URL: h.URL, FeedTypes: []string{"*"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status    int
		temporary bool
	}{{400, false}, {404, false}, {429, true}, {502, true}} {
		h.setStatus(tc.status)
		err := w.AddNote(context.Background(), "A1", "n")
		var te *ticket.Error
		if !errors.As(err, &te) || te.System != System || te.Status != tc.status {
			t.Fatalf("%d: err %v (%+v), want a ticket.Error", tc.status, err, te)
		}
		if ticket.Temporary(err) != tc.temporary {
			t.Errorf("%d: Temporary = %v, want %v", tc.status, !tc.temporary, tc.temporary)
		}
	}
}
