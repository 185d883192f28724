// Package governor decides whether an execution may run: the circuit
// breaker's pause of the rule (actionhandler/internal/breaker), the rule's rate
// limits (max_executions and max_executions_per_entity per window, a
// cooldown per entity) and a global cap on hosts acted on per minute. It
// runs inside the store's claim transaction, under a lock every replica
// takes, so its counts are exact across replicas and restarts.
package governor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/tidwall/gjson"
)

// DefaultWindow is the window of rules that set a maximum but no window.
const DefaultWindow = time.Hour

// Options configure the governor.
type Options struct {
	// DefaultWindow for rules whose governor sets no window.
	DefaultWindow time.Duration
	// MaxHostsPerMinute caps hosts acted on in any minute, all rules
	// together; 0: no cap.
	MaxHostsPerMinute int
	// Defaults apply to rules without a governor object; nil: no limits.
	Defaults *rule.Governor
	Now      func() time.Time
	// OnResumed is told of each pause ended because the rule changed (an
	// execution of another version of it was claimed); nil: nobody. It is
	// called inside the claim transaction: it must not block.
	OnResumed func(b store.Breaker)
}

// Governor implements store.Admit.
type Governor struct{ o Options }

// New returns a Governor.
func New(o Options) *Governor {
	if o.DefaultWindow <= 0 {
		o.DefaultWindow = DefaultWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Governor{o: o}
}

// Limits is the governor that applies to a rule: its own or the defaults.
func (g *Governor) Limits(r *rule.Governor) *rule.Governor {
	if r == nil {
		return g.o.Defaults
	}
	return r
}

// Admit returns "" when x may run, else why not.
func (g *Governor) Admit(ctx context.Context, c store.Counter, x *store.Execution) (string, error) {
	var rg *rule.Governor
	if v := gjson.GetBytes(x.Request, "rule.governor"); v.Exists() {
		rg = &rule.Governor{}
		if err := json.Unmarshal([]byte(v.Raw), rg); err != nil {
			return "", fmt.Errorf("rule governor: %w", err)
		}
	}
	if why, err := g.paused(ctx, c, x); why != "" || err != nil {
		return why, err
	}
	now := g.o.Now()
	if lim := g.Limits(rg); lim != nil {
		window := lim.WindowDuration()
		if window == 0 {
			window = g.o.DefaultWindow
		}
		if lim.MaxExecutions > 0 {
			n, _, err := c.Started(ctx, x.RuleName, "", now.Add(-window), lim.MaxExecutions)
			if err != nil {
				return "", err
			}
			if n >= lim.MaxExecutions {
				return fmt.Sprintf("governor: rule %s already ran %d times in the last %s (max_executions %d)",
					x.RuleName, n, human(window), lim.MaxExecutions), nil
			}
		}
		for _, ent := range x.Entities {
			if lim.MaxExecutionsPerEntity > 0 {
				n, _, err := c.Started(ctx, x.RuleName, ent, now.Add(-window), lim.MaxExecutionsPerEntity)
				if err != nil {
					return "", err
				}
				if n >= lim.MaxExecutionsPerEntity {
					return fmt.Sprintf("governor: rule %s already acted on %s %d times in the last %s (max_executions_per_entity %d)",
						x.RuleName, ent, n, human(window), lim.MaxExecutionsPerEntity), nil
				}
			}
			if cd := lim.CooldownDuration(); cd > 0 {
				n, last, err := c.Started(ctx, x.RuleName, ent, now.Add(-cd), 1)
				if err != nil {
					return "", err
				}
				if n > 0 {
					return fmt.Sprintf("governor: rule %s acted on %s %s ago (cooldown %s)",
						x.RuleName, ent, human(now.Sub(last)), human(cd)), nil
				}
			}
		}
	}
	if g.o.MaxHostsPerMinute > 0 {
		n, err := c.Hosts(ctx, now.Add(-time.Minute), g.o.MaxHostsPerMinute+1)
		if err != nil {
			return "", err
		}
		if n+len(x.Entities) > g.o.MaxHostsPerMinute {
			return fmt.Sprintf("governor: %d hosts acted on in the last minute; %d more would exceed max_hosts_per_minute %d",
				n, len(x.Entities), g.o.MaxHostsPerMinute), nil
		}
	}
	return "", nil
}

// paused returns the reason x is skipped when the circuit breaker holds
// its rule (on the whole or on one of its hosts), "" when not. A pause of
// an older version of the rule ends here: the rule file changed.
func (g *Governor) paused(ctx context.Context, c store.Counter, x *store.Execution) (string, error) {
	b, resumed, err := c.Paused(ctx, x.RuleName, store.RuleHash(x.Request), x.Entities)
	if err != nil {
		return "", err
	}
	for _, r := range resumed {
		if g.o.OnResumed != nil {
			g.o.OnResumed(r)
		}
	}
	if b == nil {
		return "", nil
	}
	return PausedReason(b), nil
}

// PausedReason is the reason of an execution skipped because b holds its
// rule: it starts with api.ReasonRulePaused and says how to resume.
func PausedReason(b *store.Breaker) string {
	where, flag := "rule "+b.RuleName, ""
	if b.Entity != "" {
		where, flag = where+" on "+b.Entity, " --entity "+b.Entity
	}
	return fmt.Sprintf("%s: %s is paused by the circuit breaker since %s (%s); resume it with "+
		"`alexisctl rules resume %s%s --reason WHY` (POST /v1/rules/%s/resume, scope admin; or the console's rules page), "+
		"or change the rule file", api.ReasonRulePaused, where, b.PausedAt.UTC().Format(time.RFC3339), b.Reason,
		b.RuleName, flag, b.RuleName)
}

// human writes a duration without zero units: 1h, 10m, 1m30s, 4s.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
