package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options configure a store.
type Options struct {
	// Now is the clock (tests); default time.Now. Replicas sharing a
	// database compare times written by each other: keep clocks in sync.
	Now func() time.Time
}

// SQL is the Store on a database/sql database.
type SQL struct {
	db  *sql.DB
	rdb *sql.DB // reads (Get, List): SQLite's read-only connections; else db
	// wc and rc keep SQLite's prepared statements (stmt.go) for db and
	// rdb; nil on PostgreSQL, where pgx keeps its own.
	wc, rc  *stmtCache
	d       dialect
	now     func() time.Time
	onClose func() error
	// scanWindow replaces ScanWindow when above 0 (tests).
	scanWindow int
	// onListQuery, when set, sees ListDecisions' query (tests).
	onListQuery func(q string, args []any)
}

var _ Store = (*SQL)(nil)

func newSQL(ctx context.Context, db *sql.DB, d dialect, o Options) (*SQL, error) {
	s := &SQL{db: db, rdb: db, d: d, now: o.Now}
	if d.name == "sqlite" {
		s.wc = newStmtCache(db, d.rebind)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := migrate(ctx, db, d); err != nil {
		return nil, err
	}
	return s, nil
}

// Dialect names the back end: "sqlite" or "postgres".
func (s *SQL) Dialect() string { return s.d.name }

// Close closes the database.
func (s *SQL) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	if s.onClose != nil {
		err = errors.Join(err, s.onClose())
	}
	return err
}

// q rebinds a query for the dialect.
func (s *SQL) q(query string) string { return s.d.rebind(query) }

// Counted statuses: executions that touched (or may have touched) hosts.
const countedStatuses = `('running', 'success', 'failure', 'interrupted', 'refused', 'verifying', 'remediated', 'ineffective')`

const execColumns = `id, alert_id, unique_value, feed_type, feed_name, rule_name, client, request,
	status, reason, owner, created_at, started_at, finished_at, reported_at, escalate_at, escalated_at,
	requested_by, adhoc, mode, approval_expires_at, decided_by, decision_reason, decided_at, verify_at, verified_at`

func (s *SQL) Create(ctx context.Context, x *Execution, window time.Duration) (*Execution, bool, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: create: %w", err)
	}
	defer tx.Rollback()
	// One statement decides, under the primary key's lock: insert the key,
	// or take it over when its execution is older than the window. A
	// concurrent transaction with the same key waits for this one and then
	// sees the fresh row, so it returns nothing and reads the winner.
	var id string
	err = tx.queryRow(ctx, (`INSERT INTO dedup (feed_type, alert_id, rule_name, execution_id, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (feed_type, alert_id, rule_name) DO UPDATE
		SET execution_id = excluded.execution_id, created_at = excluded.created_at
		WHERE dedup.created_at <= $6
		RETURNING execution_id`),
		x.FeedType, x.AlertID, x.RuleName, x.ID, micros(now), micros(now.Add(-window))).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		if err := tx.queryRow(ctx, (`SELECT execution_id FROM dedup
			WHERE feed_type = $1 AND alert_id = $2 AND rule_name = $3`),
			x.FeedType, x.AlertID, x.RuleName).Scan(&id); err != nil {
			return nil, false, fmt.Errorf("store: create: read duplicate: %w", err)
		}
		got, err := s.get(ctx, tx, id, false)
		if err != nil {
			return nil, false, fmt.Errorf("store: create: read duplicate %s: %w", id, err)
		}
		return got, false, tx.Commit()
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: create: dedup: %w", err)
	}
	hosts := make([]string, len(x.Entities))
	for i, e := range x.Entities {
		hosts[i] = strings.ToLower(strings.TrimSpace(e))
		if i < len(x.Hosts) && x.Hosts[i] != "" {
			hosts[i] = x.Hosts[i]
		}
	}
	distinct := sortedUnique(hosts)
	status, expires := Queued, sql.NullInt64{}
	if x.Mode == Audit {
		distinct = nil // audit.go: an audit execution waits for no host
	} else if !x.ApprovalExpiresAt.IsZero() {
		// approval.go: it waits for no host until approved.
		status, expires, distinct = AwaitingApproval, nullMicros(x.ApprovalExpiresAt), nil
	}
	// The hosts' rows, locked (PostgreSQL) so that a claim taking one or a
	// finish releasing one waits for this transaction and then counts
	// this execution among those waiting: busy_hosts stays exact.
	busy, err := s.lockHosts(ctx, tx, distinct, true)
	if err != nil {
		return nil, false, fmt.Errorf("store: create: hosts: %w", err)
	}
	if _, err := tx.exec(ctx, (`INSERT INTO executions
		(id, alert_id, unique_value, feed_type, feed_name, rule_name, client, request, status, created_at,
		requested_by, adhoc, busy_hosts, mode, approval_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`),
		x.ID, x.AlertID, x.UniqueValue, x.FeedType, x.FeedName, x.RuleName, x.Client, string(x.Request),
		status, micros(now), x.RequestedBy, boolInt(x.AdHoc), busy, x.Mode, expires); err != nil {
		return nil, false, fmt.Errorf("store: create: %w", err)
	}
	if err := insertRows(ctx, tx, s, `INSERT INTO execution_entities (execution_id, position, entity, host, rule_name) VALUES `,
		5, len(x.Entities), func(i int) []any { return []any{x.ID, i, x.Entities[i], hosts[i], x.RuleName} }); err != nil {
		return nil, false, fmt.Errorf("store: create: entities: %w", err)
	}
	if err := insertRows(ctx, tx, s, `INSERT INTO queue_hosts (host, execution_id) VALUES `,
		2, len(distinct), func(i int) []any { return []any{distinct[i], x.ID} }); err != nil {
		return nil, false, fmt.Errorf("store: create: queue: %w", err)
	}
	if err := s.queueWritebacks(ctx, tx, x.Writebacks); err != nil {
		return nil, false, fmt.Errorf("store: create: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("store: create: commit: %w", err)
	}
	out := *x
	out.Status, out.CreatedAt, out.Steps, out.Writebacks = status, fromMicros(micros(now)), nil, nil
	out.ApprovalExpiresAt = fromNull(expires)
	out.Entities = append([]string(nil), x.Entities...)
	return &out, true, nil
}

