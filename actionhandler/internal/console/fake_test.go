package console

import (
	"context"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
)

// decisionStore is the real SQLite store for executions with decisions
// kept beside it in memory, until the store records decisions itself
// (h/store): then openStore returns the store alone.
type decisionStore struct {
	*store.SQL
	mu        sync.Mutex
	decisions []api.Decision
}

func (s *decisionStore) RecordDecisions(ctx context.Context, ds []api.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decisions = append(s.decisions, ds...)
	return nil
}

func (s *decisionStore) fill(ctx context.Context, d api.Decision) *api.Decision {
	d.Executions, d.Hosts = nil, nil
	for _, m := range d.Matched {
		if m.ExecutionID == "" {
			continue
		}
		if x, err := s.SQL.Get(ctx, m.ExecutionID); err == nil {
			d.Executions = append(d.Executions, api.DecisionExecution{ID: x.ID, RuleName: x.RuleName, Status: x.Status, Entities: x.Entities})
			d.Hosts = append(d.Hosts, x.Entities...)
		}
	}
	return &d
}

func (s *decisionStore) ListDecisions(ctx context.Context, f store.DecisionFilter) (store.DecisionPage, error) {
	s.mu.Lock()
	all := append([]api.Decision(nil), s.decisions...)
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if !all[i].ReceivedAt.Equal(all[j].ReceivedAt) {
			return all[i].ReceivedAt.After(all[j].ReceivedAt)
		}
		return all[i].ID > all[j].ID
	})
	if f.Limit <= 0 {
		f.Limit = store.DefaultLimit
	}
	var out store.DecisionPage
	start := 0
	if f.Cursor != "" {
		start = -1
		for i, d := range all {
			if d.ID == f.Cursor {
				start = i
			}
		}
		if start < 0 {
			return out, store.ErrCursor
		}
	}
	for _, d := range all[start:] {
		full := s.fill(ctx, d)
		if !match(full, f) {
			continue
		}
		if len(out.Decisions) == f.Limit {
			out.Next = d.ID
			break
		}
		full.Payload = nil
		out.Decisions = append(out.Decisions, full)
	}
	return out, nil
}

func match(d *api.Decision, f store.DecisionFilter) bool {
	if f.FeedType != "" && f.FeedType != d.FeedType || !f.Since.IsZero() && d.ReceivedAt.Before(f.Since) ||
		!f.Until.IsZero() && !d.ReceivedAt.Before(f.Until) {
		return false
	}
	if f.Text != "" && !strings.Contains(strings.ToLower(d.AlertID+" "+d.UniqueValue+" "+d.Summary), strings.ToLower(f.Text)) {
		return false
	}
	if f.Outcome != "" {
		ok := d.Result == f.Outcome
		for _, x := range d.Executions {
			ok = ok || x.Status == f.Outcome
		}
		if !ok {
			return false
		}
	}
	if f.RuleName != "" {
		ok := false
		for _, m := range d.Matched {
			ok = ok || m.RuleName == f.RuleName
		}
		if !ok {
			return false
		}
	}
	if f.Host != "" {
		ok := false
		for _, h := range d.Hosts {
			ok = ok || strings.EqualFold(h, f.Host)
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *decisionStore) GetDecision(ctx context.Context, id string) (*api.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.decisions {
		if d.ID == id {
			return s.fill(ctx, d), nil
		}
	}
	return nil, store.ErrNotFound
}

func (s *decisionStore) Stats(ctx context.Context, f store.StatsFilter) (store.Stats, error) {
	pg, err := s.SQL.List(ctx, store.Filter{Since: f.Since, Until: f.Until, RuleName: f.RuleName, Entity: f.Host, Limit: store.MaxLimit})
	if err != nil {
		return store.Stats{}, err
	}
	byRule := map[string]*store.RuleStats{}
	var st store.Stats
	for _, x := range pg.Executions {
		r := byRule[x.RuleName]
		if r == nil {
			r = &store.RuleStats{RuleName: x.RuleName, ByStatus: map[string]int{}}
			byRule[x.RuleName] = r
		}
		r.Total++
		r.ByStatus[x.Status]++
	}
	for _, r := range byRule {
		st.Rules = append(st.Rules, *r)
	}
	return st, nil
}

func (s *decisionStore) Hosts(ctx context.Context, since time.Time, limit int) ([]store.HostStats, error) {
	pg, err := s.SQL.List(ctx, store.Filter{Since: since, Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	m := map[string]*store.HostStats{}
	var out []store.HostStats
	for _, x := range pg.Executions {
		for _, e := range x.Entities {
			h := m[e]
			if h == nil {
				h = &store.HostStats{Host: e, ByStatus: map[string]int{}, Last: x.CreatedAt}
				m[e] = h
			}
			h.Total++
			h.ByStatus[x.Status]++
		}
	}
	for _, h := range m {
		out = append(out, *h)
	}
	return out, nil
}

func (s *decisionStore) RuleActivity(ctx context.Context, since time.Time) (map[string]store.RuleActivity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]store.RuleActivity{}
	for _, d := range s.decisions {
		if d.ReceivedAt.Before(since) {
			continue
		}
		for _, m := range d.Matched {
			a := out[m.RuleName]
			a.Matches++
			if d.ReceivedAt.After(a.LastMatch) {
				a.LastMatch = d.ReceivedAt
			}
			out[m.RuleName] = a
		}
	}
	return out, nil
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
