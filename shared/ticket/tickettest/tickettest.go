// Package tickettest is an in-memory Ticket for unit tests of the services'
// logic. End-to-end tests use the real OpsGenie client against the local
// OpsGenie-compatible server instead.
package tickettest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/alexis-ops/alexis/shared/ticket"
)

// Call is one recorded write-back. Op is "note" for AddNote, "team" for
// AddTeam (kept from before the operation set existed), and the op kind
// for Do ("note", "add_team", "close", ...). Value is the op's Value, or
// its Values joined with ",", and Note its Note.
type Call struct {
	Op, ID, Value string
	Note          string
}

// Recorder records every call; Err, if set, is returned by every call.
// It supports every kind unless Unsupported names it.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
	Err   error
	// Unsupported lists kinds Supports denies and Do rejects.
	Unsupported []string
}

func (r *Recorder) add(c Call) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	return r.Err
}

// AddNote records a note.
func (r *Recorder) AddNote(_ context.Context, id, note string) error {
	return r.add(Call{Op: "note", ID: id, Value: note})
}

// AddTeam records a team.
func (r *Recorder) AddTeam(_ context.Context, id, team string) error {
	return r.add(Call{Op: "team", ID: id, Value: team})
}

// Do records op under its kind.
func (r *Recorder) Do(_ context.Context, id string, op ticket.Op) error {
	if !r.Supports(op.Kind) {
		return fmt.Errorf("%s: %w", op.Kind, ticket.ErrUnsupported)
	}
	v := op.Value
	if len(op.Values) > 0 {
		v = strings.Join(op.Values, ",")
	}
	return r.add(Call{Op: op.Kind, ID: id, Value: v, Note: op.Note})
}

// Supports reports every kind but the Unsupported ones.
func (r *Recorder) Supports(kind string) bool {
	for _, k := range r.Unsupported {
		if k == kind {
			return false
		}
	}
	for _, k := range ticket.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Calls returns a copy of the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

var _ ticket.Operator = (*Recorder)(nil)
