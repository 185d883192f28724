package store

// The circuit breaker (docs/rollout.md): consecutive failed or
// ineffective executions per rule (entity "") or per rule and host, and
// the pause they lead to, held here so every replica agrees.
//
// A row counts for one version of the rule, its content hash (RuleHash):
// an outcome of another version starts the count again, and a claim of
// another version resumes a pause (Counter.Paused). Every change is one
// statement on the row (an upsert, a conditional UPDATE), so replicas
// recording outcomes at once count exactly.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/gjson"
)

// schemaBreaker is the circuit breaker's part of migration 9.
const schemaBreaker = `
	CREATE TABLE rule_breakers (
		rule_name  TEXT NOT NULL,
		entity     TEXT NOT NULL,
		rule_hash  TEXT NOT NULL,
		failures   INTEGER NOT NULL,
		paused_at  BIGINT,
		reason     TEXT NOT NULL DEFAULT '',
		last_execution TEXT NOT NULL DEFAULT '',
		updated_at BIGINT NOT NULL,
		resumed_at BIGINT,
		resumed_by TEXT NOT NULL DEFAULT '',
		resume_reason TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (rule_name, entity)
	);
	CREATE INDEX rule_breakers_paused ON rule_breakers (paused_at) WHERE paused_at IS NOT NULL;`

// Breaker is the circuit breaker's state of a rule (Entity "") or of a
// rule on one host.
type Breaker struct {
	RuleName string
	Entity   string // "": the whole rule
	RuleHash string // the version of the rule counted (RuleHash)
	// Failures: consecutive failed, refused or ineffective executions.
	Failures int
	// PausedAt: when the rule was paused (zero: it runs); Reason why.
	PausedAt time.Time
	Reason   string
	// LastExecution: the execution whose outcome was counted last.
	LastExecution string
	UpdatedAt     time.Time
	// The last resume: when, by whom (a token's name, or "rule_changed")
	// and why.
	ResumedAt    time.Time
	ResumedBy    string
	ResumeReason string
}

// Paused says whether the breaker holds the rule.
func (b Breaker) Paused() bool { return !b.PausedAt.IsZero() }

// ResumedByRuleChange is the ResumedBy of a pause ended because the rule
// changed (an execution of another version was claimed).
const ResumedByRuleChange = "rule_changed"

// ErrNotPaused: Resume found no pause to end.
var ErrNotPaused = errors.New("not paused")

