package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
	"github.com/rs/zerolog"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"accepted", nil, PushAccepted},
		{"no handler", fmt.Errorf("%w for os_type %q", ErrNoHandler, "aix"), PushNoHandler},
		{"401", fmt.Errorf("push: %w", &httpclient.StatusError{Code: 401}), PushUnauthorized},
		{"403", &httpclient.StatusError{Code: 403}, PushUnauthorized},
		{"422", &httpclient.StatusError{Code: 422}, PushRejected},
		{"400", &httpclient.StatusError{Code: 400}, PushRejected},
		{"503", &httpclient.StatusError{Code: 503}, PushUnavailable},
		{"transport", errors.New("dial tcp: connection refused"), PushUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Outcome(tc.err); got != tc.want {
				t.Errorf("Outcome(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

// barrier lets n callers through once all n have arrived, or fails them
// after a generous deadline: callers made one after the other never meet.
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) wait() error {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("barrier: the others never came (called one after the other?)")
	}
}

type barrierPusher struct{ b *barrier }

func (p barrierPusher) Push(_ context.Context, req *action.Request) (api.ActionAccepted, error) {
	if err := p.b.wait(); err != nil {
		return api.ActionAccepted{}, &httpclient.StatusError{Code: 400, Msg: err.Error()}
	}
	return api.ActionAccepted{ExecutionID: "exec-" + req.Rule.Name}, nil
}

// barrierTicket holds every note and the autoremediation team at one
// barrier, and records the order calls finished in.
type barrierTicket struct {
	b     *barrier
	mu    sync.Mutex
	order []string
	errs  []error
}

func (t *barrierTicket) record(what string, wait bool) error {
	var err error
	if wait {
		err = t.b.wait()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.order = append(t.order, what)
	t.errs = append(t.errs, err)
	return err
}

func (t *barrierTicket) AddNote(_ context.Context, _, note string) error {
	return t.record("note", true)
}
func (t *barrierTicket) AddTeam(_ context.Context, _, team string) error {
	return t.record("team "+team, team == "auto")
}

// Two matched rules are pushed at once, and their notes and the
// autoremediation team are written at once; the investigation team comes
// after the notes.
func TestActConcurrent(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "second", "third"} {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m["rule_name"] = name
		if name == "third" {
			m["os_type"] = "aix" // no handler: routed to investigation
		}
		b, _ := json.Marshal(m)
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loader := rules.NewDir(rules.DirOptions{Dir: dir, Log: zerolog.Nop()})
	defer loader.Close()
	tk := &barrierTicket{b: newBarrier(4)} // 3 notes + the autoremediation team
	pusher := barrierPusher{b: newBarrier(2)}
	c := New(Options{Rules: loader, Actions: onlyLinux{pusher}, Queue: "ops", AutoQueue: "auto", Log: zerolog.Nop(),
		Now: func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }})
	c.o.Tickets.Add("OpsGenie", tk)
	res, err := c.Classify(context.Background(), testRequest(t).Alert)
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != api.ResultMatched || len(res.Matched) != 3 || res.Matched[0].Status != PushAccepted ||
		res.Matched[1].Status != PushAccepted || res.Matched[2].Status != PushNoHandler {
		t.Fatalf("answer %+v", res)
	}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	for i, err := range tk.errs {
		if err != nil {
			t.Errorf("write %d (%s): %v", i, tk.order[i], err)
		}
	}
	if len(tk.order) != 5 || tk.order[4] != "team ops" {
		t.Errorf("writes finished in order %v, want the investigation team last", tk.order)
	}
}

// onlyLinux pushes rules for os_type linux and has no handler for others.
type onlyLinux struct{ p Pusher }

func (o onlyLinux) Push(ctx context.Context, req *action.Request) (api.ActionAccepted, error) {
	if req.Rule.OSType != "linux" {
		return api.ActionAccepted{}, fmt.Errorf("%w for os_type %q", ErrNoHandler, req.Rule.OSType)
	}
	return o.p.Push(ctx, req)
}

// Push sends the merged request as encoding/json would write it, byte for
// byte, though it is encoded once (not checked and copied again by
// json.Marshal): HTML characters and U+2028 in the alert stay escaped.
func TestPushSendsCanonicalBytes(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"execution_id":"e","status":"queued"}`)
	}))
	defer srv.Close()
	env, err := alert.Decode([]byte("{\"id\": \"x-1\", \"message\": \"disk <full> & \u2028 done\", \"n\": 1.50," +
		" \"alexis\": {\"unique_key\": \"id\", \"unique_value\": \"1\", \"feed_type\": \"OpsGenie\", \"feed_name\": \"f\"}}"))
	if err != nil {
		t.Fatal(err)
	}
	req := testRequest(t)
	req.Alert, req.RequestedBy = env, "poller <&>"
	client, err := httpclient.New(httpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewActionHandlers(map[string]string{"linux": srv.URL}, client, zerolog.Nop()).Push(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("sent\n%s\nwant (json.Marshal)\n%s", got, want)
	}
	if !bytes.Contains(got, []byte(`\u003cfull\u003e \u0026 \u2028`)) {
		t.Errorf("sent %s: HTML characters and U+2028 not escaped", got)
	}
}

// gatePusher accepts a push only after release, and records whether the
// push's context was cancelled meanwhile.
type gatePusher struct {
	started, release chan struct{}
	cancelled        chan bool
}

func (g gatePusher) Push(ctx context.Context, req *action.Request) (api.ActionAccepted, error) {
	close(g.started)
	<-g.release
	g.cancelled <- ctx.Err() != nil
	if err := ctx.Err(); err != nil {
		return api.ActionAccepted{}, err
	}
	return api.ActionAccepted{ExecutionID: "x-1", Status: "queued"}, nil
}

// A caller that goes away while a push is in flight does not cancel it:
// the action handler may have queued it already, so it is seen through,
// counted accepted and noted on the alert.
func TestPushOutlivesCaller(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gc.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	loader := rules.NewDir(rules.DirOptions{Dir: dir, Log: zerolog.Nop()})
	defer loader.Close()
	g := gatePusher{started: make(chan struct{}), release: make(chan struct{}), cancelled: make(chan bool, 1)}
	tk := &tickettest.Recorder{}
	c := New(Options{Rules: loader, Actions: g, Queue: "ops", Log: zerolog.Nop(),
		Now: func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }})
	c.o.Tickets.Add("OpsGenie", tk)
	ctx, cancel := context.WithCancel(context.Background())
	type answer struct {
		res *Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := c.Classify(ctx, testRequest(t).Alert)
		done <- answer{res, err}
	}()
	<-g.started
	cancel()
	close(g.release)
	if <-g.cancelled {
		t.Fatal("the push's context was cancelled with the caller's")
	}
	a := <-done
	if a.err != nil || a.res.Result != api.ResultMatched || a.res.Matched[0].ExecutionID != "x-1" {
		t.Fatalf("answer %+v, %v; want matched with the execution", a.res, a.err)
	}
	if calls := tk.Calls(); len(calls) != 1 || calls[0].Op != "note" {
		t.Errorf("write-backs %+v, want the matched note", calls)
	}

	// A caller already gone before any push: nothing is pushed.
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if _, err := c.Classify(gone, testRequest(t).Alert); !errors.Is(err, ErrUnavailable) {
		t.Errorf("caller gone before the push: %v, want ErrUnavailable", err)
	}
}