func (s *SQL) CountQueued(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM executions WHERE status = $1`), Queued).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count queued: %w", err)
	}
	return n, nil
}

func (s *SQL) Claim(ctx context.Context, owner string, lease time.Duration, admit Admit) (*Execution, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: claim: %w", err)
	}
	defer tx.Rollback()
	// Choosing, counting and claiming happen under one lock across
	// replicas, so two claims never both see room for one more under the
	// governor. The work under it does not grow with history: the head
	// of the claimable queue (an index), its entities and hosts (primary
	// keys), the governor's counts (their windows), and the queued
	// executions waiting for the hosts it takes.
	if err := s.d.lock(ctx, tx.Tx, lockClaim); err != nil {
		return nil, fmt.Errorf("store: claim: lock: %w", err)
	}
	var x *Execution
	var hosts []string
	for try := 0; ; try++ {
		// The oldest queued execution none of whose hosts a running
		// execution holds (busy_hosts, kept by Create, Claim, Finish and
		// Recover): one execution at a time per host, across replicas. A
		// dead replica's running execution holds its hosts until Recover
		// marks it interrupted. The literals let both back ends use the
		// partial index executions_claimable.
		x, err = scanExecution(tx.queryRow(ctx, s.claimQuery()+s.d.skipLocked))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, tx.Commit()
		}
		if err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		var all []string
		if x.Entities, all, err = s.entityHosts(ctx, tx, x.ID); err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		hosts = sortedUnique(all)
		if x.Mode == Audit {
			hosts = nil // audit.go: it neither waits for nor holds a host
		}
		busy, err := s.lockHosts(ctx, tx, hosts, false)
		if err != nil {
			return nil, fmt.Errorf("store: claim: hosts: %w", err)
		}
		if busy == 0 {
			break
		}
		// Its count was wrong (a database written by hand?): mend it and
		// look again, a bounded number of times.
		if _, err := tx.exec(ctx, (`UPDATE executions SET busy_hosts = $1 WHERE id = $2`), busy, x.ID); err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		if try >= 8 {
			return nil, tx.Commit()
		}
	}
	reason := ""
	if admit != nil {
		if reason, err = admit(ctx, counter{s, tx}, x); err != nil {
			return nil, fmt.Errorf("store: claim: governor: %w", err)
		}
	}
	if x.Mode == Audit {
		x.Reason, reason = AuditVerdict(reason), "" // recorded, not enforced
	}
	now := s.now()
	x.Owner = owner
	if _, err := tx.exec(ctx, (`DELETE FROM queue_hosts WHERE execution_id = $1`), x.ID); err != nil {
		return nil, fmt.Errorf("store: claim: %w", err)
	}
	if reason != "" {
		x.Status, x.Reason, x.FinishedAt = Skipped, reason, fromMicros(micros(now))
		_, err = tx.exec(ctx, (`UPDATE executions SET status = $1, reason = $2, owner = $3, busy_hosts = NULL,
			lease_until = $4, finished_at = $5 WHERE id = $6`),
			Skipped, reason, owner, micros(now.Add(lease)), micros(now), x.ID)
		if err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
	} else {
		x.Status, x.StartedAt = Running, fromMicros(micros(now))
		if _, err := tx.exec(ctx, (`UPDATE executions SET status = $1, owner = $2, lease_until = $3,
			started_at = $4, busy_hosts = NULL, reason = $5 WHERE id = $6`),
			Running, owner, micros(now.Add(lease)), micros(now), x.Reason, x.ID); err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		if _, err := tx.exec(ctx, (`UPDATE execution_entities SET started_at = $1 WHERE execution_id = $2`),
			micros(now), x.ID); err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		if err := s.holdHosts(ctx, tx, x.ID, hosts); err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
	}
	if err := s.executionChanged(ctx, tx, x.ID); err != nil {
		return nil, fmt.Errorf("store: claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: claim: commit: %w", err)
	}
	return x, nil
}

// claimQuery reads the head of the claimable queue.
const claimQuery = `SELECT ` + execColumns + ` FROM executions{{executions_claimable}}
	WHERE status = 'queued' AND busy_hosts = 0
	ORDER BY created_at, id LIMIT 1`

func (s *SQL) claimQuery() string { return s.hint(claimQuery) }

// hint replaces {{index}} in q by SQLite's INDEXED BY index (SQLite has
// no statistics to choose by, unless ANALYZE ran), by nothing on
// PostgreSQL.
func (s *SQL) hint(q string) string {
	for {
		i := strings.Index(q, "{{")
		if i < 0 {
			return q
		}
		j := strings.Index(q[i:], "}}")
		h := ""
		if s.d.name == "sqlite" {
			h = " INDEXED BY " + q[i+2:i+j]
		}
		q = q[:i] + h + q[i+j+2:]
	}
}

// sortedUnique returns the distinct values of v, sorted (the order every
// transaction locks hosts in, so none deadlocks another).
func sortedUnique(v []string) []string {
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}

// placeholders is "$from, $from+1, ..." for n parameters.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

// insertBatch is how many rows one INSERT writes at most (well under
// either back end's limit on parameters).
const insertBatch = 200

// insertRows runs prefix with n rows of width values each (row(i)), in
// as few statements as insertBatch allows.
func insertRows(ctx context.Context, tx *txn, s *SQL, prefix string, width, n int, row func(i int) []any) error {
	for lo := 0; lo < n; lo += insertBatch {
		hi := min(n, lo+insertBatch)
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, (hi-lo)*width)
		for i := lo; i < hi; i++ {
			if i > lo {
				b.WriteString(", ")
			}
			b.WriteString("(" + placeholders(len(args)+1, width) + ")")
			args = append(args, row(i)...)
		}
		if _, err := tx.exec(ctx, (b.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

// lockHosts locks the rows of hosts (sorted, distinct) for the rest of
// the transaction, creating missing ones when create is set, and counts
// those a running execution holds.
func (s *SQL) lockHosts(ctx context.Context, tx *txn, hosts []string, create bool) (busy int, err error) {
	if len(hosts) == 0 {
		return 0, nil
	}
	args := make([]any, len(hosts))
	for i, h := range hosts {
		args[i] = h
	}
	if create {
		if _, err := tx.exec(ctx, (`INSERT INTO hosts (host) VALUES (` +
			strings.ReplaceAll(placeholders(1, len(hosts)), ", ", "), (") + `) ON CONFLICT (host) DO NOTHING`), args...); err != nil {
			return 0, err
		}
	}
	rows, err := tx.query(ctx, (`SELECT execution_id FROM hosts WHERE host IN (` +
		placeholders(1, len(hosts)) + `) ORDER BY host` + s.d.forUpdate), args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var holder sql.NullString
		if err := rows.Scan(&holder); err != nil {
			return 0, err
		}
		if holder.Valid {
			busy++
		}
	}
	return busy, rows.Err()
}

// holdHosts marks hosts (locked, free) held by execution id and counts
// them busy for the queued executions waiting on them.
func (s *SQL) holdHosts(ctx context.Context, tx *txn, id string, hosts []string) error {
	if len(hosts) == 0 {
		return nil
	}
	args := []any{id}
	for _, h := range hosts {
		args = append(args, h)
	}
	in := placeholders(2, len(hosts))
	if _, err := tx.exec(ctx, (`UPDATE hosts SET execution_id = $1 WHERE host IN (` + in + `)`), args...); err != nil {
		return fmt.Errorf("hold hosts: %w", err)
	}
	return s.addBusy(ctx, tx, "+", hosts)
}

// releaseHosts frees the hosts execution id holds (none: nothing to do)
// and counts them free for the queued executions waiting on them.
func (s *SQL) releaseHosts(ctx context.Context, tx *txn, id string) error {
	rows, err := tx.query(ctx, (`SELECT host FROM hosts WHERE execution_id = $1 ORDER BY host` + s.d.forUpdate), id)
	if err != nil {
		return fmt.Errorf("release hosts: %w", err)
	}
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return fmt.Errorf("release hosts: %w", err)
		}
		hosts = append(hosts, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("release hosts: %w", err)
	}
	if len(hosts) == 0 {
		return nil
	}
	if _, err := tx.exec(ctx, (`UPDATE hosts SET execution_id = NULL WHERE execution_id = $1`), id); err != nil {
		return fmt.Errorf("release hosts: %w", err)
	}
	return s.addBusy(ctx, tx, "-", hosts)
}

// addBusy adds (op "+") or takes (op "-") one from busy_hosts of the
// queued executions for each of hosts they wait on. Their rows are
// locked in id order first (PostgreSQL), so a claim and a finish doing
// this at once never deadlock. The work is the queued executions on
// these hosts, never their history.
func (s *SQL) addBusy(ctx context.Context, tx *txn, op string, hosts []string) error {
	args := make([]any, len(hosts))
	for i, h := range hosts {
		args[i] = h
	}
	in := placeholders(1, len(hosts))
	waiting := `SELECT execution_id FROM queue_hosts WHERE host IN (` + in + `)`
	if s.d.forUpdate != "" {
		rows, err := tx.query(ctx, (`SELECT id FROM executions WHERE id IN (` + waiting + `) ORDER BY id` + s.d.forUpdate), args...)
		if err != nil {
			return fmt.Errorf("lock waiting executions: %w", err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock waiting executions: %w", err)
		}
	}
	if _, err := tx.exec(ctx, (`UPDATE executions SET busy_hosts = busy_hosts ` + op + ` (
		SELECT COUNT(*) FROM queue_hosts q WHERE q.execution_id = executions.id AND q.host IN (` + in + `))
		WHERE id IN (` + waiting + `)`), args...); err != nil {
		return fmt.Errorf("count waiting executions: %w", err)
	}
	return nil
}

// entityHosts reads execution id's entities and their hosts, in order.
func (s *SQL) entityHosts(ctx context.Context, q *txn, id string) (entities, hosts []string, err error) {
	rows, err := q.query(ctx, (`SELECT entity, host FROM execution_entities
		WHERE execution_id = $1 ORDER BY position`), id)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e, h string
		if err := rows.Scan(&e, &h); err != nil {
			return nil, nil, err
		}
		entities, hosts = append(entities, e), append(hosts, h)
	}
	return entities, hosts, rows.Err()
}

// startedEntityQuery counts the executions of a rule started on an
// entity since a time. CROSS JOIN makes SQLite (no statistics) read the
// entities' window first, as PostgreSQL's planner does by itself.
const startedEntityQuery = `SELECT COUNT(*), COALESCE(MAX(started_at), 0) FROM (SELECT e.started_at
	FROM execution_entities e CROSS JOIN executions x
	WHERE x.id = e.execution_id AND e.rule_name = $1 AND e.entity = $2 AND e.started_at >= $3
	AND x.status IN ` + countedStatuses + ` AND x.mode <> 'audit' ORDER BY e.started_at DESC LIMIT $4) w`

// startedQuery counts the executions of a rule started since a time
// (executions_rule_started, newest first).
const startedQuery = `SELECT COUNT(*), COALESCE(MAX(started_at), 0) FROM (SELECT started_at FROM executions
	WHERE rule_name = $1 AND started_at >= $2 AND status IN ` + countedStatuses + ` AND mode <> 'audit'
	ORDER BY started_at DESC LIMIT $3) w`

// hostsQuery counts the hosts acted on since a time (executions_started:
// only the window's rows are read; CROSS JOIN and the hint: this plan on
// SQLite).
const hostsQuery = `SELECT COUNT(*) FROM (SELECT 1 AS one
	FROM executions x{{executions_started}} CROSS JOIN execution_entities e
	WHERE e.execution_id = x.id AND x.started_at >= $1 AND x.status IN ` + countedStatuses + ` AND x.mode <> 'audit' LIMIT $2) w`

// limit is atMost as a LIMIT: 0 is no limit.
func limit(atMost int) int {
	if atMost <= 0 {
		return math.MaxInt32
	}
	return atMost
}

// counter implements Counter inside a claim's transaction.
type counter struct {
	s  *SQL
	tx *txn
}

func (c counter) Started(ctx context.Context, rule, entity string, since time.Time, atMost int) (int, time.Time, error) {
	var n int
	var last int64
	var err error
	if entity == "" {
		err = c.tx.queryRow(ctx, (startedQuery), rule, micros(since), limit(atMost)).Scan(&n, &last)
	} else {
		// execution_entities_started: only the window's rows are read.
		err = c.tx.queryRow(ctx, (startedEntityQuery),
			rule, entity, micros(since), limit(atMost)).Scan(&n, &last)
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, fromMicros(last), nil
}

func (c counter) Hosts(ctx context.Context, since time.Time, atMost int) (int, error) {
	var n int
	err := c.tx.queryRow(ctx, (c.s.hint(hostsQuery)), micros(since), limit(atMost)).Scan(&n)
	return n, err
}

func (s *SQL) Renew(ctx context.Context, id, owner string, lease time.Duration) error {
	res, err := s.dbExec(ctx, (`UPDATE executions SET lease_until = $1
		WHERE id = $2 AND owner = $3 AND reported_at IS NULL`), micros(s.now().Add(lease)), id, owner)
	return s.owned(res, err, "renew")
}

func (s *SQL) owned(res sql.Result, err error, op string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

func (s *SQL) SaveStep(ctx context.Context, id string, st Step) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: save step: %w", err)
	}
	defer tx.Rollback()
	if err := s.saveStep(ctx, tx, id, st); err != nil {
		return fmt.Errorf("store: save step: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: save step: commit: %w", err)
	}
	return nil
}

// saveStep inserts or updates step st of execution id inside tx.
func (s *SQL) saveStep(ctx context.Context, tx *txn, id string, st Step) error {
	var pos int
	if err := tx.queryRow(ctx, (`SELECT position FROM execution_entities
		WHERE execution_id = $1 AND entity = $2`), id, st.Entity).Scan(&pos); err != nil {
		return fmt.Errorf("entity %s of %s: %w", st.Entity, id, err)
	}
	if _, err := tx.exec(ctx, (`INSERT INTO steps (execution_id, task_index, position, entity, task_type,
		action, command, status, exit_code, http_status, stdout, stderr, truncated, error, started_at, finished_at,
		remote_pid, remote_start)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (execution_id, task_index, position) DO UPDATE SET
		task_type = excluded.task_type, action = excluded.action, command = excluded.command,
		status = excluded.status, exit_code = excluded.exit_code, http_status = excluded.http_status,
		stdout = excluded.stdout, stderr = excluded.stderr, truncated = excluded.truncated,
		error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at,
		remote_pid = excluded.remote_pid, remote_start = excluded.remote_start`),
		id, st.TaskIndex, pos, st.Entity, st.TaskType, st.Action, st.Command, st.Status, st.ExitCode,
		st.HTTPStatus, st.Stdout, st.Stderr, boolInt(st.Truncated), st.Error,
		nullMicros(st.StartedAt), nullMicros(st.FinishedAt), st.RemotePID, st.RemoteStart); err != nil {
		return err
	}
	return nil
}

func (s *SQL) Finish(ctx context.Context, id, owner, status, reason string, steps ...Step) error {
	return s.finish(ctx, id, owner, status, reason, 0, steps)
}

// finish ends running execution id; verifyAfter > 0 (status Verifying)
// also sets its verification due that long after now (verify.go).
func (s *SQL) finish(ctx context.Context, id, owner, status, reason string, verifyAfter time.Duration, steps []Step) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: finish: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	var verifyAt sql.NullInt64
	if verifyAfter > 0 {
		verifyAt = nullMicros(now.Add(verifyAfter))
	}
	res, err := tx.exec(ctx, (`UPDATE executions SET status = $1, reason = $2, finished_at = $3, verify_at = $7
		WHERE id = $4 AND owner = $5 AND status = $6`), status, reason, micros(now), id, owner, Running, verifyAt)
	if err := s.owned(res, err, "finish"); err != nil {
		return err
	}
	// After the ownership check: a replica that lost the lease writes no
	// step of an execution another one took over.
	for _, st := range steps {
		if err := s.saveStep(ctx, tx, id, st); err != nil {
			return fmt.Errorf("store: finish: step: %w", err)
		}
	}
	if err := s.releaseHosts(ctx, tx, id); err != nil {
		return fmt.Errorf("store: finish: %w", err)
	}
	if err := s.executionChanged(ctx, tx, id); err != nil {
		return fmt.Errorf("store: finish: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: finish: commit: %w", err)
	}
	return nil
}

func (s *SQL) Reported(ctx context.Context, id, owner string) error {
	res, err := s.dbExec(ctx, (`UPDATE executions SET reported_at = $1, owner = '', lease_until = 0
		WHERE id = $2 AND owner = $3 AND reported_at IS NULL AND status <> $4 AND status <> $5`),
		micros(s.now()), id, owner, Queued, Running)
	return s.owned(res, err, "reported")
}

func (s *SQL) ScheduleEscalation(ctx context.Context, id, owner string, delay time.Duration) error {
	res, err := s.dbExec(ctx, (`UPDATE executions SET escalate_at = finished_at + $1
		WHERE id = $2 AND owner = $3 AND reported_at IS NULL AND finished_at IS NOT NULL`),
		delay.Microseconds(), id, owner)
	return s.owned(res, err, "schedule escalation")
}

func (s *SQL) QueueWritebacks(ctx context.Context, ws []Writeback) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: queue write-backs: %w", err)
	}
	defer tx.Rollback()
	if err := s.queueWritebacks(ctx, tx, ws); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: queue write-backs: commit: %w", err)
	}
	return nil
}

// queueWritebacks records ws inside tx.
func (s *SQL) queueWritebacks(ctx context.Context, tx *txn, ws []Writeback) error {
	now := micros(s.now())
	for _, w := range ws {
		if _, err := tx.exec(ctx, (`INSERT INTO writeback_retries (id, execution_id, feed_type,
			feed_name, alert_id, op, attempts, last_error, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`),
			w.ID, w.ExecutionID, w.FeedType, w.FeedName, w.AlertID, string(w.Op), w.Attempts, w.LastError,
			now, micros(w.NextAt)); err != nil {
			return fmt.Errorf("queue write-back %s: %w", w.ID, err)
		}
	}
	return nil
}

func (s *SQL) ClaimWritebacks(ctx context.Context, owner string, lease time.Duration, limit int) ([]Writeback, error) {
	now := s.now()
	// One statement claims, as ClaimEscalations does: each due write-back
	// goes to one replica at a time.
	rows, err := s.dbQuery(ctx, (`UPDATE writeback_retries SET owner = $1, lease_until = $2
		WHERE next_at <= $3 AND lease_until <= $3 AND id IN (
			SELECT id FROM writeback_retries WHERE next_at <= $3 AND lease_until <= $3
			ORDER BY next_at, id LIMIT $4` + s.d.skipLocked + `)
		RETURNING ` + writebackColumns),
		owner, micros(now.Add(lease)), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim write-backs: %w", err)
	}
	out, err := scanWritebacks(rows)
	if err != nil {
		return nil, fmt.Errorf("store: claim write-backs: %w", err)
	}
	slices.SortFunc(out, func(a, b Writeback) int {
		return cmp.Or(a.NextAt.Compare(b.NextAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *SQL) EndWriteback(ctx context.Context, id, owner string, retryAt time.Time, lastErr string) error {
	if retryAt.IsZero() {
		res, err := s.dbExec(ctx, (`DELETE FROM writeback_retries WHERE id = $1 AND owner = $2`), id, owner)
		return s.owned(res, err, "end write-back")
	}
	res, err := s.dbExec(ctx, (`UPDATE writeback_retries SET attempts = attempts + 1, last_error = $1,
		next_at = $2, owner = '', lease_until = 0 WHERE id = $3 AND owner = $4`),
		lastErr, micros(retryAt), id, owner)
	return s.owned(res, err, "end write-back")
}

func (s *SQL) ClaimEscalations(ctx context.Context, lease time.Duration, limit int) ([]*Execution, error) {
	now := micros(s.now())
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: claim escalations: %w", err)
	}
	defer tx.Rollback()
	// One statement claims: rows another replica's claim has locked are
	// skipped (PostgreSQL), and the outer condition is re-checked after
	// any wait, so each escalation is claimed by one replica at a time. A
	// claim moves escalate_at lease ahead: if the claimer dies before
	// EscalationDone, the escalation is due again then.
	ids, err := tx.ids(ctx, (`UPDATE executions SET escalate_at = $3
		WHERE escalated_at IS NULL AND escalate_at <= $1 AND id IN (
			SELECT id FROM executions WHERE escalated_at IS NULL AND escalate_at <= $1
			ORDER BY escalate_at, id LIMIT $2` + s.d.skipLocked + `)
		RETURNING id`), now, limit, now+lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("store: claim escalations: %w", err)
	}
	var out []*Execution
	for _, id := range ids {
		x, err := s.get(ctx, tx, id, false)
		if err != nil {
			return nil, fmt.Errorf("store: claim escalations: %w", err)
		}
		out = append(out, x)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: claim escalations: commit: %w", err)
	}
	return out, nil
}

func (s *SQL) EscalationDone(ctx context.Context, id string) error {
	res, err := s.dbExec(ctx, (`UPDATE executions SET escalated_at = $1
		WHERE id = $2 AND escalated_at IS NULL AND escalate_at IS NOT NULL`), micros(s.now()), id)
	return s.owned(res, err, "escalation done")
}

func (s *SQL) ExpireLeases(ctx context.Context, owner string) error {
	q := `UPDATE executions SET lease_until = 0 WHERE reported_at IS NULL AND status <> $1`
	args := []any{Queued}
	if owner != "" {
		q += ` AND owner = $2`
		args = append(args, owner)
	}
	if _, err := s.dbExec(ctx, (q), args...); err != nil {
		return fmt.Errorf("store: expire leases: %w", err)
	}
	return s.expireVerifyLeases(ctx, owner)
}

func (s *SQL) Recover(ctx context.Context, owner string, lease time.Duration) ([]*Execution, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	defer tx.Rollback()
	// One statement per row decides who takes it over: a concurrent
	// Recover (or Renew) on the same row waits, then re-checks the lease.
	ids, err := tx.ids(ctx, (`UPDATE executions SET
		status = CASE WHEN status = $1 THEN $2 ELSE status END,
		reason = CASE WHEN status = $1 THEN 'the action handler running it (' || owner || ') stopped before it finished' ELSE reason END,
		finished_at = COALESCE(finished_at, $3),
		owner = $4, lease_until = $5
		WHERE reported_at IS NULL AND status <> $6 AND status <> $7 AND lease_until < $3
		RETURNING id`),
		Running, Interrupted, micros(now), owner, micros(now.Add(lease)), Queued, AwaitingApproval)
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	var out []*Execution
	for _, id := range ids {
		if _, err := tx.exec(ctx, (`UPDATE steps SET status = $1, finished_at = $2, error = $3
			WHERE execution_id = $4 AND status = $5`), Interrupted, micros(now), InterruptedStepError, id, Running); err != nil {
			return nil, fmt.Errorf("store: recover: steps: %w", err)
		}
		if err := s.releaseHosts(ctx, tx, id); err != nil {
			return nil, fmt.Errorf("store: recover: %w", err)
		}
		if err := s.executionChanged(ctx, tx, id); err != nil {
			return nil, fmt.Errorf("store: recover: %w", err)
		}
		x, err := s.get(ctx, tx, id, true)
		if err != nil {
			return nil, fmt.Errorf("store: recover: %w", err)
		}
		out = append(out, x)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: recover: commit: %w", err)
	}
	return out, nil
}

func (s *SQL) Get(ctx context.Context, id string) (*Execution, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	defer tx.Rollback()
	x, err := s.get(ctx, tx, id, true)
	if err != nil {
		return nil, err
	}
	if x.Writebacks, err = s.writebacks(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	return x, tx.Commit()
}

// writebacks are the write-back retries of execution id waiting, oldest first.
func (s *SQL) writebacks(ctx context.Context, q *txn, id string) ([]Writeback, error) {
	rows, err := q.query(ctx, (`SELECT ` + writebackColumns + ` FROM writeback_retries
		WHERE execution_id = $1 ORDER BY created_at, id`), id)
	if err != nil {
		return nil, err
	}
	return scanWritebacks(rows)
}

const writebackColumns = `id, execution_id, feed_type, feed_name, alert_id, op, attempts, last_error, created_at, next_at, owner`

// scanWritebacks reads rows of writebackColumns and closes them.
func scanWritebacks(rows *sql.Rows) ([]Writeback, error) {
	defer rows.Close()
	var out []Writeback
	for rows.Next() {
		var w Writeback
		var op string
		var created, next int64
		if err := rows.Scan(&w.ID, &w.ExecutionID, &w.FeedType, &w.FeedName, &w.AlertID, &op, &w.Attempts,
			&w.LastError, &created, &next, &w.Owner); err != nil {
			return nil, err
		}
		w.Op, w.CreatedAt, w.NextAt = []byte(op), fromMicros(created), fromMicros(next)
		out = append(out, w)
	}
	return out, rows.Err()
}

func (s *SQL) get(ctx context.Context, tx *txn, id string, steps bool) (*Execution, error) {
	x, err := scanExecution(tx.queryRow(ctx, (`SELECT ` + execColumns + ` FROM executions WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	if x.Entities, err = s.entities(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	if !steps {
		return x, nil
	}
	rows, err := tx.query(ctx, (`SELECT task_index, entity, task_type, action, command, status,
		exit_code, http_status, stdout, stderr, truncated, error, started_at, finished_at, remote_pid, remote_start
		FROM steps WHERE execution_id = $1
		ORDER BY CASE WHEN task_index = ` + verifyTaskIndexSQL + ` THEN 1 ELSE 0 END, task_index, position`), id)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: steps: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st Step
		var trunc int
		var started, finished sql.NullInt64
		if err := rows.Scan(&st.TaskIndex, &st.Entity, &st.TaskType, &st.Action, &st.Command, &st.Status,
			&st.ExitCode, &st.HTTPStatus, &st.Stdout, &st.Stderr, &trunc, &st.Error, &started, &finished,
			&st.RemotePID, &st.RemoteStart); err != nil {
			return nil, fmt.Errorf("store: get %s: steps: %w", id, err)
		}
		st.Truncated = trunc != 0
		st.StartedAt, st.FinishedAt = fromNull(started), fromNull(finished)
		x.Steps = append(x.Steps, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: get %s: steps: %w", id, err)
	}
	return x, nil
}

func (s *SQL) entities(ctx context.Context, q *txn, id string) ([]string, error) {
	rows, err := q.query(ctx, (`SELECT entity FROM execution_entities
		WHERE execution_id = $1 ORDER BY position`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *SQL) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.AlertID != "" {
		where = append(where, "alert_id = "+arg(f.AlertID))
	}
	if f.RuleName != "" {
		where = append(where, "rule_name = "+arg(f.RuleName))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.Entity != "" {
		where = append(where, "EXISTS (SELECT 1 FROM execution_entities e WHERE e.execution_id = executions.id AND e.entity = "+arg(f.Entity)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+arg(micros(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+arg(micros(f.Until)))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		a, i := arg(at), arg(id)
		where = append(where, "(created_at < "+a+" OR (created_at = "+a+" AND id < "+i+"))")
	}
	q := `SELECT ` + execColumns + ` FROM executions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + arg(limit+1)

	tx, err := s.beginRead(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("store: list: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, (q), args...)
	if err != nil {
		return Page{}, fmt.Errorf("store: list: %w", err)
	}
	var page Page
	for rows.Next() {
		x, err := scanExecution(rows)
		if err != nil {
			rows.Close()
			return Page{}, fmt.Errorf("store: list: %w", err)
		}
		page.Executions = append(page.Executions, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: list: %w", err)
	}
	if len(page.Executions) > limit {
		page.Executions = page.Executions[:limit]
		last := page.Executions[limit-1]
		page.Next = encodeCursor(micros(last.CreatedAt), last.ID)
	}
	for _, x := range page.Executions {
		if x.Entities, err = s.entities(ctx, tx, x.ID); err != nil {
			return Page{}, fmt.Errorf("store: list: %w", err)
		}
	}
	return page, tx.Commit()
}

func (s *SQL) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	defer tx.Rollback()
	// A verifying execution is reported (its first write-back) but not
	// over: kept until its verification ended.
	old := `SELECT id FROM executions WHERE reported_at IS NOT NULL AND created_at < $1 AND status <> 'verifying'`
	for _, q := range []string{
		`DELETE FROM steps WHERE execution_id IN (` + old + `)`,
		`DELETE FROM writeback_retries WHERE execution_id IN (` + old + `)`,
		`DELETE FROM execution_entities WHERE execution_id IN (` + old + `)`,
		`DELETE FROM decision_executions WHERE execution_id IN (` + old + `)`,
		`DELETE FROM dedup WHERE created_at < $1`,
	} {
		if _, err := tx.exec(ctx, (q), micros(cutoff)); err != nil {
			return 0, fmt.Errorf("store: prune: %w", err)
		}
	}
	res, err := tx.exec(ctx, (`DELETE FROM executions WHERE reported_at IS NOT NULL AND created_at < $1
		AND status <> 'verifying'`), micros(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	n, _ := res.RowsAffected()
	// store.retention applies to decisions too, by when they were received.
	if _, err := s.pruneDecisions(ctx, tx, cutoff); err != nil {
		return 0, err
	}
	return int(n), tx.Commit()
}

type scanner interface {
	Scan(dest ...any) error
}

func scanExecution(r scanner) (*Execution, error) {
	var x Execution
	var request string
	var created int64
	var started, finished, reported, escalate, escalated sql.NullInt64
	var adhoc int64
	var expires, decided, verify, verified sql.NullInt64
	if err := r.Scan(&x.ID, &x.AlertID, &x.UniqueValue, &x.FeedType, &x.FeedName, &x.RuleName, &x.Client,
		&request, &x.Status, &x.Reason, &x.Owner, &created, &started, &finished, &reported,
		&escalate, &escalated, &x.RequestedBy, &adhoc,
		&x.Mode, &expires, &x.DecidedBy, &x.DecisionReason, &decided, &verify, &verified); err != nil {
		return nil, err
	}
	x.ApprovalExpiresAt, x.DecidedAt = fromNull(expires), fromNull(decided)
	x.VerifyAt, x.VerifiedAt = fromNull(verify), fromNull(verified)
	x.AdHoc = adhoc != 0
	x.Request = []byte(request)
	x.CreatedAt = fromMicros(created)
	x.StartedAt, x.FinishedAt, x.ReportedAt = fromNull(started), fromNull(finished), fromNull(reported)
	x.EscalateAt, x.EscalatedAt = fromNull(escalate), fromNull(escalated)
	return &x, nil
}

// Times are stored as Unix microseconds, UTC.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A cursor is the last row's creation time and id, opaque to clients.
func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "." + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrCursor
	}
	at, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", ErrCursor
	}
	return n, id, nil
}
