package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// OpenSQLite opens (creating it if needed) the SQLite database at path and
// applies the migrations. Only one process may use a database file: a lock
// file beside it (path + ".lock") enforces that, so a second action
// handler on the same file fails to start instead of corrupting leases.
//
// The database holds alert payloads and command output: it and its -wal
// and -shm files are mode 0600 whatever the umask (SQLite gives -wal and
// -shm the database file's mode; existing files are narrowed too).
func OpenSQLite(ctx context.Context, path string, o Options) (*SQL, error) {
	if path == "" {
		return nil, errors.New("store: sqlite: path required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: sqlite: %s is in use by another process (one action handler per SQLite file; share PostgreSQL between replicas)", path)
	}
	if err := privateFiles(path, true); err != nil {
		lock.Close()
		return nil, err
	}
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode: a commit is durable once the WAL is synced at
	// the next checkpoint; a crash of the process loses nothing, a power
	// loss may lose the last commits but never corrupts the database.
	v.Add("_pragma", "synchronous(NORMAL)")
	v.Add("_pragma", "foreign_keys(1)")
	// 32 MiB of page cache (SQLite's default is 2 MiB): the indexes a
	// claim walks stay in memory as history grows.
	v.Add("_pragma", "cache_size(-32768)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	// One writing connection: every write transaction is serialised, which
	// is what the claim and dedup statements rely on here (PostgreSQL uses
	// locks).
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	s, err := newSQL(ctx, db, sqliteDialect, o)
	if err != nil {
		db.Close()
		lock.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	// Reads (Get, List) have connections of their own that cannot write
	// (query_only): in WAL mode they read the last commit while the writer
	// goes on, so listing executions never holds up a claim.
	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_pragma", "query_only(1)")
	r.Add("_pragma", "cache_size(-8192)")
	rdb, err := sql.Open("sqlite", "file:"+path+"?"+r.Encode())
	if err != nil {
		s.Close()
		lock.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	s.rdb, s.rc = rdb, newStmtCache(rdb, sqliteDialect.rebind)
	if err := privateFiles(path, false); err != nil {
		s.Close()
		lock.Close()
		return nil, err
	}
	s.onClose = lock.Close
	return s, nil
}

// readConns is how many read-only connections a SQLite store opens.
const readConns = 4

// FileMode is the mode of the SQLite database and its -wal, -shm and
// .lock files.
const FileMode = 0o600

// privateFiles makes the database file (creating it empty, which SQLite
// reads as a new database, when create is set) and any -wal and -shm
// beside it FileMode. Modes are set explicitly: the umask only narrows
// the mode a file is created with.
func privateFiles(path string, create bool) error {
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
		if err != nil {
			return fmt.Errorf("store: sqlite: %w", err)
		}
		f.Close()
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		if err := os.Chmod(p, FileMode); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: sqlite: %w", err)
		}
	}
	return nil
}

// OpenPostgres connects to PostgreSQL (a pgx DSN: "postgres://user@host/db"
// or "host=... dbname=...") and applies the migrations. Errors never quote
// the DSN, which may hold a password.
func OpenPostgres(ctx context.Context, dsn string, o Options) (*SQL, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, errors.New("store: postgres: invalid DSN")
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres: connect: %w", err)
	}
	s, err := newSQL(ctx, db, postgresDialect, o)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	return s, nil
}
