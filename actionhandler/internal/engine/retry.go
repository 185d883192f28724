package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// Write-back retries (docs/actionhandler.md, "Write-back retries"): an
// operation on an alert (a note, a team, a close, an escalation) that
// failed in a way trying again may cure (no answer, 408, 425, 429, 5xx) is
// recorded in the store and tried again by any replica, after
// WritebackRetryDelay, doubling up to MaxWritebackRetryDelay, until it
// succeeds or WritebackAttempts tries were made. A try whose answer was
// lost may have landed: a retried note can then appear twice, which is
// better than an outcome nobody sees.

// Write-back retry defaults.
const (
	DefaultWritebackAttempts   = 10
	DefaultWritebackRetryDelay = 30 * time.Second
	MaxWritebackRetryDelay     = 30 * time.Minute
	// writebackBatch is how many due retries one replica claims at once;
	// they are leased for as long as trying them all one after the other
	// may take, so no other replica tries them meanwhile.
	writebackBatch = 10
)

// failedOp is a write-back operation that failed, and why.
type failedOp struct {
	op  ticket.Op
	err error
}

// queueRetries records the operations on x's alert that failed and may
// succeed later, for another try.
func (e *Engine) queueRetries(ctx context.Context, log zerolog.Logger, x *store.Execution, failed []failedOp) {
	if e.o.WritebackAttempts <= 1 {
		return
	}
	delay := e.retryDelay(1)
	var ws []store.Writeback
	for _, f := range failed {
		if !retryable(f.err) {
			continue
		}
		b, err := json.Marshal(f.op)
		if err != nil {
			continue
		}
		ws = append(ws, store.Writeback{ID: rand.Text(), ExecutionID: x.ID, FeedType: x.FeedType, FeedName: x.FeedName,
			AlertID: x.AlertID, Op: b, Attempts: 1, LastError: e.o.Redact.String(f.err.Error()),
			NextAt: time.Now().Add(delay)})
	}
	if len(ws) == 0 {
		return
	}
	// The write-back's context may have run out on the failures themselves.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.o.Store.QueueWritebacks(sctx, ws); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot record the failed write-backs for another try")
		return
	}
	log.Warn().Str(logging.Event, "writeback_retry_scheduled").Int(logging.Count, len(ws)).
		Int64(logging.DelayMS, delay.Milliseconds()).Msg("failed write-backs will be tried again")
}

// RetryWritebacks claims due write-back retries and tries each once more.
// It returns how many it claimed.
func (e *Engine) RetryWritebacks(ctx context.Context) (int, error) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	lease := writebackBatch*(e.o.WritebackTimeout+storeTimeout) + storeTimeout
	ws, err := e.o.Store.ClaimWritebacks(sctx, e.o.Owner, lease, writebackBatch)
	cancel()
	if err != nil {
		return 0, err
	}
	for _, w := range ws {
		e.retryWriteback(ctx, w)
	}
	return len(ws), nil
}

func (e *Engine) retryWriteback(ctx context.Context, w store.Writeback) {
	log := e.log.With().Str(logging.ExecutionID, w.ExecutionID).Str(logging.AlertID, w.AlertID).
		Str(logging.FeedType, w.FeedType).Str(logging.FeedName, w.FeedName).Logger()
	attempt := w.Attempts + 1
	var op ticket.Op
	err := json.Unmarshal(w.Op, &op)
	if err == nil {
		tk, ok := e.o.Tickets.ForFeed(w.FeedType, w.FeedName)
		if !ok {
			err = errors.New("no ticket system configured for this feed any more")
		} else {
			octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.o.WritebackTimeout)
			err = ticket.Do(octx, tk, w.AlertID, op)
			cancel()
			if err == nil {
				log.Info().Str(logging.Event, "writeback_done").Int(logging.Count, attempt).
					Msg(e.o.Redact.String(logging.Trim(op.String(), 200)) + " (tried again)")
			}
		}
	}
	var retryAt time.Time
	switch {
	case err == nil:
	case retryable(err) && attempt < e.o.WritebackAttempts:
		d := e.retryDelay(attempt)
		retryAt = time.Now().Add(d)
		log.Warn().Str(logging.Event, "writeback_failed").Int(logging.Count, attempt).Int64(logging.DelayMS, d.Milliseconds()).
			Str(logging.ErrorKey, e.o.Redact.String(err.Error())).Msg(op.String() + " failed again; will try again")
	default:
		log.Error().Str(logging.Event, "writeback_abandoned").Int(logging.Count, attempt).
			Str(logging.ErrorKey, e.o.Redact.String(err.Error())).Msg(op.String() + ": giving up")
	}
	msg := ""
	if err != nil {
		msg = e.o.Redact.String(err.Error())
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.o.Store.EndWriteback(sctx, w.ID, e.o.Owner, retryAt, msg); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot record the write-back try")
	}
}

// retryDelay is the wait after the attempt-th failed try.
func (e *Engine) retryDelay(attempt int) time.Duration {
	d := e.o.WritebackRetryDelay
	for i := 1; i < attempt && d < MaxWritebackRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxWritebackRetryDelay)
}

// retryable reports whether trying err's operation again may succeed, as
// the ticket system said (ticket.Temporary).
func retryable(err error) bool {
	return ticket.Temporary(err)
}
