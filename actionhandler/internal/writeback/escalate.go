package writeback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// Escalation (docs/actionhandler.md, "Escalation"): when the rule has a
// delay_escalation and the feed has a ticket system, the write-back
// schedules an escalation in the store, due delay_escalation after the
// execution finished. The escalation loop (Workers) claims due ones; if the
// alert is still open (or its ticket system cannot tell) the rule's
// on_escalation operations are applied (rule.EscalationOps), otherwise
// nothing is done. A claimed escalation is leased to its replica; if that
// replica dies before it is done, it is due again when the lease runs out.
// Its operations that fail are tried again like every write-back
// (retry.go).

// EscalationBatch bounds the escalations claimed at once (Escalations).
const EscalationBatch = 10

// statusOf returns the ticket.StatusReader for t, if its system has one.
func statusOf(t ticket.Ticket) (ticket.StatusReader, bool) {
	return ticket.StatusOf(t)
}

// escalationDelay is the delay_escalation of x's rule r, 0 when x is not
// to be escalated (none, a dry run, or no ticket system for its feed).
func (w *Writer) escalationDelay(x *store.Execution, r *rule.Rule) time.Duration {
	// verifying: after the verdict; ineffective: escalated at once (verify.go).
	if x.Status == store.DryRun || x.Status == store.Audit || x.Mode == store.Audit ||
		x.Status == store.Verifying || x.Status == store.Ineffective {
		return 0
	}
	if _, ok := w.o.Tickets.ForFeed(x.FeedType, x.FeedName); !ok {
		return 0
	}
	if r == nil {
		return 0
	}
	return r.EscalationDelay()
}

// scheduleEscalation records x's escalation timer, if it has one.
func (w *Writer) scheduleEscalation(ctx context.Context, log zerolog.Logger, x *store.Execution, r *rule.Rule) {
	d := w.escalationDelay(x, r)
	if d <= 0 {
		return
	}
	if err := w.o.Store.ScheduleEscalation(ctx, x.ID, x.Owner, d); err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot schedule the escalation")
		return
	}
	log.Info().Str(logging.Event, "escalation_scheduled").Int64(logging.DelayMS, d.Milliseconds()).
		Msg("escalation scheduled")
}

// Escalations claims the due escalations and escalates each whose alert
// is still open. It returns how many it claimed.
func (w *Writer) Escalations(ctx context.Context) (int, error) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	// Leased for as long as handling the whole batch may take.
	lease := EscalationBatch*(w.o.Timeout+storeTimeout) + storeTimeout
	xs, err := w.o.Store.ClaimEscalations(sctx, lease, EscalationBatch)
	cancel()
	if err != nil {
		return 0, err
	}
	for _, x := range xs {
		w.Escalate(ctx, x)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		if err := w.o.Store.EscalationDone(dctx, x.ID); err != nil {
			log := ExecutionLog(w.log, x)
			log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
				Msg("cannot record the escalation as handled; it will be handled again after its lease")
		}
		cancel()
	}
	return len(xs), nil
}

// Escalate escalates x (its escalation claimed) if its alert is open.
func (w *Writer) Escalate(ctx context.Context, x *store.Execution) {
	log := ExecutionLog(w.log, x)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.Timeout)
	defer cancel()
	// Decoded once, the only time for this escalation.
	req, reqErr := w.o.decode(x.Request)
	tk, ok := w.o.Tickets.ForFeed(x.FeedType, x.FeedName)
	if !ok {
		log.Info().Str(logging.Event, "escalation_skipped").Str(logging.Reason, "no ticket system for this feed").
			Msg("escalation skipped")
		return
	}
	raw, _ := w.o.Status.ForFeed(x.FeedType, x.FeedName)
	if raw == nil {
		raw = tk
	}
	if sr, ok := statusOf(raw); ok {
		open, err := sr.IsOpen(ctx, x.AlertID)
		if err != nil {
			log.Warn().Str(logging.Event, "escalation_status_unknown").Str(logging.ErrorKey, w.o.Redact.String(err.Error())).
				Msg("cannot read the alert's status; escalating as if open")
		}
		if !open {
			log.Info().Str(logging.Event, "escalation_skipped").Str(logging.Reason, "alert closed").
				Msg("alert closed: not escalating")
			return
		}
	}
	if reqErr != nil {
		log.Error().Str(logging.Event, "escalation_skipped").Str(logging.ErrorKey, reqErr.Error()).
			Msg("the stored request cannot be read")
		return
	}
	delay := req.Rule.EscalationDelay()
	note := fmt.Sprintf("Alexis: alert still open %s after remediation (execution %s); escalating.", delay, x.ID)
	ops := req.Rule.EscalationOps(note, w.o.InvestigationQueue)
	failed := 0
	var retry []failedOp
	for _, err := range ticket.Apply(ctx, tk, x.AlertID, ops) {
		var oe *ticket.OpError
		if !errors.As(err, &oe) {
			continue
		}
		failed++
		retry = append(retry, failedOp{oe.Op, oe.Err})
		log.Warn().Str(logging.Event, "writeback_failed").Str(logging.ErrorKey, w.o.Redact.String(err.Error())).
			Msg("escalation: " + oe.Op.Kind + " failed")
	}
	ev := log.Info()
	if failed > 0 {
		ev = log.Warn()
	}
	ev.Str(logging.Event, "escalation_fired").Int64(logging.DelayMS, delay.Milliseconds()).
		Int(logging.Count, len(ops)).Int(logging.Failed, failed).
		Msg("alert still open: escalated")
	w.queueRetries(ctx, log, x, retry)
}
