package store

import (
	"context"
	"database/sql"
	"regexp"
)

// Lock names for dialect.lock.
const (
	lockMigrate = 1 // schema migrations
	lockClaim   = 2 // claiming: the host check, the governor's counts and the claim are one atomic step
)

// dialect is what differs between the back ends.
type dialect struct {
	name string
	// rebind turns the $1-style placeholders the queries are written with
	// into the driver's.
	rebind func(q string) string
	// skipLocked is appended to the claim's SELECT: other replicas' claims
	// skip rows this transaction looks at instead of waiting.
	skipLocked string
	// forUpdate is appended to SELECTs of rows this transaction updates
	// next, locking them in the SELECT's order (PostgreSQL); SQLite has one
	// writer and needs none.
	forUpdate string
	// lock takes a lock held until the transaction ends, the same for
	// every connection to the database.
	lock func(ctx context.Context, tx *sql.Tx, name int) error
	// begin starts a read-write transaction (SQLite: BEGIN IMMEDIATE, via
	// the DSN, so two writers never deadlock upgrading a read lock).
	begin func(ctx context.Context, db *sql.DB) (*sql.Tx, error)
}

var dollar = regexp.MustCompile(`\$(\d+)`)

func beginDefault(ctx context.Context, db *sql.DB) (*sql.Tx, error) { return db.BeginTx(ctx, nil) }

// sqliteDialect: one connection, so every transaction is serialised; SQLite
// numbers parameters ?N.
var sqliteDialect = dialect{
	name:   "sqlite",
	rebind: func(q string) string { return dollar.ReplaceAllString(q, "?$1") },
	lock:   func(context.Context, *sql.Tx, int) error { return nil },
	begin:  beginDefault,
}

// postgresDialect: row locks with SKIP LOCKED for claiming, transaction-
// scoped advisory locks for migrations and the governor.
var postgresDialect = dialect{
	name:       "postgres",
	rebind:     func(q string) string { return q },
	skipLocked: " FOR UPDATE SKIP LOCKED",
	forUpdate:  " FOR UPDATE",
	lock: func(ctx context.Context, tx *sql.Tx, name int) error {
		// 0x616c6578 is "alex": a namespace for Alexis's advisory locks.
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, 0x616c6578, name)
		return err
	},
	begin: beginDefault,
}
