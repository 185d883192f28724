package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/rs/zerolog"
)

// Verification (docs/rollout.md): an execution of a rule with a verify
// check whose tasks succeeded ends verifying (VerifyStore.FinishVerifying,
// due verify.after later) and is written back with a "fix applied,
// verifying at T" note and no operation. When it is due, one replica
// claims it (Verifications, driven by the workers), runs the verify task
// on every host of the execution through the same runners (templates
// rendered with the alert; a refused value is refused, nothing runs) and,
// with alert_resolved, asks the alert's ticket system whether the alert is
// closed at its source. Everything asked must hold: the execution ends
// remediated, otherwise ineffective, and is written back again (the
// verdict's note, then on_success, or on_ineffective and the escalation)
// and told to Outcomes (the circuit breaker).

// Verification defaults.
const (
	// DefaultVerifyLease: how long a replica holds a claimed verification
	// (Options.VerifyLease). The verify run is bounded by half of it, so
	// its verdict is recorded within it.
	DefaultVerifyLease = 5 * time.Minute
	// VerifyBatch bounds the verifications claimed, and run at once, by
	// one replica at a time.
	VerifyBatch = 8
)

// VerifyStore is what verification records in (store.Store is one).
type VerifyStore interface {
	FinishVerifying(ctx context.Context, id, owner string, after time.Duration, steps ...store.Step) error
	ClaimVerifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]*store.Execution, error)
	EndVerification(ctx context.Context, id, owner, status, reason string, steps ...store.Step) error
}

// verifies says whether an execution of rule r that ended status is
// verified: its tasks succeeded and it has a verify check (and a store to
// keep it in).
func (e *Engine) verifies(r *rule.Rule, status string) bool {
	return status == store.Success && r != nil && r.Verify != nil && r.Verify.AfterDuration() > 0 && e.o.Verify != nil
}

// ClaimVerifications leases up to VerifyBatch due verifications to this
// replica.
func (e *Engine) ClaimVerifications(ctx context.Context) ([]*store.Execution, error) {
	if e.o.Verify == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return e.o.Verify.ClaimVerifications(ctx, e.o.Owner, e.o.VerifyLease, VerifyBatch)
}

// Verify runs the verification of x (claimed by this replica) and ends
// it: remediated or ineffective, recorded, written back and told to
// Outcomes. When ctx ends first (shutdown) nothing is recorded: the
// verification is done again after a restart (ExpireLeases) or, by
// another replica, once its lease passed.
func (e *Engine) Verify(ctx context.Context, x *store.Execution) {
	log := e.logFor(x)
	start := time.Now()
	log.Info().Str(logging.Event, "verification_started").Int(logging.Count, len(x.Entities)).
		Msg("verification started")
	j := e.newJob(x)
	vctx, cancel := context.WithTimeoutCause(ctx, e.o.VerifyLease/2,
		fmt.Errorf("verification took longer than %s", e.o.VerifyLease/2))
	status, reason, steps := e.verify(vctx, log, j)
	cancel()
	if ctx.Err() != nil {
		log.Warn().Str(logging.Event, "verification_interrupted").Str(logging.Reason, context.Cause(ctx).Error()).
			Msg("verification cut short: it is done again after a restart or by another replica")
		return
	}
	reason = logging.Trim(e.o.Redact.String(reason), 4000)
	bg := context.WithoutCancel(ctx)
	err := e.retryStore(bg, log, "record the verification", func(ctx context.Context) error {
		return e.o.Verify.EndVerification(ctx, x.ID, e.o.Owner, status, reason, steps...)
	})
	if err != nil {
		log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).
			Msg("cannot record the verification; it is done again once its lease passed")
		return
	}
	got := *x
	got.Status, got.Reason, got.VerifiedAt, got.Owner = status, reason, time.Now(), e.o.Owner
	got.Steps = nil
	for _, st := range x.Steps {
		if !store.IsVerifyStep(st) {
			got.Steps = append(got.Steps, st)
		}
	}
	got.Steps = append(got.Steps, steps...)
	elapsed := time.Since(start)
	e.o.Metrics.verification(status, elapsed)
	var execElapsed time.Duration
	if !x.StartedAt.IsZero() && !x.FinishedAt.IsZero() {
		execElapsed = x.FinishedAt.Sub(x.StartedAt)
	}
	e.o.Metrics.execution(status, execElapsed)
	ev := log.Info()
	if status != store.Remediated {
		ev = log.Warn()
	}
	ev.Str(logging.Event, "verification_finished").Str(logging.ActionStatus, status).
		Str(logging.Detail, reason).Int64(logging.ElapsedMS, elapsed.Milliseconds()).Msg("verification finished")
	succeeded, failed := hostCounts(&got)
	if status == store.Ineffective {
		succeeded, failed = 0, len(got.Entities)
	}
	ev = log.Info()
	if status != store.Remediated {
		ev = log.Warn()
	}
	ev.Str(logging.Event, "execution_finished").Str(logging.ActionStatus, status).Str(logging.Detail, reason).
		Int(logging.Count, len(got.Entities)).Int(logging.Succeeded, succeeded).Int(logging.Failed, failed).
		Int64(logging.ElapsedMS, execElapsed.Milliseconds()).Msg("execution finished")
	// Counted before the write-back, as in Execute.
	e.observe(ctx, &got, j.rule())
	e.report(ctx, log, j.with(&got))
}

