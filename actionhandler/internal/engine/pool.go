package engine

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pool refusals.
var (
	ErrQueueFull = errors.New("too many executions queued")
	ErrClosed    = errors.New("shutting down")
)

// Pool runs executions on a fixed number of workers, holding up to a bound
// of submitted executions in memory until a worker is free.
type Pool struct {
	run    func(ctx context.Context, x Execution)
	queue  chan Execution
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// NewPool starts workers goroutines calling run for each submitted
// execution; up to queued more wait their turn.
func NewPool(workers, queued int, run func(ctx context.Context, x Execution)) *Pool {
	ctx, cancel := context.WithCancelCause(context.Background())
	p := &Pool{run: run, queue: make(chan Execution, queued), ctx: ctx,
		cancel: func() { cancel(errors.New("service shutting down")) }}
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for x := range p.queue {
				p.run(p.ctx, x)
			}
		}()
	}
	return p
}

// Submit queues x. It never blocks: a full queue is ErrQueueFull, a pool
// shutting down ErrClosed.
func (p *Pool) Submit(x Execution) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.queue <- x:
		return nil
	default:
		return ErrQueueFull
	}
}

// Queued is how many executions wait for a worker.
func (p *Pool) Queued() int { return len(p.queue) }

// WindDown bounds how long Shutdown waits for cancelled executions to kill
// their commands and write back.
const WindDown = 30 * time.Second

// Shutdown refuses new executions and lets running and queued ones finish
// for up to grace; then cancels them (remote commands are killed and the
// executions write back as failed) and waits up to WindDown for them to
// end. It reports whether everything finished within grace.
func (p *Pool) Shutdown(grace time.Duration) bool {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		p.cancel()
		return true
	case <-t.C:
	}
	p.cancel()
	t2 := time.NewTimer(WindDown)
	defer t2.Stop()
	select {
	case <-done:
	case <-t2.C:
	}
	return false
}
