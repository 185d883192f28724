package engine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Approvals (docs/rollout.md#approvals): an execution of a rule that
// requires approval is created awaiting_approval with its note queued
// (CreationWritebacks); a person approves it (queued: claimed like any
// other, the governor decides again at claim) or denies it (denied: its
// note and the rule's on_failure queued); nobody deciding by its
// deadline, the expiry sweep (ExpireApprovals, in the workers' loops)
// ends it expired. Every write-back goes through the store's write-back
// queue in the transaction that changes the execution.

// ApprovalStore is what approvals change (store.Store is one).
type ApprovalStore interface {
	Approve(ctx context.Context, id, by, reason string, notes ...store.Writeback) (*store.Execution, error)
	Deny(ctx context.Context, id, by, reason string, writebacks ...store.Writeback) (*store.Execution, error)
	ExpireApprovals(ctx context.Context, limit int, writebacks func(*store.Execution) []store.Writeback) ([]*store.Execution, error)
}

// ExpiryBatch is how many due approvals one sweep ends at most.
const ExpiryBatch = 50

// Approval outcomes (actionhandler_approvals_total{outcome}).
const (
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
)

// Approvals decides executions awaiting approval. Safe for concurrent use.
type Approvals struct {
	st ApprovalStore
	e  *Engine
}

// NewApprovals returns the approvals of e's executions kept in st.
func NewApprovals(st ApprovalStore, e *Engine) *Approvals { return &Approvals{st: st, e: e} }

// Describe says what x would run: each task on each host with its
// templates rendered and redacted, or refused (its error); nothing runs,
// nothing is recorded.
func (e *Engine) Describe(x *store.Execution) []store.Step {
	j := e.newJob(x)
	if j.err != nil {
		return nil
	}
	var out []store.Step
	for _, s := range e.taskSteps(j) {
		st, _ := e.describe(s, store.AwaitingApproval)
		out = append(out, st)
	}
	return out
}

// CreationWritebacks is the note of x, about to be created awaiting
// approval (x.ApprovalExpiresAt set): what would run where, how to
// approve; for store.Create to queue with it.
func (a *Approvals) CreationWritebacks(x *store.Execution) []store.Writeback {
	return a.e.o.Writeback.AwaitingWritebacks(x, a.e.Describe(x))
}

// decisionLog is the log of a decision on x by client: the execution's
// keys, client the decider.
func (a *Approvals) decisionLog(x *store.Execution, by string) zerolog.Logger {
	return a.e.log.With().Str(logging.ExecutionID, x.ID).Str(logging.AlertID, x.AlertID).
		Str(logging.UniqueValue, x.UniqueValue).Str(logging.RuleName, x.RuleName).
		Str(logging.Client, by).Str(logging.RequestedBy, x.RequestedBy).Logger()
}

// Approve approves x (as read: its alert, rule and hosts) for by (a
// token's name) because of reason: queued, its note queued. Errors as
// store.Approve (ErrNotFound, *store.ApprovalError).
func (a *Approvals) Approve(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error) {
	got, err := a.st.Approve(ctx, x.ID, by, reason, a.e.o.Writeback.ApprovedWritebacks(x, by, reason)...)
	if err != nil {
		return nil, err
	}
	a.e.o.Metrics.approval(ApprovalApproved)
	log := a.decisionLog(got, by)
	log.Info().Str(logging.Event, "execution_approved").Str(logging.Reason, ApprovalApproved).
		Str(logging.Detail, reason).Msg("execution approved: queued")
	return got, nil
}

// Deny denies x for by because of reason: denied, its note and the
// rule's on_failure queued. Errors as store.Deny.
func (a *Approvals) Deny(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error) {
	j := a.e.newJob(x)
	got, err := a.st.Deny(ctx, x.ID, by, reason, a.e.o.Writeback.DeniedWritebacks(x, j.rule(), by, reason)...)
	if err != nil {
		return nil, err
	}
	a.e.o.Metrics.approval(ApprovalDenied)
	log := a.decisionLog(got, by)
	log.Info().Str(logging.Event, "execution_denied").Str(logging.Reason, ApprovalDenied).
		Str(logging.Detail, reason).Msg("execution denied: nothing runs")
	a.e.finished(writeback.ExecutionLog(a.e.log, got), got)
	return got, nil
}

// ExpireApprovals ends the executions whose approval expired (a batch
// of ExpiryBatch at most) as expired, their note and the rule's
// on_failure queued, and returns how many: the workers' drain loop.
func (a *Approvals) ExpireApprovals(ctx context.Context) (int, error) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	xs, err := a.st.ExpireApprovals(sctx, ExpiryBatch, func(x *store.Execution) []store.Writeback {
		return a.e.o.Writeback.ExpiredWritebacks(x, a.e.newJob(x).rule())
	})
	if err != nil {
		return 0, err
	}
	for _, x := range xs {
		a.e.o.Metrics.approval(ApprovalExpired)
		log := writeback.ExecutionLog(a.e.log, x)
		log.Warn().Str(logging.Event, "approval_expired").
			Str(logging.Detail, "not approved before "+x.ApprovalExpiresAt.UTC().Format(time.RFC3339)).
			Msg("approval expired: nothing runs")
		a.e.finished(log, x)
	}
	return len(xs), nil
}

