package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolQueuesThenRefuses(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 10)
	var ran atomic.Int32
	p := NewPool(1, 2, func(ctx context.Context, x Execution) {
		started <- x.ID
		<-release
		ran.Add(1)
	})
	if err := p.Submit(Execution{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	<-started // a is running; b and c fit in the queue, d does not
	for _, id := range []string{"b", "c"} {
		if err := p.Submit(Execution{ID: id}); err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
	}
	if err := p.Submit(Execution{ID: "d"}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("submit d: %v, want queue full", err)
	}
	close(release)
	if !p.Shutdown(time.Minute) {
		t.Fatal("shutdown did not finish within grace")
	}
	if ran.Load() != 3 {
		t.Errorf("%d executions ran, want 3 (queued ones drain on shutdown)", ran.Load())
	}
	if err := p.Submit(Execution{ID: "e"}); !errors.Is(err, ErrClosed) {
		t.Errorf("submit after shutdown: %v, want closed", err)
	}
}

func TestPoolShutdownCancelsAfterGrace(t *testing.T) {
	cancelled := make(chan error, 1)
	started := make(chan struct{})
	p := NewPool(1, 1, func(ctx context.Context, x Execution) {
		close(started)
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
	})
	if err := p.Submit(Execution{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	<-started
	if p.Shutdown(10 * time.Millisecond) {
		t.Fatal("shutdown reported a clean finish for a cancelled execution")
	}
	if err := <-cancelled; err == nil || err.Error() != "service shutting down" {
		t.Errorf("cause %v", err)
	}
}
