// Package pgstate keeps the poller's delivery state in PostgreSQL and
// decides, by a lease in the same database, which of several poller
// replicas is the active one.
//
// The lease is one row (poller_leader: holder, lease_until, epoch). A
// replica takes it when it is free or expired, and renews it every
// RenewInterval; every comparison uses the database's clock, so replicas'
// clocks need not agree. A replica learns that its lease ended without
// asking: it counts Lease from the moment it sent its last successful
// renew (its own monotonic clock measures only that duration), which is
// never later than the end the database recorded.
//
// The active replica stops (its context is cancelled) as soon as a renew
// fails or is refused, its own count runs out, or a state write is
// refused. Every state write is fenced by the lease: it happens only if
// the writer holds an unexpired lease at that moment, and it holds a share
// lock on the lease row until it commits, so a replica taking over waits
// for that write and then reads it. Delivery state is the same as the file
// state's (package state): per feed, by alert id, the entry of a delivered
// alert; each delivery is committed before the next one starts.
package pgstate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/state"
	"github.com/alexis-ops/alexis/shared/logging"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/rs/zerolog"
)

// Defaults of Options.
const (
	DefaultLease         = 3 * time.Second
	DefaultRenewInterval = 1 * time.Second
)

// leaseName is the lease row's key: one active poller per database schema.
const leaseName = "poller"

// ErrLeaseLost is a state write refused because this replica no longer
// holds the lease.
var ErrLeaseLost = errors.New("poller lease not held")

// Options configure Open.
type Options struct {
	// Holder names this replica in the lease row; it must be unique per
	// running process (NewHolder).
	Holder string
	// Lease is how long a lease lasts after a renew; RenewInterval how
	// often the active replica renews it and a standby tries to take it.
	Lease, RenewInterval time.Duration
	// Timeout bounds each lease statement (take, renew, release, read);
	// default RenewInterval. State writes may take up to Lease: past it,
	// the lease is over anyway.
	Timeout time.Duration
	Log     zerolog.Logger
	// OnLeader, if set, is told when this replica becomes active (true)
	// or stops being active (false).
	OnLeader func(bool)
}

// Store is the delivery state in PostgreSQL plus the lease. The state
// methods are meant for the active replica only (inside Lead's active
// function); a write after the lease ended returns ErrLeaseLost.
type Store struct {
	db *sql.DB
	o  Options

	mu       sync.Mutex
	feeds    map[string]map[string]state.Entry // loaded at each acquisition
	deadline time.Time                         // local (monotonic) end of the lease
	epoch    int64
	lose     func(reason string, err error) // ends the active term; nil while standby
}

// NewHolder is a holder name unique to this process: host, pid and a
// random suffix, so a restarted replica never mistakes its predecessor's
// lease for its own.
func NewHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "poller"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
}

// Open connects to PostgreSQL (a pgx DSN) and applies the migrations.
// Errors never quote the DSN, which may hold a password.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.Holder == "" {
		return nil, errors.New("pgstate: holder required")
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.RenewInterval <= 0 {
		o.RenewInterval = DefaultRenewInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = o.RenewInterval
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, errors.New("pgstate: invalid DSN")
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("pgstate: connect: %w", err)
	}
	if err := migrate(pctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("pgstate: %w", err)
	}
	return &Store{db: db, o: o, feeds: map[string]map[string]state.Entry{}}, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.db.Close() }

// Holder is this replica's name in the lease row.
func (s *Store) Holder() string { return s.o.Holder }