// finished logs execution_finished for an execution that ended without
// running (denied, expired) and counts it.
func (e *Engine) finished(log zerolog.Logger, x *store.Execution) {
	e.o.Metrics.execution(x.Status, 0)
	log.Warn().Str(logging.Event, "execution_finished").Str(logging.ActionStatus, x.Status).
		Int(logging.Count, len(x.Entities)).Int(logging.Succeeded, 0).Int(logging.Failed, 0).
		Str(logging.Detail, x.Reason).Msg("execution finished")
}

// MaxDecisionReason bounds an approval's or a denial's reason.
const MaxDecisionReason = 500

// DecisionReason checks the reason of an approval or a denial (trimmed);
// the error is the message of the 400 (also the console's).
func DecisionReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", errors.New("reason: required (why it may run, or why not)")
	case len(reason) > MaxDecisionReason:
		return "", errors.New("reason: longer than " + strconv.Itoa(MaxDecisionReason) + " bytes")
	case strings.ContainsFunc(reason, unicode.IsControl):
		return "", errors.New("reason: must not contain control characters")
	}
	return reason, nil
}

// RefusedError says why a token may not decide an execution (a 403).
type RefusedError struct{ Why string }

func (e *RefusedError) Error() string { return e.Why }

// Decidable reads execution id from st for a decision by the token named
// by (approve: approving, else denying), as the API and the console do
// before Approve or Deny: store.ErrNotFound; a *store.ApprovalError when
// it does not wait for approval; a *RefusedError when by may not decide
// it (DecisionRefusal); otherwise the execution. The store decides again
// (a race, an expiry since).
func Decidable(ctx context.Context, st interface {
	Get(ctx context.Context, id string) (*store.Execution, error)
}, id, by string, approve bool) (*store.Execution, error) {
	x, err := st.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if x.Status != store.AwaitingApproval {
		return nil, &store.ApprovalError{Status: x.Status, Expired: x.Status == store.Expired}
	}
	if why := DecisionRefusal(x, by, approve); why != "" {
		return nil, &RefusedError{Why: why}
	}
	return x, nil
}

// DecisionRefusal says why the token named by may not decide x (approve:
// approving, else denying), "" when it may: not one of its rule's
// approval.approvers, or approving what its own token requested.
func DecisionRefusal(x *store.Execution, by string, approve bool) string {
	req, err := action.Decode(x.Request)
	if err != nil {
		return "the execution's stored request cannot be read, so its approvers are unknown"
	}
	if !req.Rule.Approval.MayApprove(by) {
		return "token " + strconv.Quote(by) + " is not one of rule " + strconv.Quote(x.RuleName) + "'s approval.approvers"
	}
	if approve && (by == x.Client || by == x.RequestedBy) {
		return "token " + strconv.Quote(by) + " requested this execution: someone else must approve it"
	}
	return ""
}
