package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Approvals (docs/rollout.md): an execution whose rule requires approval
// is created awaiting_approval: not claimable, holding no host, until it
// is approved (then queued, and claimed like any other: the governor
// decides again), denied or expired (then ended and written back).

// schemaApproval is approvals' part of migration 9.
const schemaApproval = `
	ALTER TABLE executions ADD COLUMN approval_expires_at BIGINT;
	ALTER TABLE executions ADD COLUMN decided_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN decision_reason TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN decided_at BIGINT;
	CREATE INDEX executions_awaiting ON executions (approval_expires_at) WHERE status = 'awaiting_approval';`

// ApprovalError says why Approve or Deny changed nothing: the execution
// does not wait for approval (Status: where it stands), or its approval
// expired (Expired; Status still awaiting_approval until the expiry sweep
// ends it, or expired).
type ApprovalError struct {
	Status  string
	Expired bool
}

func (e *ApprovalError) Error() string {
	if e.Expired {
		return "its approval expired: nothing can be decided any more"
	}
	return "it is " + e.Status + ", not awaiting approval"
}

// ExpiredReason is the reason of an execution whose approval expired.
const ExpiredReason = "nobody approved or denied it before its approval expired"

// Approve moves execution id from awaiting_approval to queued, recording
// who approved it (by, a token's name) and why, and queues notes (the
// write-backs saying so) in the same transaction. One conditional UPDATE
// decides: of two approvals (or an approval and a denial) racing, also
// on two replicas, exactly one succeeds; the other gets a *ApprovalError.
// ErrNotFound when there is no such execution. Once queued it waits for
// its hosts like any other and is claimed like any other: the governor
// decides again then.
func (s *SQL) Approve(ctx context.Context, id, by, reason string, notes ...Writeback) (*Execution, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: approve: %w", err)
	}
	defer tx.Rollback()
	// Its hosts, locked first as Create does, so that busy_hosts counts
	// exactly the running executions holding them.
	_, hosts, err := s.entityHosts(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("store: approve: %w", err)
	}
	distinct := sortedUnique(hosts)
	busy, err := s.lockHosts(ctx, tx, distinct, true)
	if err != nil {
		return nil, fmt.Errorf("store: approve: hosts: %w", err)
	}
	res, err := tx.exec(ctx, `UPDATE executions SET status = $1, busy_hosts = $2, decided_by = $3,
		decision_reason = $4, decided_at = $5
		WHERE id = $6 AND status = $7 AND approval_expires_at > $5`,
		Queued, busy, by, reason, micros(now), id, AwaitingApproval)
	if err := s.decided(ctx, tx, res, err, id, now); err != nil {
		return nil, fmt.Errorf("store: approve %s: %w", id, err)
	}
	if err := insertRows(ctx, tx, s, `INSERT INTO queue_hosts (host, execution_id) VALUES `,
		2, len(distinct), func(i int) []any { return []any{distinct[i], id} }); err != nil {
		return nil, fmt.Errorf("store: approve: queue: %w", err)
	}
	return s.endDecision(ctx, tx, id, "approve", notes)
}

// Deny ends execution id, awaiting approval, as denied (by, a token's
// name, and why recorded; reason "denied by BY: WHY") and queues its
// write-backs (the note, the investigation queue) in the same
// transaction: it is reported once they are queued. Races as Approve.
func (s *SQL) Deny(ctx context.Context, id, by, reason string, writebacks ...Writeback) (*Execution, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: deny: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `UPDATE executions SET status = $1, reason = $2, decided_by = $3,
		decision_reason = $4, decided_at = $5, finished_at = $5, reported_at = $5
		WHERE id = $6 AND status = $7 AND approval_expires_at > $5`,
		Denied, "denied by "+by+": "+reason, by, reason, micros(now), id, AwaitingApproval)
	if err := s.decided(ctx, tx, res, err, id, now); err != nil {
		return nil, fmt.Errorf("store: deny %s: %w", id, err)
	}
	return s.endDecision(ctx, tx, id, "deny", writebacks)
}

// decided checks the conditional UPDATE of a decision on id: one row, or
// ErrNotFound or a *ApprovalError saying where it stands.
func (s *SQL) decided(ctx context.Context, tx *txn, res sql.Result, err error, id string, now time.Time) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 1 {
		return nil
	}
	var status string
	var expires sql.NullInt64
	err = tx.queryRow(ctx, `SELECT status, approval_expires_at FROM executions WHERE id = $1`, id).Scan(&status, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return &ApprovalError{Status: status,
		Expired: status == Expired || (status == AwaitingApproval && expires.Valid && expires.Int64 <= micros(now))}
}

// endDecision queues ws, refreshes id's decisions and commits, returning
// the execution as it now is.
func (s *SQL) endDecision(ctx context.Context, tx *txn, id, op string, ws []Writeback) (*Execution, error) {
	if err := s.queueWritebacks(ctx, tx, ws); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.executionChanged(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	x, err := s.get(ctx, tx, id, false)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: %s: commit: %w", op, err)
	}
	return x, nil
}

// ExpireApprovals ends up to limit executions whose approval is due
// (approval_expires_at passed, nobody decided) as expired (reason
// ExpiredReason) and queues, in the same transaction, the write-backs
// writebacks gives for each (the note, the investigation queue; nil:
// none). One statement claims them: each expires once, also between
// replicas. It returns them, reported (their write-backs queued).
func (s *SQL) ExpireApprovals(ctx context.Context, limit int, writebacks func(*Execution) []Writeback) ([]*Execution, error) {
	now := micros(s.now())
	// Most sweeps find nothing due: a read (the partial index
	// executions_awaiting) spares every replica a write transaction each
	// poll.
	var one int
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT 1 FROM executions
		WHERE status = 'awaiting_approval' AND approval_expires_at <= $1 LIMIT 1`), now).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: expire approvals: %w", err)
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: expire approvals: %w", err)
	}
	defer tx.Rollback()
	ids, err := tx.ids(ctx, `UPDATE executions SET status = $1, reason = $2, finished_at = $3, reported_at = $3
		WHERE status = 'awaiting_approval' AND approval_expires_at <= $3 AND id IN (
			SELECT id FROM executions WHERE status = 'awaiting_approval' AND approval_expires_at <= $3
			ORDER BY approval_expires_at, id LIMIT $4`+s.d.skipLocked+`)
		RETURNING id`, Expired, ExpiredReason, now, limit)
	if err != nil {
		return nil, fmt.Errorf("store: expire approvals: %w", err)
	}
	slices.Sort(ids)
	var out []*Execution
	for _, id := range ids {
		x, err := s.get(ctx, tx, id, false)
		if err != nil {
			return nil, fmt.Errorf("store: expire approvals: %w", err)
		}
		if writebacks != nil {
			if err := s.queueWritebacks(ctx, tx, writebacks(x)); err != nil {
				return nil, fmt.Errorf("store: expire approvals: %w", err)
			}
		}
		if err := s.executionChanged(ctx, tx, id); err != nil {
			return nil, fmt.Errorf("store: expire approvals: %w", err)
		}
		out = append(out, x)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: expire approvals: commit: %w", err)
	}
	return out, nil
}

// CountAwaitingApproval is how many executions wait for approval (every
// replica's).
func (s *SQL) CountAwaitingApproval(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM executions WHERE status = $1`), AwaitingApproval).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count awaiting approval: %w", err)
	}
	return n, nil
}