// TryAcquire takes the lease if it is free, expired or already this
// replica's, and reports whether this replica now holds it. On success the
// lease is counted from before the statement was sent.
func (s *Store) TryAcquire(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	sent := time.Now()
	var epoch int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO poller_leader (name, holder, lease_until, epoch)
		VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3), 1)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until,
			epoch = poller_leader.epoch + 1
		WHERE poller_leader.lease_until <= clock_timestamp() OR poller_leader.holder = EXCLUDED.holder
		RETURNING epoch`, leaseName, s.o.Holder, s.o.Lease.Seconds()).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquire lease: %w", err)
	}
	s.mu.Lock()
	s.deadline = sent.Add(s.o.Lease)
	s.epoch = epoch
	s.mu.Unlock()
	return true, nil
}

// Renew extends the lease this replica holds; false means another replica
// holds it now, or it expired.
func (s *Store) Renew(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	sent := time.Now()
	res, err := s.db.ExecContext(ctx, `UPDATE poller_leader SET lease_until = clock_timestamp() + make_interval(secs => $3)
		WHERE name = $1 AND holder = $2 AND lease_until > clock_timestamp()`, leaseName, s.o.Holder, s.o.Lease.Seconds())
	if err != nil {
		return false, fmt.Errorf("renew lease: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	s.mu.Lock()
	s.deadline = sent.Add(s.o.Lease)
	s.mu.Unlock()
	return true, nil
}

// Release ends this replica's lease at once, so a standby takes over at
// its next try instead of after the lease.
func (s *Store) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	s.mu.Lock()
	s.deadline = time.Time{}
	s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, `UPDATE poller_leader SET lease_until = clock_timestamp()
		WHERE name = $1 AND holder = $2`, leaseName, s.o.Holder); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// Current returns who holds the lease and whether it is still valid (by
// the database's clock); an empty holder means no replica ever took it.
func (s *Store) Current(ctx context.Context) (holder string, valid bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	err = s.db.QueryRowContext(ctx, `SELECT holder, lease_until > clock_timestamp() FROM poller_leader WHERE name = $1`,
		leaseName).Scan(&holder, &valid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read lease: %w", err)
	}
	return holder, valid, nil
}

// Held reports whether this replica's own count of its lease has not run
// out (it may have ended earlier: writes are fenced in the database).
func (s *Store) Held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.deadline)
}

func (s *Store) localDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

// Lead runs until ctx is done: as standby it tries to take the lease every
// RenewInterval; once it holds it, it loads the state (forgetting feeds
// not in feeds) and runs active with a context that is cancelled as soon
// as the lease cannot be renewed, its count runs out or a state write is
// refused; then it is standby again. When ctx ends while active, active
// returns and the lease is released.
func (s *Store) Lead(ctx context.Context, feeds []string, active func(ctx context.Context)) {
	log := s.o.Log
	standbyLogged, lastErr := "", ""
	for {
		ok, err := s.TryAcquire(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if err.Error() != lastErr {
				log.Warn().Str(logging.Event, "lease_error").Str(logging.Replica, s.o.Holder).Err(err).Msg("cannot reach the lease")
				lastErr = err.Error()
			}
		case ok:
			lastErr, standbyLogged = "", ""
			s.term(ctx, feeds, active)
			if ctx.Err() != nil {
				if err := s.Release(context.WithoutCancel(ctx)); err != nil {
					log.Warn().Str(logging.Event, "lease_error").Str(logging.Replica, s.o.Holder).Err(err).Msg("lease not released: the standby takes over when it expires")
				} else {
					log.Info().Str(logging.Event, "lease_released").Str(logging.Replica, s.o.Holder).Send()
				}
				return
			}
		default:
			lastErr = ""
			if holder, _, err := s.Current(ctx); err == nil && holder != standbyLogged {
				log.Info().Str(logging.Event, "lease_standby").Str(logging.Replica, s.o.Holder).Str(logging.Detail, "held by "+holder).
					Msg("another replica is active")
				standbyLogged = holder
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.RenewInterval):
		}
	}
}

// RunOnce takes the lease, loads the state, runs fn while holding the
// lease and releases it: "poller once" beside running replicas. It fails
// if another replica holds the lease.
func (s *Store) RunOnce(ctx context.Context, feeds []string, fn func(ctx context.Context) error) error {
	ok, err := s.TryAcquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		holder, _, _ := s.Current(ctx)
		return fmt.Errorf("another poller replica (%s) holds the lease: stop it, or wait until it expires", holder)
	}
	var ferr error
	ran := false
	lost := s.term(ctx, feeds, func(ctx context.Context) { ran, ferr = true, fn(ctx) })
	if err := s.Release(context.WithoutCancel(ctx)); err != nil {
		s.o.Log.Warn().Str(logging.Event, "lease_error").Str(logging.Replica, s.o.Holder).Err(err).Send()
	}
	if !ran || (lost != nil && ferr == nil) {
		return lost
	}
	return ferr
}

// term is one active term: from acquiring the lease to losing it (or ctx
// ending, or active returning). It returns why the lease was lost, or nil.
// lose may be called from active's goroutines; all have returned (done is
// closed) before term reads lost.
func (s *Store) term(ctx context.Context, feeds []string, active func(ctx context.Context)) (lost error) {
	log := s.o.Log.With().Str(logging.Replica, s.o.Holder).Logger()
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	lose := func(reason string, err error) {
		once.Do(func() {
			cancel()
			lost = fmt.Errorf("lease lost (%s)", reason)
			if err != nil {
				lost = fmt.Errorf("lease lost (%s): %w", reason, err)
			}
			if ctx.Err() != nil && err == nil {
				return
			}
			ev := log.Warn().Str(logging.Event, "lease_lost").Str(logging.Reason, reason)
			if err != nil {
				ev = ev.Err(err)
			}
			ev.Msg("stopped polling")
		})
	}
	s.mu.Lock()
	s.lose = lose
	epoch := s.epoch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.lose = nil
		s.feeds = map[string]map[string]state.Entry{}
		s.mu.Unlock()
		if s.o.OnLeader != nil {
			s.o.OnLeader(false)
		}
	}()
	log.Info().Str(logging.Event, "lease_acquired").Int64(logging.Count, epoch).Msg("active: polling")
	if s.o.OnLeader != nil {
		s.o.OnLeader(true)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.load(tctx, feeds, log); err != nil {
			lose("state_unreadable", err)
			return
		}
		active(tctx)
	}()
	renew := time.NewTicker(s.o.RenewInterval)
	defer renew.Stop()
	for {
		expiry := time.NewTimer(time.Until(s.localDeadline()))
		select {
		case <-done:
			expiry.Stop()
			return
		case <-expiry.C:
			lose("expired", nil)
		case <-renew.C:
			expiry.Stop()
			ok, err := s.Renew(tctx)
			switch {
			case tctx.Err() != nil:
			case err != nil:
				lose("renew_failed", err)
			case !ok:
				lose("renew_refused", nil)
			}
		}
		if tctx.Err() != nil {
			<-done
			return
		}
	}
}

// loseLease ends the active term, if any.
func (s *Store) loseLease(reason string, err error) {
	s.mu.Lock()
	lose := s.lose
	s.mu.Unlock()
	if lose != nil {
		lose(reason, err)
	}
}

// load reads the delivered alerts, after forgetting those of feeds no
// longer configured.
func (s *Store) load(ctx context.Context, feeds []string, log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var pruned, held int
	if err := s.db.QueryRowContext(ctx, `WITH lease AS (`+fence+`),
		del AS (DELETE FROM poller_delivered WHERE NOT (feed = ANY($3)) AND EXISTS (SELECT 1 FROM lease) RETURNING 1)
		SELECT (SELECT count(*) FROM lease), (SELECT count(*) FROM del)`, leaseName, s.o.Holder, feeds).Scan(&held, &pruned); err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if held == 0 {
		return fmt.Errorf("load state: %w", ErrLeaseLost)
	}
	if pruned > 0 {
		log.Info().Str(logging.Event, "state_pruned").Int(logging.Count, pruned).Msg("forgot alerts of feeds no longer configured")
	}
	rows, err := s.db.QueryContext(ctx, `SELECT feed, alert_id, unique_value, delivered_at, result, error FROM poller_delivered`)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	defer rows.Close()
	m := map[string]map[string]state.Entry{}
	n := 0
	for rows.Next() {
		var feed, id string
		var e state.Entry
		if err := rows.Scan(&feed, &id, &e.UniqueValue, &e.DeliveredAt, &e.Result, &e.Error); err != nil {
			return fmt.Errorf("load state: %w", err)
		}
		e.DeliveredAt = e.DeliveredAt.UTC()
		if m[feed] == nil {
			m[feed] = map[string]state.Entry{}
		}
		m[feed][id] = e
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	s.mu.Lock()
	s.feeds = m
	s.mu.Unlock()
	log.Info().Str(logging.Event, "state_loaded").Int(logging.Count, n).Send()
	return nil
}

// fence selects the lease row if this replica ($1 name, $2 holder) holds
// it unexpired, and share-locks it until the statement's transaction ends:
// a replica taking over waits for the fenced write to commit.
const fence = `SELECT 1 FROM poller_leader WHERE name = $1 AND holder = $2 AND lease_until > clock_timestamp() FOR SHARE`

// Delivered reports whether alert id of feed was delivered.
func (s *Store) Delivered(feed, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.feeds[feed][id]
	return ok
}

// Get returns the entry of alert id of feed.
func (s *Store) Get(feed, id string) (state.Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.feeds[feed][id]
	return e, ok
}

// Count returns how many alerts of feed are remembered.
func (s *Store) Count(feed string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.feeds[feed])
}

// Commit records alert id of feed as delivered, committed in the database
// before it returns, if this replica holds the lease. Any failure ends the
// active term (the lease is given up to whoever can write): the alert may
// then be delivered once more, by whichever replica is active next.
func (s *Store) Commit(ctx context.Context, feed, id string, e state.Entry) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Lease)
	defer cancel()
	res, err := s.db.ExecContext(ctx, `WITH lease AS (`+fence+`)
		INSERT INTO poller_delivered (feed, alert_id, unique_value, delivered_at, result, error)
		SELECT $3, $4, $5, $6, $7, $8 FROM lease
		ON CONFLICT (feed, alert_id) DO UPDATE SET unique_value = EXCLUDED.unique_value,
			delivered_at = EXCLUDED.delivered_at, result = EXCLUDED.result, error = EXCLUDED.error`,
		leaseName, s.o.Holder, feed, id, e.UniqueValue, e.DeliveredAt, e.Result, e.Error)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		err = fmt.Errorf("commit delivery: %w", err)
		s.loseLease("state_write_failed", err)
		return err
	}
	if n == 0 {
		s.loseLease("fenced", nil)
		return fmt.Errorf("commit delivery: %w", ErrLeaseLost)
	}
	s.mu.Lock()
	if s.feeds[feed] == nil {
		s.feeds[feed] = map[string]state.Entry{}
	}
	s.feeds[feed][id] = e
	s.mu.Unlock()
	return nil
}

// Retain forgets the alerts of feed that are not in current and returns
// how many it forgot.
func (s *Store) Retain(ctx context.Context, feed string, current map[string]bool) (int, error) {
	s.mu.Lock()
	var gone []string
	for id := range s.feeds[feed] {
		if !current[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Lease)
	defer cancel()
	var held int
	if err := s.db.QueryRowContext(ctx, `WITH lease AS (`+fence+`),
		del AS (DELETE FROM poller_delivered WHERE feed = $3 AND alert_id = ANY($4) AND EXISTS (SELECT 1 FROM lease) RETURNING 1)
		SELECT (SELECT count(*) FROM lease), (SELECT count(*) FROM del)`, leaseName, s.o.Holder, feed, gone).Scan(&held, new(int)); err != nil {
		err = fmt.Errorf("forget alerts: %w", err)
		s.loseLease("state_write_failed", err)
		return 0, err
	}
	if held == 0 {
		s.loseLease("fenced", nil)
		return 0, fmt.Errorf("forget alerts: %w", ErrLeaseLost)
	}
	s.mu.Lock()
	for _, id := range gone {
		delete(s.feeds[feed], id)
	}
	s.mu.Unlock()
	return len(gone), nil
}

// Save has nothing to do: every write is committed when it is made.
func (s *Store) Save(context.Context) error { return nil }
