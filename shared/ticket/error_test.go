package ticket

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestTemporary(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{name: "no answer", err: NewError("x", "note", 0, errors.New("connection refused")), want: true},
		{name: "500", err: NewError("x", "note", 500, errors.New("boom")), want: true},
		{name: "503 wrapped", err: fmt.Errorf("outer: %w", NewError("x", "note", 503, errors.New("boom"))), want: true},
		{name: "408", err: NewError("x", "note", 408, errors.New("slow")), want: true},
		{name: "425", err: NewError("x", "note", 425, errors.New("early")), want: true},
		{name: "429", err: NewError("x", "note", 429, errors.New("rate")), want: true},
		{name: "400", err: NewError("x", "note", 400, errors.New("bad")), want: false},
		{name: "401", err: NewError("x", "note", 401, errors.New("key")), want: false},
		{name: "404", err: NewError("x", "note", 404, errors.New("gone")), want: false},
		{name: "unsupported", err: NewError("x", "escalate", 0, fmt.Errorf("x: %w", ErrUnsupported)), want: false},
		{name: "bare unsupported", err: fmt.Errorf("x: %w", ErrUnsupported), want: false},
		{name: "not a ticket error", err: errors.New("timeout"), want: true},
		{name: "joined, first decides", err: errors.Join(NewError("a", "note", 404, errors.New("gone")), NewError("b", "note", 500, errors.New("boom"))), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Temporary(tc.err); got != tc.want {
				t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorKeepsMessageAndCause(t *testing.T) {
	cause := errors.New("opsgenie add note on a1: status 404")
	err := NewError("opsgenie", "note", 404, cause)
	if err.Error() != cause.Error() {
		t.Errorf("message %q, want %q", err, cause)
	}
	if !errors.Is(err, cause) {
		t.Error("errors.Is does not find the cause")
	}
	var te *Error
	if !errors.As(err, &te) || te.System != "opsgenie" || te.Status != 404 || te.Op != "note" {
		t.Errorf("errors.As = %+v", te)
	}
	if NewError("x", "note", 500, nil) != nil {
		t.Error("NewError of nil is not nil")
	}
}

type openTicket struct{ Ticket }

func (openTicket) IsOpen(context.Context, string) (bool, error) { return false, nil }

type plainTicket struct{ Ticket }

func TestStatusOf(t *testing.T) {
	sr := openTicket{}
	for _, tc := range []struct {
		name string
		t    Ticket
		want bool
	}{
		{name: "itself", t: sr, want: true},
		{name: "multi primary", t: &Multi{Primary: sr, Mirrors: []Ticket{plainTicket{}}}, want: true},
		{name: "observed multi", t: Observe(Set{"x": &Multi{Primary: sr}}, func(string, string, error) {})["x"], want: true},
		{name: "mirror only", t: &Multi{Primary: plainTicket{}, Mirrors: []Ticket{sr}}, want: false},
		{name: "none", t: plainTicket{}, want: false},
		{name: "nil", t: nil, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := StatusOf(tc.t)
			if ok != tc.want || (ok && got != StatusReader(sr)) {
				t.Errorf("StatusOf = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}
