package writeback

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
// Options.RetryDelay, doubling up to MaxRetryDelay, until it succeeds or
// Options.Attempts tries were made. A try whose answer was
// lost may have landed: a retried note can then appear twice, which is
// better than an outcome nobody sees.

// Write-back retry defaults.
const (
	DefaultAttempts   = 10
	DefaultRetryDelay = 30 * time.Second
	MaxRetryDelay     = 30 * time.Minute
	// RetryBatch is how many due retries one replica claims at once;
	// they are leased for as long as trying them all one after the other
	// may take, so no other replica tries them meanwhile.
	RetryBatch = 10
)

// failedOp is a write-back operation that failed, and why.
type failedOp struct {
	op  ticket.Op
	err error
}

// queueRetries records the operations on x's alert that failed and may
// succeed later, for another try.
func (w *Writer) queueRetries(ctx context.Context, log zerolog.Logger, x *store.Execution, failed []failedOp) {
	if w.o.Attempts <= 1 {
		return
	}
	delay := w.retryDelay(1)
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
			AlertID: x.AlertID, Op: b, Attempts: 1, LastError: w.o.Redact.String(f.err.Error()),
			NextAt: time.Now().Add(delay)})
	}
	if len(ws) == 0 {
		return
	}
	// The write-back's context may have run out on the failures themselves.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := w.o.Store.QueueWritebacks(sctx, ws); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot record the failed write-backs for another try")
		return
	}
	log.Warn().Str(logging.Event, "writeback_retry_scheduled").Int(logging.Count, len(ws)).
		Int64(logging.DelayMS, delay.Milliseconds()).Msg("failed write-backs will be tried again")
}

// RetryWritebacks claims due write-back retries and tries each once more.
// It returns how many it claimed.
func (w *Writer) RetryWritebacks(ctx context.Context) (int, error) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	lease := RetryBatch*(w.o.Timeout+storeTimeout) + storeTimeout
	ws, err := w.o.Store.ClaimWritebacks(sctx, w.o.Owner, lease, RetryBatch)
	cancel()
	if err != nil {
		return 0, err
	}
	for _, wb := range ws {
		w.retryWriteback(ctx, wb)
	}
	return len(ws), nil
}

func (w *Writer) retryWriteback(ctx context.Context, wb store.Writeback) {
	log := w.log.With().Str(logging.ExecutionID, wb.ExecutionID).Str(logging.AlertID, wb.AlertID).
		Str(logging.FeedType, wb.FeedType).Str(logging.FeedName, wb.FeedName).Logger()
	attempt := wb.Attempts + 1
	var op ticket.Op
	err := json.Unmarshal(wb.Op, &op)
	if err == nil {
		tk, ok := w.o.Tickets.ForFeed(wb.FeedType, wb.FeedName)
		if !ok {
			err = errors.New("no ticket system configured for this feed any more")
		} else {
			octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.Timeout)
			err = ticket.Do(octx, tk, wb.AlertID, op)
			cancel()
			if err == nil {
				again := " (tried again)"
				if wb.Attempts == 0 {
					again = "" // queued to be done (approval.go), not after a failure
				}
				log.Info().Str(logging.Event, "writeback_done").Int(logging.Count, attempt).
					Msg(w.o.Redact.String(logging.Trim(op.String(), 200)) + again)
			}
		}
	}
	var retryAt time.Time
	switch {
	case err == nil:
	case retryable(err) && attempt < w.o.Attempts:
		d := w.retryDelay(attempt)
		retryAt = time.Now().Add(d)
		log.Warn().Str(logging.Event, "writeback_failed").Int(logging.Count, attempt).Int64(logging.DelayMS, d.Milliseconds()).
			Str(logging.ErrorKey, w.o.Redact.String(err.Error())).Msg(op.String() + " failed again; will try again")
	default:
		log.Error().Str(logging.Event, "writeback_abandoned").Int(logging.Count, attempt).
			Str(logging.ErrorKey, w.o.Redact.String(err.Error())).Msg(op.String() + ": giving up")
	}
	msg := ""
	if err != nil {
		msg = w.o.Redact.String(err.Error())
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := w.o.Store.EndWriteback(sctx, wb.ID, w.o.Owner, retryAt, msg); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot record the write-back try")
	}
}

// retryDelay is the wait after the attempt-th failed try.
func (w *Writer) retryDelay(attempt int) time.Duration {
	d := w.o.RetryDelay
	for i := 1; i < attempt && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// retryable reports whether trying err's operation again may succeed, as
// the ticket system said (ticket.Temporary).
func retryable(err error) bool {
	return ticket.Temporary(err)
}
