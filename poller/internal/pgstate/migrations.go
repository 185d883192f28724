package pgstate

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema, in order; version i+1 is migrations[i]. Never
// edit an applied one: add another. Table names start with poller_ so the
// poller may share a database (and schema) with the action handler.
var migrations = []string{
	// 1: the lease and the delivered alerts.
	`CREATE TABLE poller_leader (
		name        TEXT PRIMARY KEY,
		holder      TEXT NOT NULL,
		lease_until TIMESTAMPTZ NOT NULL,
		epoch       BIGINT NOT NULL
	);
	CREATE TABLE poller_delivered (
		feed         TEXT NOT NULL,
		alert_id     TEXT NOT NULL,
		unique_value TEXT NOT NULL,
		delivered_at TIMESTAMPTZ NOT NULL,
		result       TEXT NOT NULL,
		error        TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (feed, alert_id)
	);`,
}

// lockNamespace and lockMigrate are the advisory lock of migrations:
// 0x616c6578 is "alex", the namespace of Alexis's advisory locks (the
// action handler's store uses names 1 and 2 in it).
const (
	lockNamespace = 0x616c6578
	lockMigrate   = 101
)

// migrate brings the schema to the latest version in one transaction,
// holding an advisory lock so replicas starting together apply each
// migration once. A database newer than this binary is refused.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockNamespace, lockMigrate); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS poller_schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM poller_schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: the database has poller schema version %d, newer than this poller knows (%d): upgrade it", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migrate: version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO poller_schema_migrations (version) VALUES ($1)`, v); err != nil {
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
