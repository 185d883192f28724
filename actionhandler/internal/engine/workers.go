package engine

import (
	"context"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Worker defaults.
const (
	DefaultPollInterval = time.Second
	// WindDown bounds how long Shutdown waits for cancelled executions to
	// kill their commands and write back.
	WindDown = 30 * time.Second
)

// Queue is where Workers take executions from: queued ones, those of
// replicas that died, and old ones to delete (store.Store is one).
type Queue interface {
	Claim(ctx context.Context, owner string, lease time.Duration, admit store.Admit) (*store.Execution, error)
	Recover(ctx context.Context, owner string, lease time.Duration) ([]*store.Execution, error)
	Prune(ctx context.Context, cutoff time.Time) (int, error)
}

// WorkerOptions configure Workers.
type WorkerOptions struct {
	Store   Queue
	Engine  *Engine
	Workers int         // executions run at once by this replica
	Admit   store.Admit // the governor
	// PollInterval is how often the store is asked for queued executions
	// (other replicas' and restarts'); Wake asks at once.
	PollInterval time.Duration
	// SweepInterval is how often expired leases are looked for (dead
	// replicas' executions); default a third of the engine's lease.
	SweepInterval time.Duration
	// Retention: reported executions older than this are deleted (checked
	// hourly); 0 keeps them.
	Retention time.Duration
	// Approvals, when set, ends executions whose approval expired
	// (approval.go), every PollInterval.
	Approvals *Approvals
	Log       zerolog.Logger
}

// Workers claim queued executions from the store and run them, take
// over the executions of replicas that died, and run the escalation and
// write-back retry loops of the engine's write-back (Options.Writeback)
// and the approval expiry sweep (WorkerOptions.Approvals).
type Workers struct {
	o      WorkerOptions
	log    zerolog.Logger
	wake   chan struct{}
	stop   chan struct{}
	ctx    context.Context // cancelled when shutdown's grace is over
	cancel context.CancelCauseFunc
	loops  sync.WaitGroup // dispatcher and sweeper
	runs   sync.WaitGroup // executions and reports
	once   sync.Once
}

// StartWorkers starts the dispatcher and the sweeper. The sweeper runs
// once at once: executions left running by a previous process whose lease
// expired (ExpireLeases beforehand for a restart of the same replica) are
// reported interrupted before anything new runs.
func StartWorkers(o WorkerOptions) *Workers {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = o.Engine.o.Lease / 3
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	w := &Workers{o: o, log: o.Log.With().Str(logging.Component, "workers").Logger(),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), ctx: ctx, cancel: cancel}
	w.sweep()
	w.loops.Add(5)
	go w.verifier()
	go w.dispatch()
	go w.sweeper()
	// Write-back's loops, for the engine's write-back.
	wb := o.Engine.o.Writeback
	go w.drain("escalations", writeback.EscalationBatch, wb.Escalations)
	go w.drain("write-back retries", writeback.RetryBatch, wb.RetryWritebacks)
	if o.Approvals != nil {
		w.loops.Add(1)
		go w.drain("approval expiries", ExpiryBatch, o.Approvals.ExpireApprovals)
	}
	return w
}

// Wake makes the dispatcher look for queued executions now.
func (w *Workers) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// dispatch claims executions while a worker slot is free.
func (w *Workers) dispatch() {
	defer w.loops.Done()
	slots := make(chan struct{}, w.o.Workers)
	for {
		select {
		case slots <- struct{}{}:
		case <-w.stop:
			return
		}
		x, err := w.claim()
		if x == nil {
			<-slots
			if err != nil {
				w.log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
					Msg("cannot claim queued executions")
			}
			select {
			case <-w.wake:
			case <-time.After(w.o.PollInterval):
			case <-w.stop:
				return
			}
			continue
		}
		w.runs.Add(1)
		go func() {
			defer func() { <-slots; w.runs.Done() }()
			if x.Status == store.Skipped {
				w.o.Engine.Report(w.ctx, x)
				return
			}
			w.o.Engine.Execute(w.ctx, x)
			// Its hosts are free: queued executions waiting for them may run.
			w.Wake()
		}()
	}
}

func (w *Workers) claim() (*store.Execution, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	e := w.o.Engine
	return w.o.Store.Claim(ctx, e.o.Owner, e.o.Lease, w.o.Admit)
}

func (w *Workers) sweeper() {
	defer w.loops.Done()
	t := time.NewTicker(w.o.SweepInterval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		w.sweep()
		if w.o.Retention > 0 && time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			w.prune()
		}
	}
}

// sweep takes over and reports executions whose owner's lease expired.
func (w *Workers) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	e := w.o.Engine
	xs, err := w.o.Store.Recover(ctx, e.o.Owner, e.o.Lease)
	if err != nil {
		w.log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot look for abandoned executions")
		return
	}
	for _, x := range xs {
		w.log.Warn().Str(logging.Event, "execution_recovered").Str(logging.ExecutionID, x.ID).
			Str(logging.ActionStatus, x.Status).Msg("took over an execution whose replica stopped")
		w.runs.Add(1)
		go func() {
			defer w.runs.Done()
			e.KillLeftovers(w.ctx, x)
			e.Report(w.ctx, x)
		}()
	}
}

// drain calls claim every PollInterval, again at once while it took a
// whole batch: the escalation and the write-back retry loops.
func (w *Workers) drain(what string, batch int, claim func(context.Context) (int, error)) {
	defer w.loops.Done()
	t := time.NewTicker(w.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		for {
			n, err := claim(w.ctx)
			if err != nil {
				w.log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
					Msg("cannot look for due " + what)
			}
			if n < batch {
				break
			}
		}
	}
}

// verifier claims due verifications every PollInterval, again at once
// while it took a whole batch, and runs each (Engine.Verify) as one of
// the runs Shutdown waits for; once stopping it claims none.
func (w *Workers) verifier() {
	defer w.loops.Done()
	t := time.NewTicker(w.o.PollInterval)
	defer t.Stop()
	e := w.o.Engine
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			xs, err := e.ClaimVerifications(w.ctx)
			if err != nil {
				w.log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
					Msg("cannot look for due verifications")
			}
			var batch sync.WaitGroup
			for _, x := range xs {
				w.runs.Add(1)
				batch.Go(func() {
					defer w.runs.Done()
					e.Verify(w.ctx, x)
				})
			}
			done := make(chan struct{})
			go func() { batch.Wait(); close(done) }()
			select {
			case <-done:
			case <-w.stop:
				return
			}
			if len(xs) < VerifyBatch {
				break
			}
		}
	}
}

func (w *Workers) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := w.o.Store.Prune(ctx, time.Now().Add(-w.o.Retention))
	if err != nil {
		w.log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).Msg("cannot prune old executions")
		return
	}
	if n > 0 {
		w.log.Info().Str(logging.Event, "executions_pruned").Int(logging.Count, n).Msg("old executions deleted")
	}
}

// Shutdown stops claiming (queued executions stay queued for the next
// start or another replica), lets running executions finish for up to
// grace, then cancels them (remote commands are killed; they end
// interrupted and are written back) and waits up to WindDown. It reports
// whether everything finished within grace.
func (w *Workers) Shutdown(grace time.Duration) bool {
	w.once.Do(func() { close(w.stop) })
	w.loops.Wait()
	done := make(chan struct{})
	go func() { w.runs.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		w.cancel(errShutdown)
		return true
	case <-t.C:
	}
	w.cancel(errShutdown)
	t2 := time.NewTimer(WindDown)
	defer t2.Stop()
	select {
	case <-done:
	case <-t2.C:
	}
	return false
}