// RuleHash is the content hash of the rule in an action request (its
// "rule" object, keys sorted): the version of the rule the breaker
// counts for. "" when the request has no readable rule.
func RuleHash(request []byte) string {
	raw := gjson.GetBytes(request, "rule")
	if !raw.IsObject() {
		return ""
	}
	var v any
	if err := json.Unmarshal([]byte(raw.Raw), &v); err != nil {
		return ""
	}
	canon, err := json.Marshal(v) // map keys sorted: one text per content
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

const breakerColumns = `rule_name, entity, rule_hash, failures, paused_at, reason, last_execution, updated_at,
	resumed_at, resumed_by, resume_reason`

func scanBreaker(r scanner) (Breaker, error) {
	var b Breaker
	var paused, resumed sql.NullInt64
	var updated int64
	if err := r.Scan(&b.RuleName, &b.Entity, &b.RuleHash, &b.Failures, &paused, &b.Reason, &b.LastExecution,
		&updated, &resumed, &b.ResumedBy, &b.ResumeReason); err != nil {
		return b, err
	}
	b.PausedAt, b.ResumedAt, b.UpdatedAt = fromNull(paused), fromNull(resumed), fromMicros(updated)
	return b, nil
}

// RecordOutcome counts one execution's outcome for rule on entity ("":
// the whole rule) at version hash: failed adds one consecutive failure
// (one, when the row counted another version), !failed resets the count.
// A paused row of the same version is left as it is (the pause holds
// until resumed). When the count reaches pauseAfter (> 0) the row is
// paused with reason, and paused is true: for exactly one caller, also
// between replicas.
func (s *SQL) RecordOutcome(ctx context.Context, rule, entity, hash, execution string, failed bool,
	pauseAfter int, reason string) (b Breaker, paused bool, err error) {
	now := micros(s.now())
	first := 0
	if failed {
		first = 1
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return b, false, fmt.Errorf("store: record outcome: %w", err)
	}
	defer tx.Rollback()
	b, err = scanBreaker(tx.queryRow(ctx, `INSERT INTO rule_breakers
		(rule_name, entity, rule_hash, failures, last_execution, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (rule_name, entity) DO UPDATE SET
		failures = CASE
			WHEN rule_breakers.paused_at IS NOT NULL AND rule_breakers.rule_hash = excluded.rule_hash THEN rule_breakers.failures
			WHEN excluded.failures = 0 THEN 0
			WHEN rule_breakers.rule_hash = excluded.rule_hash THEN rule_breakers.failures + 1
			ELSE 1 END,
		paused_at = CASE WHEN rule_breakers.rule_hash = excluded.rule_hash THEN rule_breakers.paused_at ELSE NULL END,
		reason = CASE WHEN rule_breakers.rule_hash = excluded.rule_hash THEN rule_breakers.reason ELSE '' END,
		rule_hash = excluded.rule_hash, last_execution = excluded.last_execution, updated_at = excluded.updated_at
		RETURNING `+breakerColumns, rule, entity, hash, first, execution, now))
	if err != nil {
		return b, false, fmt.Errorf("store: record outcome: %w", err)
	}
	if pauseAfter > 0 && !b.Paused() && b.Failures >= pauseAfter {
		// Only the transaction that sees the row unpaused pauses it.
		res, err := tx.exec(ctx, `UPDATE rule_breakers SET paused_at = $1, reason = $2
			WHERE rule_name = $3 AND entity = $4 AND paused_at IS NULL`, now, reason, rule, entity)
		if err != nil {
			return b, false, fmt.Errorf("store: record outcome: pause: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return b, false, fmt.Errorf("store: record outcome: pause: %w", err)
		}
		if n == 1 {
			b.PausedAt, b.Reason, paused = fromMicros(now), reason, true
		}
	}
	if err := tx.Commit(); err != nil {
		return b, false, fmt.Errorf("store: record outcome: commit: %w", err)
	}
	return b, paused, nil
}

// Resume ends the pauses of rule: on entity, or every pause of the rule
// when entity is "*"; by (a token's name) and why are recorded. It
// returns the pauses it ended, ErrNotPaused when there was none.
func (s *SQL) Resume(ctx context.Context, rule, entity, by, why string) ([]Breaker, error) {
	q := `UPDATE rule_breakers SET paused_at = NULL, failures = 0, resumed_at = $1, resumed_by = $2,
		resume_reason = $3, updated_at = $1 WHERE rule_name = $4 AND paused_at IS NOT NULL`
	args := []any{micros(s.now()), by, why, rule}
	if entity != "*" {
		q += ` AND entity = $5`
		args = append(args, entity)
	}
	rows, err := s.dbQuery(ctx, q+` RETURNING `+breakerColumns, args...)
	if err != nil {
		return nil, fmt.Errorf("store: resume: %w", err)
	}
	defer rows.Close()
	var out []Breaker
	for rows.Next() {
		b, err := scanBreaker(rows)
		if err != nil {
			return nil, fmt.Errorf("store: resume: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: resume: %w", err)
	}
	if len(out) == 0 {
		return nil, ErrNotPaused
	}
	return out, nil
}

// MaxBreakers bounds Breakers' answer.
const MaxBreakers = 5000

// Breakers returns the breaker state of every rule (and host) counted,
// paused ones first, then by rule and entity; at most MaxBreakers.
func (s *SQL) Breakers(ctx context.Context) ([]Breaker, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT `+breakerColumns+` FROM rule_breakers
		ORDER BY CASE WHEN paused_at IS NULL THEN 1 ELSE 0 END, rule_name, entity LIMIT $1`), MaxBreakers)
	if err != nil {
		return nil, fmt.Errorf("store: breakers: %w", err)
	}
	defer rows.Close()
	var out []Breaker
	for rows.Next() {
		b, err := scanBreaker(rows)
		if err != nil {
			return nil, fmt.Errorf("store: breakers: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: breakers: %w", err)
	}
	return out, nil
}

// CountPaused is how many pauses hold (the rules_paused gauge).
func (s *SQL) CountPaused(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM rule_breakers WHERE paused_at IS NOT NULL`)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count paused: %w", err)
	}
	return n, nil
}

// Paused implements Counter: inside the claim's transaction (under the
// governor lock), the pauses that hold rule on the whole or on one of
// entities. A pause of another version than hash is ended first (the
// rule file changed: ResumedByRuleChange) and returned in resumed.
func (c counter) Paused(ctx context.Context, rule, hash string, entities []string) (paused *Breaker, resumed []Breaker, err error) {
	keys := append([]string{""}, entities...)
	args := []any{rule}
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := c.tx.query(ctx, `SELECT `+breakerColumns+` FROM rule_breakers
		WHERE rule_name = $1 AND paused_at IS NOT NULL AND entity IN (`+placeholders(2, len(keys))+`)
		ORDER BY entity`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("paused: %w", err)
	}
	var held []Breaker
	for rows.Next() {
		b, err := scanBreaker(rows)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("paused: %w", err)
		}
		held = append(held, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("paused: %w", err)
	}
	now := micros(c.s.now())
	for i := range held {
		b := held[i]
		if b.RuleHash == hash || hash == "" {
			if paused == nil {
				paused = &held[i]
			}
			continue
		}
		if _, err := c.tx.exec(ctx, `UPDATE rule_breakers SET paused_at = NULL, failures = 0, rule_hash = $1,
			resumed_at = $2, resumed_by = $3, resume_reason = $4, updated_at = $2
			WHERE rule_name = $5 AND entity = $6`,
			hash, now, ResumedByRuleChange, "the rule changed", b.RuleName, b.Entity); err != nil {
			return nil, nil, fmt.Errorf("paused: resume changed rule: %w", err)
		}
		b.PausedAt, b.Failures, b.RuleHash = time.Time{}, 0, hash
		b.ResumedAt, b.ResumedBy, b.ResumeReason = fromMicros(now), ResumedByRuleChange, "the rule changed"
		resumed = append(resumed, b)
	}
	return paused, resumed, nil
}
