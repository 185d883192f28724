// Package recordtest is a stand-in for the action handler's
// POST /v1/decisions: a real HTTP server that checks the token, decodes
// each batch as api.DecisionBatch, keeps what it recorded (idempotent by
// decision id, as the real store) and fails on demand.
package recordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// Server is the stand-in. Its zero Answer records every valid batch.
type Server struct {
	URL   string // POST here (…/v1/decisions)
	Token string

	srv     *httptest.Server
	release chan struct{}

	mu        sync.Mutex
	answer    func(n int, b api.DecisionBatch) int // status for request n (from 1); 0: record, 200
	hang      bool
	requests  int
	batches   []api.DecisionBatch // every batch received, recorded or not
	recorded  []api.Decision      // in the order recorded, each id once
	seen      map[string]bool
	badTokens int
}

// New starts a Server that wants token; it stops with the test.
func New(t testing.TB, token string) *Server {
	s := &Server{Token: token, seen: map[string]bool{}, release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/v1/decisions"
	t.Cleanup(func() {
		s.mu.Lock()
		if s.hang {
			s.hang = false
			close(s.release)
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

// Answer makes request n (counted from 1) answer f's status; 200 and 0
// record the batch.
func (s *Server) Answer(f func(n int, b api.DecisionBatch) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

// Hang makes every request wait, unanswered, until the client gives up or
// Release is called.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// Release answers the hanging requests and stops hanging.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hang {
		s.hang = false
		close(s.release)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(api.Error{Error: msg})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/decisions" {
		fail(http.StatusNotFound, "not found")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		s.mu.Lock()
		s.badTokens++
		s.mu.Unlock()
		fail(http.StatusUnauthorized, "missing or unknown token")
		return
	}
	s.mu.Lock()
	hang, release := s.hang, s.release
	s.mu.Unlock()
	if hang {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var b api.DecisionBatch
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		fail(http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if len(b.Decisions) == 0 || len(b.Decisions) > api.MaxDecisionBatch {
		fail(http.StatusBadRequest, fmt.Sprintf("decisions: want 1..%d, got %d", api.MaxDecisionBatch, len(b.Decisions)))
		return
	}
	s.mu.Lock()
	s.requests++
	n, answer := s.requests, s.answer
	s.batches = append(s.batches, b)
	s.mu.Unlock()
	code := http.StatusOK
	if answer != nil {
		if c := answer(n, b); c != 0 {
			code = c
		}
	}
	if code != http.StatusOK {
		fail(code, fmt.Sprintf("refused with %d on request %d", code, n))
		return
	}
	s.mu.Lock()
	added := 0
	for _, d := range b.Decisions {
		if !s.seen[d.ID] {
			s.seen[d.ID] = true
			s.recorded = append(s.recorded, d)
			added++
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"recorded": added})
}

// Recorded returns the decisions recorded, in order.
func (s *Server) Recorded() []api.Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]api.Decision(nil), s.recorded...)
}

// Batches returns every batch received (recorded, refused or failed).
func (s *Server) Batches() []api.DecisionBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]api.DecisionBatch(nil), s.batches...)
}

// BadTokens counts requests refused for their token.
func (s *Server) BadTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badTokens
}

// WaitRecorded polls until n decisions are recorded or the deadline
// passes, and returns them.
func (s *Server) WaitRecorded(t testing.TB, n int) []api.Decision {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.Recorded()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorded %d decisions, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
