package store

// Verification (docs/rollout.md): an execution whose rule has a verify
// check ends verifying when its tasks succeeded; the check is due at
// verify_at, claimed by one replica at a time (verify_lease), and ends the
// execution remediated or ineffective (verified_at).
//
// Life of a verified execution, after Claim:
//
//	FinishVerifying     verifying (verify_at = now + after; steps recorded)
//	Reported                      (the "fix applied, verifying at T" note)
//	ClaimVerifications            (due, reported: owner and verify_lease set)
//	EndVerification     remediated | ineffective (verified_at; the verify
//	                    steps recorded; reported_at cleared and the owner
//	                    leased, so the verdict is written back exactly as
//	                    an ended execution is, by Recover if this replica
//	                    dies before Reported)
//	Reported
//
// A replica that dies holding a verification loses it when verify_lease
// passes (another replica claims it again), or at once when it restarts
// under the same name (ExpireLeases).

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// schemaVerify is verification's part of migration 9.
const schemaVerify = `
	ALTER TABLE executions ADD COLUMN verify_at BIGINT;
	ALTER TABLE executions ADD COLUMN verify_lease BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE executions ADD COLUMN verified_at BIGINT;
	CREATE INDEX executions_verify ON executions (verify_at) WHERE verified_at IS NULL;`

// VerifyTaskIndex is the TaskIndex of a verify step: the rule's verify
// task run on one host. It sorts after the execution's tasks (Get).
const VerifyTaskIndex = -1

var verifyTaskIndexSQL = strconv.Itoa(VerifyTaskIndex)

// IsVerifyStep says whether st is a verify step, not one of the rule's
// tasks.
func IsVerifyStep(st Step) bool { return st.TaskIndex == VerifyTaskIndex }

// FinishVerifying ends a running execution owner holds as verifying, its
// verification due after from now, recording steps as Finish does; all
// in one transaction, so a verifying execution always has its verify_at.
func (s *SQL) FinishVerifying(ctx context.Context, id, owner string, after time.Duration, steps ...Step) error {
	if after <= 0 {
		return fmt.Errorf("store: finish verifying: after must be positive, got %s", after)
	}
	return s.finish(ctx, id, owner, Verifying, "", after, steps)
}

// ClaimVerifications leases up to limit due verifications to owner for
// lease and returns them with their steps: each verifying execution
// already written back (reported) whose verify_at has come goes to one
// replica at a time; one not ended within lease (its replica died) is
// due again then.
func (s *SQL) ClaimVerifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]*Execution, error) {
	now := micros(s.now())
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: claim verifications: %w", err)
	}
	defer tx.Rollback()
	// One statement claims, as ClaimEscalations does: the outer condition
	// is checked again after any wait for a row another claim locked.
	ids, err := tx.ids(ctx, (`UPDATE executions SET owner = $3, verify_lease = $4
		WHERE status = $5 AND verified_at IS NULL AND reported_at IS NOT NULL
		AND verify_at <= $1 AND verify_lease <= $1 AND id IN (
			SELECT id FROM executions WHERE status = $5 AND verified_at IS NULL AND reported_at IS NOT NULL
			AND verify_at <= $1 AND verify_lease <= $1
			ORDER BY verify_at, id LIMIT $2` + s.d.skipLocked + `)
		RETURNING id`), now, limit, owner, now+lease.Microseconds(), Verifying)
	if err != nil {
		return nil, fmt.Errorf("store: claim verifications: %w", err)
	}
	var out []*Execution
	for _, id := range ids {
		x, err := s.get(ctx, tx, id, true)
		if err != nil {
			return nil, fmt.Errorf("store: claim verifications: %w", err)
		}
		out = append(out, x)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: claim verifications: commit: %w", err)
	}
	return out, nil
}

// EndVerification ends the verification owner holds (ClaimVerifications)
// of execution id: status Remediated or Ineffective, reason why, steps
// (TaskIndex VerifyTaskIndex) recorded, verified_at set; in the same
// transaction the execution is opened for its write-back again (reported_at
// cleared, owner's lease until the verification's), so the verdict is
// written back and Reported like any ended execution. ErrLeaseLost when
// owner does not hold it (its lease passed and another replica took it).
func (s *SQL) EndVerification(ctx context.Context, id, owner, status, reason string, steps ...Step) error {
	if status != Remediated && status != Ineffective {
		return fmt.Errorf("store: end verification: status %q: want %s or %s", status, Remediated, Ineffective)
	}
	for _, st := range steps {
		if !IsVerifyStep(st) {
			return fmt.Errorf("store: end verification: step of task %d is not a verify step", st.TaskIndex)
		}
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: end verification: %w", err)
	}
	defer tx.Rollback()
	now := micros(s.now())
	res, err := tx.exec(ctx, (`UPDATE executions SET status = $1, reason = $2, verified_at = $3,
		reported_at = NULL, lease_until = verify_lease, verify_lease = 0
		WHERE id = $4 AND owner = $5 AND status = $6 AND verified_at IS NULL AND verify_lease > $3`),
		status, reason, now, id, owner, Verifying)
	if err := s.owned(res, err, "end verification"); err != nil {
		return err
	}
	for _, st := range steps {
		if err := s.saveStep(ctx, tx, id, st); err != nil {
			return fmt.Errorf("store: end verification: step: %w", err)
		}
	}
	if err := s.executionChanged(ctx, tx, id); err != nil {
		return fmt.Errorf("store: end verification: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: end verification: commit: %w", err)
	}
	return nil
}

// expireVerifyLeases ends the verification leases owner ("": every
// owner) holds (ExpireLeases): a restarted replica verifies at once what
// it was verifying when it stopped.
func (s *SQL) expireVerifyLeases(ctx context.Context, owner string) error {
	q := `UPDATE executions SET verify_lease = 0 WHERE status = $1 AND verified_at IS NULL AND verify_lease > 0`
	args := []any{Verifying}
	if owner != "" {
		q += ` AND owner = $2`
		args = append(args, owner)
	}
	if _, err := s.dbExec(ctx, (q), args...); err != nil {
		return fmt.Errorf("store: expire verification leases: %w", err)
	}
	return nil
}
