package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds each cache (queries with IN lists vary with their
// length; past this they simply run unprepared).
const maxStmts = 256

// stmtCache keeps prepared statements of one database: modernc's SQLite
// parses and plans every statement it is given, which costs more than
// running the short ones the store uses. A query seen for the first time
// runs unprepared and is prepared before the next transaction begins:
// never while this goroutine holds a connection, since SQLite's writer
// has only one and preparing waits for a free one.
type stmtCache struct {
	db      *sql.DB
	rebind  func(string) string
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]bool
}

func newStmtCache(db *sql.DB, rebind func(string) string) *stmtCache {
	return &stmtCache{db: db, rebind: rebind, m: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement of q (as written, $n placeholders),
// nil when there is none yet (q is prepared at the next warm).
func (c *stmtCache) get(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, seen := c.m[q]
	if !seen && len(c.m)+len(c.pending) < maxStmts {
		c.pending[q] = true
	}
	return st
}

// warm prepares the queries seen since the last warm. The caller holds no
// connection of c.db. A query that fails to prepare is not tried again.
func (c *stmtCache) warm(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	var qs []string
	for q := range c.pending {
		qs = append(qs, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range qs {
		st, err := c.db.PrepareContext(ctx, c.rebind(q))
		c.mu.Lock()
		if err != nil {
			c.m[q] = nil // not pending again: len(m) counts it
		} else {
			c.m[q] = st
		}
		c.mu.Unlock()
	}
}

// txn is a transaction that runs queries through its database's cache.
type txn struct {
	*sql.Tx
	s *SQL
	c *stmtCache
}

// begin starts a read-write transaction (dialect.begin) on db.
func (s *SQL) begin(ctx context.Context) (*txn, error) {
	s.wc.warm(ctx)
	tx, err := s.d.begin(ctx, s.db)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, s: s, c: s.wc}, nil
}

// beginRead starts a read-only transaction on rdb.
func (s *SQL) beginRead(ctx context.Context) (*txn, error) {
	s.rc.warm(ctx)
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.d.name == "postgres"})
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, s: s, c: s.rc}, nil
}

// exec, query and queryRow run q ($n placeholders; rebound here).
func (t *txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.c.get(q); st != nil {
		return t.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.ExecContext(ctx, t.s.q(q), args...)
}

func (t *txn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.c.get(q); st != nil {
		return t.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.QueryContext(ctx, t.s.q(q), args...)
}

// ids runs q, a statement answering one id per row (UPDATE … RETURNING
// id), and returns them.
func (t *txn) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (t *txn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.c.get(q); st != nil {
		return t.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.QueryRowContext(ctx, t.s.q(q), args...)
}

// dbExec and dbQuery run q outside a transaction on db.
func (s *SQL) dbExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s.wc.warm(ctx)
	if st := s.wc.get(q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, s.q(q), args...)
}

func (s *SQL) dbQuery(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s.wc.warm(ctx)
	if st := s.wc.get(q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, s.q(q), args...)
}
