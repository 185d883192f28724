package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stats limits.
const (
	// DefaultStatsRange is the range of a StatsFilter without Since.
	DefaultStatsRange = 7 * 24 * time.Hour
	// MaxBuckets is the most buckets one Stats answer has.
	MaxBuckets = 1000
	// MaxActionStats is the most ActionStats one Stats answer has (the
	// most frequent).
	MaxActionStats = 1000
	// DefaultHosts and MaxHosts bound Hosts' answer.
	DefaultHosts = 100
	MaxHosts     = 1000
)

// ErrStatsRange is Stats' answer for a range that is empty or has more
// than MaxBuckets buckets.
var ErrStatsRange = errors.New("stats: the range must be non-empty and hold at most 1000 buckets")

// endedStatuses are the ends RuleActivity counts as Ended.
// (verification's verdicts too: remediated counts as a success, ineffective
// as a failure; verifying has not ended).
var endedStatuses = map[string]bool{Success: true, Failure: true, Interrupted: true, Refused: true,
	Remediated: true, Ineffective: true}

// statsWhere is the WHERE clause of executions (alias x) f selects.
func statsWhere(f StatsFilter, since, until time.Time) (string, []any) {
	args := []any{micros(since), micros(until)}
	w := "x.created_at >= $1 AND x.created_at < $2"
	if f.RuleName != "" {
		args = append(args, f.RuleName)
		w += " AND x.rule_name = $" + strconv.Itoa(len(args))
	}
	if f.Host != "" {
		args = append(args, strings.ToLower(f.Host))
		w += " AND EXISTS (SELECT 1 FROM execution_entities e WHERE e.execution_id = x.id AND LOWER(e.entity) = $" +
			strconv.Itoa(len(args)) + ")"
	}
	return w, args
}

