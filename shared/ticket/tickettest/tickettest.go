// Package tickettest is an in-memory Ticket for unit tests of the services'
// logic. End-to-end tests use the real OpsGenie client against the local
// OpsGenie-compatible server instead.
package tickettest

import (
	"context"
	"sync"
)

// Call is one recorded write-back.
type Call struct {
	Op, ID, Value string // Op is "note" or "team"
}

// Recorder records every call; Err, if set, is returned by every call.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
	Err   error
}

func (r *Recorder) add(op, id, v string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{op, id, v})
	return r.Err
}

// AddNote records a note.
func (r *Recorder) AddNote(_ context.Context, id, note string) error { return r.add("note", id, note) }

// AddTeam records a team.
func (r *Recorder) AddTeam(_ context.Context, id, team string) error { return r.add("team", id, team) }

// Calls returns a copy of the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}
