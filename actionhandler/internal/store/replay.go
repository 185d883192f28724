package store

import (
	"context"
	"fmt"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// Replay (docs/rollout.md#replay) reads recorded decisions back with their
// payloads and the requests of the executions they caused (the rule as it
// was executed), to re-classify them with candidate rules. It reads only.

// MaxReplayLimit is the most decisions one ReplayDecisions call returns.
const MaxReplayLimit = 10000

// ReplayFilter selects the decisions ReplayDecisions reads: received in
// [Since, Until) (zero: unbounded), the newest Limit (1 to MaxReplayLimit).
type ReplayFilter struct {
	Since, Until time.Time
	Limit        int
}

// ReplayDecision is one recorded decision with its payload (nil when it
// was omitted) and the stored request (action.Request JSON) of each
// execution it caused, by execution id.
type ReplayDecision struct {
	Decision *api.Decision
	Requests map[string][]byte
}

// ReplayDecisions returns the decisions f selects, newest first, and
// whether more were in the range than f.Limit.
func (s *SQL) ReplayDecisions(ctx context.Context, f ReplayFilter) ([]ReplayDecision, bool, error) {
	limit := f.Limit
	if limit <= 0 || limit > MaxReplayLimit {
		return nil, false, fmt.Errorf("store: replay decisions: limit %d: want 1 to %d", f.Limit, MaxReplayLimit)
	}
	var args []any
	where := ""
	add := func(cond string, v any) {
		args = append(args, v)
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += fmt.Sprintf(cond, len(args))
	}
	if !f.Since.IsZero() {
		add("d.received_at >= $%d", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("d.received_at < $%d", micros(f.Until))
	}
	args = append(args, limit+1)
	q := `SELECT ` + decisionColumns + `, d.payload FROM decisions d` + where +
		fmt.Sprintf(` ORDER BY d.received_at DESC, d.id DESC LIMIT $%d`, len(args))

	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: replay decisions: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("store: replay decisions: %w", err)
	}
	var out []ReplayDecision
	for rows.Next() {
		d, err := scanDecision(rows, true)
		if err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("store: replay decisions: %w", err)
		}
		out = append(out, ReplayDecision{Decision: d})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store: replay decisions: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}

	// The executions each caused, with their stored requests.
	byID := make(map[string]*ReplayDecision, len(out))
	for i := range out {
		byID[out[i].Decision.ID] = &out[i]
	}
	for lo := 0; lo < len(out); lo += insertBatch {
		chunk := out[lo:min(len(out), lo+insertBatch)]
		ids := make([]any, len(chunk))
		for i, rd := range chunk {
			ids[i] = rd.Decision.ID
		}
		rows, err := tx.query(ctx, `SELECT de.decision_id, x.id, x.request
			FROM decision_executions de JOIN executions x ON x.id = de.execution_id
			WHERE de.decision_id IN (`+placeholders(1, len(chunk))+`)`, ids...)
		if err != nil {
			return nil, false, fmt.Errorf("store: replay decisions: executions: %w", err)
		}
		for rows.Next() {
			var did, xid, req string
			if err := rows.Scan(&did, &xid, &req); err != nil {
				rows.Close()
				return nil, false, fmt.Errorf("store: replay decisions: executions: %w", err)
			}
			rd := byID[did]
			if rd.Requests == nil {
				rd.Requests = map[string][]byte{}
			}
			rd.Requests[xid] = []byte(req)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, false, fmt.Errorf("store: replay decisions: executions: %w", err)
		}
	}
	return out, more, tx.Commit()
}