func (s *SQL) Stats(ctx context.Context, f StatsFilter) (Stats, error) {
	until := f.Until
	if until.IsZero() {
		until = s.now()
	}
	since := f.Since
	if since.IsZero() {
		since = until.Add(-DefaultStatsRange)
	}
	width := f.Bucket
	if width <= 0 {
		width = 24 * time.Hour
	}
	if !since.Before(until) || until.Sub(since)/width >= MaxBuckets {
		return Stats{}, ErrStatsRange
	}
	var out Stats
	for t := since; t.Before(until); t = t.Add(width) {
		out.Buckets = append(out.Buckets, Bucket{Start: t.UTC(), ByStatus: map[string]int{}})
	}
	where, args := statsWhere(f, since, until)
	tx, err := s.beginRead(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT x.rule_name, x.status, x.created_at, x.started_at, x.finished_at
		FROM executions x WHERE `+where, args...)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	rules := map[string]*RuleStats{}
	durations := map[string][]time.Duration{}
	for rows.Next() {
		var rule, status string
		var created int64
		var started, finished sql.NullInt64
		if err := rows.Scan(&rule, &status, &created, &started, &finished); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("store: stats: %w", err)
		}
		r := rules[rule]
		if r == nil {
			r = &RuleStats{RuleName: rule, ByStatus: map[string]int{}}
			rules[rule] = r
		}
		r.Total++
		r.ByStatus[status]++
		if c := fromMicros(created); c.After(r.Last) {
			r.Last = c
		}
		// Audit executions ran nothing (audit.go): counted by status, no duration.
		if started.Valid && finished.Valid && Terminal(status) && status != Audit {
			durations[rule] = append(durations[rule], time.Duration(finished.Int64-started.Int64)*time.Microsecond)
		}
		if i := int((created - micros(since)) / width.Microseconds()); i >= 0 && i < len(out.Buckets) {
			out.Buckets[i].ByStatus[status]++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	for name, r := range rules {
		if d := durations[name]; len(d) > 0 {
			slices.Sort(d)
			r.P50, r.P95, r.Max = percentile(d, 50), percentile(d, 95), d[len(d)-1]
		}
		out.Rules = append(out.Rules, *r)
	}
	slices.SortFunc(out.Rules, func(a, b RuleStats) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(a.RuleName, b.RuleName))
	})

	rows, err = tx.query(ctx, `SELECT COALESCE(NULLIF(st.action, ''), st.task_type), st.entity, COUNT(*),
		SUM(CASE WHEN st.status = 'success' THEN 1 ELSE 0 END), MAX(COALESCE(st.finished_at, st.started_at, 0))
		FROM steps st JOIN executions x ON x.id = st.execution_id
		WHERE `+where+` AND st.status IN ('success', 'failure') AND st.task_index <> `+verifyTaskIndexSQL+`
		GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT `+strconv.Itoa(MaxActionStats), args...)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: actions: %w", err)
	}
	for rows.Next() {
		var a ActionStats
		var last int64
		if err := rows.Scan(&a.Action, &a.Entity, &a.Count, &a.Success, &last); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("store: stats: actions: %w", err)
		}
		a.Last = fromMicros(last)
		out.Actions = append(out.Actions, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("store: stats: actions: %w", err)
	}
	return out, tx.Commit()
}

// percentile is the nearest-rank p-th percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100
	return d[max(0, min(len(d), i)-1)]
}

func (s *SQL) Hosts(ctx context.Context, since time.Time, limit int) ([]HostStats, error) {
	if limit <= 0 {
		limit = DefaultHosts
	}
	limit = min(limit, MaxHosts)
	rows, err := s.rdb.QueryContext(ctx, s.q(s.hint(`SELECT LOWER(e.entity), x.status, COUNT(*), MAX(x.created_at)
		FROM executions x{{executions_newest}} CROSS JOIN execution_entities e
		WHERE e.execution_id = x.id AND x.created_at >= $1
		GROUP BY LOWER(e.entity), x.status`)), micros(since))
	if err != nil {
		return nil, fmt.Errorf("store: hosts: %w", err)
	}
	defer rows.Close()
	byHost := map[string]*HostStats{}
	for rows.Next() {
		var host, status string
		var n int
		var last int64
		if err := rows.Scan(&host, &status, &n, &last); err != nil {
			return nil, fmt.Errorf("store: hosts: %w", err)
		}
		h := byHost[host]
		if h == nil {
			h = &HostStats{Host: host, ByStatus: map[string]int{}}
			byHost[host] = h
		}
		h.Total += n
		h.ByStatus[status] += n
		if t := fromMicros(last); t.After(h.Last) {
			h.Last = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: hosts: %w", err)
	}
	out := make([]HostStats, 0, len(byHost))
	for _, h := range byHost {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b HostStats) int {
		return cmp.Or(b.Last.Compare(a.Last), strings.Compare(a.Host, b.Host))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *SQL) RuleActivity(ctx context.Context, since time.Time) (map[string]RuleActivity, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: rule activity: %w", err)
	}
	defer tx.Rollback()
	out := map[string]RuleActivity{}
	rows, err := tx.query(ctx, `SELECT rule_name, COUNT(*), MAX(received_at) FROM decision_matches
		WHERE received_at >= $1 GROUP BY rule_name`, micros(since))
	if err != nil {
		return nil, fmt.Errorf("store: rule activity: %w", err)
	}
	for rows.Next() {
		var name string
		var a RuleActivity
		var last int64
		if err := rows.Scan(&name, &a.Matches, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: rule activity: %w", err)
		}
		a.LastMatch = fromMicros(last)
		out[name] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rule activity: %w", err)
	}
	rows, err = tx.query(ctx, `SELECT rule_name, status, COUNT(*) FROM executions
		WHERE created_at >= $1 GROUP BY rule_name, status`, micros(since))
	if err != nil {
		return nil, fmt.Errorf("store: rule activity: %w", err)
	}
	for rows.Next() {
		var name, status string
		var n int
		if err := rows.Scan(&name, &status, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: rule activity: %w", err)
		}
		a := out[name]
		if status == Success || status == Remediated {
			a.Success += n
		}
		if endedStatuses[status] {
			a.Ended += n
		}
		out[name] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rule activity: %w", err)
	}
	return out, tx.Commit()
}