// verify runs j's checks and returns the verdict, why, and the verify
// steps (one per host, store.VerifyTaskIndex).
func (e *Engine) verify(ctx context.Context, log zerolog.Logger, j *job) (status, reason string, steps []store.Step) {
	if j.err != nil {
		return store.Ineffective, "verification could not run: the stored request cannot be read: " + j.err.Error(), nil
	}
	v := j.req.Rule.Verify
	if v == nil {
		return store.Ineffective, "verification could not run: the rule has no verify check", nil
	}
	x := j.x
	var held, failed []string
	if v.Task != nil {
		rec := &record{id: x.ID, last: store.VerifyTaskIndex, all: map[stepKey]store.Step{}}
		sem := make(chan struct{}, e.o.Concurrency)
		var wg sync.WaitGroup
		for _, ent := range x.Entities {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s := task.Step{ExecutionID: x.ID, AlertID: x.AlertID, RuleName: x.RuleName, Index: store.VerifyTaskIndex,
					Task: *v.Task, Entity: ent, Alert: j.alert(), Request: x.Request, Secret: e.o.Secret}
				e.runStep(ctx, log, rec, s)
			})
		}
		wg.Wait()
		steps = rec.steps(x.Entities)
		for _, st := range steps {
			if st.Status == store.Success {
				continue
			}
			failed = append(failed, verifyFailure(st))
		}
		if len(failed) == 0 {
			held = append(held, fmt.Sprintf("the verify task succeeded on %s", strings.Join(x.Entities, ", ")))
		}
	}
	if v.AlertResolved {
		resolved, why := e.o.Writeback.AlertResolved(ctx, x)
		if resolved {
			held = append(held, why)
		} else {
			failed = append(failed, why)
		}
	}
	if len(failed) > 0 {
		return store.Ineffective, strings.Join(failed, "; "), steps
	}
	return store.Remediated, strings.Join(held, "; "), steps
}

// verifyFailure says why verify step st did not hold.
func verifyFailure(st store.Step) string {
	switch {
	case st.Status == store.Refused:
		return fmt.Sprintf("the verify task was refused on %s, nothing was run (%s)", st.Entity, st.Error)
	case st.ExitCode >= 0 && st.Error != "" && !strings.HasPrefix(st.Error, "exit status "):
		return fmt.Sprintf("the verify task failed on %s (exit %d: %s)", st.Entity, st.ExitCode, st.Error)
	case st.ExitCode >= 0:
		return fmt.Sprintf("the verify task failed on %s (exit %d)", st.Entity, st.ExitCode)
	case st.Error != "":
		return fmt.Sprintf("the verify task failed on %s (%s)", st.Entity, st.Error)
	}
	return fmt.Sprintf("the verify task did not succeed on %s (%s)", st.Entity, st.Status)
}
