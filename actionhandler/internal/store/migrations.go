package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are the schema, in order; version i+1 is migrations[i]. Never
// edit an applied one: add another. The SQL is the common subset of SQLite
// and PostgreSQL (TEXT, INTEGER, BIGINT; times are Unix microseconds).
var migrations = []string{
	// 1: executions, their entities, per-host per-task steps, dedup keys.
	`CREATE TABLE executions (
		id           TEXT PRIMARY KEY,
		alert_id     TEXT NOT NULL,
		unique_value TEXT NOT NULL,
		feed_type    TEXT NOT NULL,
		feed_name    TEXT NOT NULL,
		rule_name    TEXT NOT NULL,
		client       TEXT NOT NULL,
		request      TEXT NOT NULL,
		status       TEXT NOT NULL,
		reason       TEXT NOT NULL DEFAULT '',
		owner        TEXT NOT NULL DEFAULT '',
		lease_until  BIGINT NOT NULL DEFAULT 0,
		created_at   BIGINT NOT NULL,
		started_at   BIGINT,
		finished_at  BIGINT,
		reported_at  BIGINT
	);
	CREATE INDEX executions_queue ON executions (status, created_at, id);
	CREATE INDEX executions_newest ON executions (created_at, id);
	CREATE INDEX executions_alert ON executions (alert_id);
	CREATE INDEX executions_rule_started ON executions (rule_name, started_at);
	CREATE INDEX executions_started ON executions (started_at);
	CREATE INDEX executions_unreported ON executions (lease_until) WHERE reported_at IS NULL;
	CREATE TABLE execution_entities (
		execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
		position     INTEGER NOT NULL,
		entity       TEXT NOT NULL,
		PRIMARY KEY (execution_id, position)
	);
	CREATE INDEX execution_entities_entity ON execution_entities (entity, execution_id);
	CREATE TABLE steps (
		execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
		task_index   INTEGER NOT NULL,
		position     INTEGER NOT NULL,
		entity       TEXT NOT NULL,
		task_type    TEXT NOT NULL,
		action       TEXT NOT NULL,
		command      TEXT NOT NULL,
		status       TEXT NOT NULL,
		exit_code    INTEGER NOT NULL,
		http_status  INTEGER NOT NULL,
		stdout       TEXT NOT NULL,
		stderr       TEXT NOT NULL,
		truncated    INTEGER NOT NULL,
		error        TEXT NOT NULL,
		started_at   BIGINT,
		finished_at  BIGINT,
		PRIMARY KEY (execution_id, task_index, position)
	);
	CREATE TABLE dedup (
		feed_type    TEXT NOT NULL,
		alert_id     TEXT NOT NULL,
		rule_name    TEXT NOT NULL,
		execution_id TEXT NOT NULL,
		created_at   BIGINT NOT NULL,
		PRIMARY KEY (feed_type, alert_id, rule_name)
	);
	CREATE INDEX dedup_created ON dedup (created_at);`,
	// 2: escalation timers: due at escalate_at, claimed (fired or found
	// closed) at escalated_at.
	`ALTER TABLE executions ADD COLUMN escalate_at BIGINT;
	ALTER TABLE executions ADD COLUMN escalated_at BIGINT;
	CREATE INDEX executions_escalate ON executions (escalate_at) WHERE escalated_at IS NULL;`,
	// 3: write-back operations that failed, to be tried again at next_at.
	`CREATE TABLE writeback_retries (
		id           TEXT PRIMARY KEY,
		execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
		feed_type    TEXT NOT NULL,
		feed_name    TEXT NOT NULL,
		alert_id     TEXT NOT NULL,
		op           TEXT NOT NULL,
		attempts     INTEGER NOT NULL,
		last_error   TEXT NOT NULL,
		created_at   BIGINT NOT NULL,
		next_at      BIGINT NOT NULL,
		owner        TEXT NOT NULL DEFAULT '',
		lease_until  BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX writeback_retries_due ON writeback_retries (next_at);
	CREATE INDEX writeback_retries_execution ON writeback_retries (execution_id);`,
	// 4: the remote process of a remote_ssh step while it runs (pid and
	// start time), so a replica taking over can kill what a dead one left.
	`ALTER TABLE steps ADD COLUMN remote_pid INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE steps ADD COLUMN remote_start TEXT NOT NULL DEFAULT '';`,
	// 5: the host each entity acts on (Execution.Hosts), for one execution
	// per host at a time.
	`ALTER TABLE execution_entities ADD COLUMN host TEXT NOT NULL DEFAULT '';
	UPDATE execution_entities SET host = LOWER(entity);
	CREATE INDEX execution_entities_host ON execution_entities (host, execution_id);`,
	// 6 (provenance): who asked originally (requested_by) and whether the
	// rule was unverified (adhoc: run on the client's scope adhoc).
	`ALTER TABLE executions ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN adhoc INTEGER NOT NULL DEFAULT 0;`,
	// 7 (bounded claims): what a claim needs, without reading history.
	// hosts: every host a queued or running execution acts on, with the
	// running execution holding it (NULL: free). queue_hosts: the hosts
	// of queued executions (deleted when claimed). busy_hosts: how many of
	// a queued execution's hosts are held (NULL once claimed, so that
	// PostgreSQL's statistics see how few are claimable); a claim reads
	// the oldest with none through executions_claimable. execution_entities gets the
	// rule and start time of its execution, so the governor's per-entity
	// counts read only its window (execution_entities_started).
	`CREATE TABLE hosts (
		host         TEXT PRIMARY KEY,
		execution_id TEXT
	);
	CREATE INDEX hosts_execution ON hosts (execution_id);
	CREATE TABLE queue_hosts (
		host         TEXT NOT NULL,
		execution_id TEXT NOT NULL,
		PRIMARY KEY (host, execution_id)
	);
	CREATE INDEX queue_hosts_execution ON queue_hosts (execution_id);
	ALTER TABLE executions ADD COLUMN busy_hosts INTEGER;
	CREATE INDEX executions_claimable ON executions (created_at, id) WHERE status = 'queued' AND busy_hosts = 0;
	ALTER TABLE execution_entities ADD COLUMN rule_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE execution_entities ADD COLUMN started_at BIGINT;
	UPDATE execution_entities SET
		rule_name = (SELECT x.rule_name FROM executions x WHERE x.id = execution_entities.execution_id),
		started_at = (SELECT x.started_at FROM executions x WHERE x.id = execution_entities.execution_id);
	CREATE INDEX execution_entities_started ON execution_entities (rule_name, entity, started_at);
	INSERT INTO hosts (host)
		SELECT DISTINCT e.host FROM execution_entities e JOIN executions x ON x.id = e.execution_id
		WHERE x.status IN ('queued', 'running');
	UPDATE hosts SET execution_id = (SELECT MIN(e.execution_id)
		FROM execution_entities e JOIN executions x ON x.id = e.execution_id
		WHERE e.host = hosts.host AND x.status = 'running');
	INSERT INTO queue_hosts (host, execution_id)
		SELECT DISTINCT e.host, e.execution_id FROM execution_entities e JOIN executions x ON x.id = e.execution_id
		WHERE x.status = 'queued';
	UPDATE executions SET busy_hosts = (SELECT COUNT(*) FROM queue_hosts q JOIN hosts h ON h.host = q.host
		WHERE q.execution_id = executions.id AND h.execution_id IS NOT NULL)
		WHERE status = 'queued';`,
	// 8 (decisions): what the classifier decided for each alert
	// (decision.go). decisions holds one row each (rules and matched as
	// JSON; search is the lower-cased alert id, unique value and summary
	// for the text filter). The other tables drive the timeline's filters,
	// each keyed so that one decision appears once per value and indexed
	// (value, received_at, decision_id) to walk a filter's decisions newest
	// first: decision_matches (a rule it matched), decision_hosts (an
	// entity, lower case, of an execution it caused), decision_outcomes
	// (its result and the current status of each of its executions, kept by
	// every status change). decision_executions links it to the
	// executions it caused.
	`CREATE TABLE decisions (
		id              TEXT PRIMARY KEY,
		received_at     BIGINT NOT NULL,
		recorded_at     BIGINT NOT NULL,
		feed_type       TEXT NOT NULL,
		feed_name       TEXT NOT NULL,
		alert_id        TEXT NOT NULL,
		unique_value    TEXT NOT NULL,
		summary         TEXT NOT NULL,
		result          TEXT NOT NULL,
		rules_checked   INTEGER NOT NULL,
		requested_by    TEXT NOT NULL,
		rules           TEXT NOT NULL,
		matched         TEXT NOT NULL,
		payload         TEXT,
		payload_omitted INTEGER NOT NULL,
		search          TEXT NOT NULL
	);
	CREATE INDEX decisions_newest ON decisions (received_at, id);
	CREATE INDEX decisions_feed ON decisions (feed_type, received_at, id);
	CREATE TABLE decision_matches (
		decision_id TEXT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
		rule_name   TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		PRIMARY KEY (decision_id, rule_name)
	);
	CREATE INDEX decision_matches_rule ON decision_matches (rule_name, received_at, decision_id);
	CREATE TABLE decision_executions (
		decision_id  TEXT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
		execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
		received_at  BIGINT NOT NULL,
		PRIMARY KEY (decision_id, execution_id)
	);
	CREATE INDEX decision_executions_execution ON decision_executions (execution_id);
	CREATE TABLE decision_hosts (
		decision_id TEXT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
		host        TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		PRIMARY KEY (decision_id, host)
	);
	CREATE INDEX decision_hosts_host ON decision_hosts (host, received_at, decision_id);
	CREATE TABLE decision_outcomes (
		decision_id TEXT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
		outcome     TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		PRIMARY KEY (decision_id, outcome)
	);
	CREATE INDEX decision_outcomes_outcome ON decision_outcomes (outcome, received_at, decision_id);`,
	// 9 (safe rollout): the rule's mode (audit), approvals (approval.go),
	// verification (verify.go) and the circuit breaker (breaker.go).
	`ALTER TABLE executions ADD COLUMN mode TEXT NOT NULL DEFAULT '';` +
		schemaApproval + schemaVerify + schemaBreaker,
}

// migrate brings the schema to the latest version in one transaction,
// holding the dialect's migration lock so replicas starting together apply
// each migration once. A database newer than this binary is refused.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	return migrateTo(ctx, db, d, migrations)
}

// migrateTo applies the first len(list) migrations, list being a prefix
// of migrations (tests build older schemas with it).
func migrateTo(ctx context.Context, db *sql.DB, d dialect, list []string) error {
	tx, err := d.begin(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if err := d.lock(ctx, tx, lockMigrate); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if current > len(list) {
		return fmt.Errorf("migrate: the database has schema version %d, newer than this action handler knows (%d): upgrade it", current, len(list))
	}
	for v := current + 1; v <= len(list); v++ {
		if _, err := tx.ExecContext(ctx, list[v-1]); err != nil {
			return fmt.Errorf("migrate: version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`),
			v, micros(time.Now())); err != nil {
			return fmt.Errorf("migrate: version %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return len(migrations) }
