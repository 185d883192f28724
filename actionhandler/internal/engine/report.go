package engine

import (
	"context"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Report writes an ended execution (x with its steps, owned by this
// replica) back onto its alert (Options.Writeback) and marks it reported.
//
// Executions that end here without running (skipped by the governor, or
// taken over as interrupted from a replica that died) get their
// execution_finished log line here, so every execution has one.
func (e *Engine) Report(ctx context.Context, x *store.Execution) {
	log := e.logFor(x)
	switch x.Status {
	case store.Skipped:
		log.Warn().Str(logging.Event, "execution_skipped").Str(logging.Reason, skipWord(x.Reason)).
			Str(logging.Detail, x.Reason).Int(logging.Count, len(x.Entities)).Msg("governor refused the execution")
	case store.Interrupted:
		log.Warn().Str(logging.Event, "execution_interrupted").Str(logging.Reason, x.Reason).
			Msg("execution interrupted; reporting it on the alert")
	}
	if x.Status == store.Skipped {
		e.o.Metrics.skipped(x.Reason)
	}
	if x.Status == store.Skipped || x.Status == store.Interrupted {
		var elapsed time.Duration
		if !x.StartedAt.IsZero() && !x.FinishedAt.IsZero() {
			elapsed = x.FinishedAt.Sub(x.StartedAt)
		}
		e.o.Metrics.execution(x.Status, elapsed)
		succeeded, failed := hostCounts(x)
		ev := log.Warn().Str(logging.Event, "execution_finished").Str(logging.ActionStatus, x.Status).
			Int(logging.Count, len(x.Entities)).Int(logging.Succeeded, succeeded).Int(logging.Failed, failed)
		if x.Status == store.Skipped {
			ev = ev.Str(logging.Reason, skipWord(x.Reason)).Str(logging.Detail, x.Reason)
		}
		if !x.StartedAt.IsZero() && !x.FinishedAt.IsZero() {
			ev = ev.Int64(logging.ElapsedMS, x.FinishedAt.Sub(x.StartedAt).Milliseconds())
		}
		ev.Msg("execution finished")
	}
	e.report(ctx, log, e.newJob(x))
}

// report writes j's execution back with the rule the job decoded and
// marks it reported, all within write-back's bound (Writer.Bound).
func (e *Engine) report(ctx context.Context, log zerolog.Logger, j *job) {
	ctx, cancel := e.o.Writeback.Bound(ctx)
	defer cancel()
	x := j.x
	e.o.Writeback.Report(ctx, log, x, j.rule())
	// Tried again while the store refuses: an execution written back but
	// not marked reported would be written back again after a takeover.
	if err := e.retryStore(ctx, log, "mark the execution reported", func(ctx context.Context) error {
		return e.o.Store.Reported(ctx, x.ID, x.Owner)
	}); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot mark the execution reported")
	}
}

// skipWord is the reason word of a skipped execution: rule_paused when
// the circuit breaker holds its rule (governor.PausedReason), else
// governor.
func skipWord(reason string) string {
	if strings.HasPrefix(reason, api.ReasonRulePaused+":") {
		return api.ReasonRulePaused
	}
	return logging.ReasonGovernor
}
