package dynatracetest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// criterion is one term of a problem selector: name("v1","v2").
type criterion struct {
	name   string
	values []string
}

// selector is a parsed problemSelector: every criterion must match, and a
// criterion matches when any of its values does.
type selector []criterion

// Criteria of the problem selector this server implements, with the
// Problems API v2 spellings. Others answer 400.
var criteria = map[string]func(p *Problem, v string) bool{
	"status": func(p *Problem, v string) bool { return strings.EqualFold(p.Status, v) },
	"severityLevel": func(p *Problem, v string) bool {
		return strings.EqualFold(p.SeverityLevel, v)
	},
	"impactLevel": func(p *Problem, v string) bool { return strings.EqualFold(p.ImpactLevel, v) },
	"impactedEntities": func(p *Problem, v string) bool {
		return slices.ContainsFunc(p.ImpactedEntities, func(e EntityStub) bool { return e.EntityID.ID == v })
	},
	"affectedEntities": func(p *Problem, v string) bool {
		return slices.ContainsFunc(p.AffectedEntities, func(e EntityStub) bool { return e.EntityID.ID == v })
	},
	"rootCauseEntity": func(p *Problem, v string) bool {
		return p.RootCauseEntity != nil && p.RootCauseEntity.EntityID.ID == v
	},
	"entityTags": func(p *Problem, v string) bool {
		return slices.ContainsFunc(p.EntityTags, func(t EntityTag) bool { return tagMatches(v, t) })
	},
	"managementZones": func(p *Problem, v string) bool {
		return slices.ContainsFunc(p.ManagementZones, func(z ManagementZone) bool { return z.Name == v })
	},
	"managementZoneIds": func(p *Problem, v string) bool {
		return slices.ContainsFunc(p.ManagementZones, func(z ManagementZone) bool { return z.ID == v })
	},
	"displayId": func(p *Problem, v string) bool { return p.DisplayID == v },
	"problemId": func(p *Problem, v string) bool { return p.ProblemID == v },
}

// parseSelector parses name("v1","v2"),name2("v") with "~" escaping a quote
// or tilde inside a value. Unquoted values (true, 42) are taken as written.
func parseSelector(s string) (selector, error) {
	var sel selector
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			if len(sel) == 0 {
				return nil, fmt.Errorf("empty selector")
			}
			return sel, nil
		}
		start := i
		for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] == '.') {
			i++
		}
		name := s[start:i]
		if name == "" {
			return nil, fmt.Errorf("expected a criterion name at position %d", start)
		}
		skip()
		if i >= len(s) || s[i] != '(' {
			return nil, fmt.Errorf("expected '(' after %s", name)
		}
		i++
		var values []string
		for {
			skip()
			if i >= len(s) {
				return nil, fmt.Errorf("unclosed %s(", name)
			}
			var v string
			if s[i] == '"' {
				i++
				var b strings.Builder
				closed := false
				for i < len(s) {
					c := s[i]
					if c == '~' && i+1 < len(s) {
						b.WriteByte(s[i+1])
						i += 2
						continue
					}
					i++
					if c == '"' {
						closed = true
						break
					}
					b.WriteByte(c)
				}
				if !closed {
					return nil, fmt.Errorf("unterminated string in %s(", name)
				}
				v = b.String()
			} else {
				start := i
				for i < len(s) && s[i] != ',' && s[i] != ')' {
					i++
				}
				v = strings.TrimSpace(s[start:i])
				if v == "" {
					return nil, fmt.Errorf("empty value in %s(", name)
				}
			}
			values = append(values, v)
			skip()
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			if i < len(s) && s[i] == ')' {
				i++
				break
			}
			return nil, fmt.Errorf("expected ',' or ')' in %s(", name)
		}
		if _, ok := criteria[name]; !ok {
			return nil, fmt.Errorf("unknown criterion %q", name)
		}
		if name == "status" {
			if len(values) != 1 {
				return nil, fmt.Errorf("status takes exactly one value")
			}
			if v := strings.ToLower(values[0]); v != "open" && v != "closed" {
				return nil, fmt.Errorf("status must be \"open\" or \"closed\", got %q", values[0])
			}
		}
		sel = append(sel, criterion{name: name, values: values})
		skip()
		if i < len(s) {
			if s[i] != ',' {
				return nil, fmt.Errorf("expected ',' between criteria at position %d", i)
			}
			i++
		}
	}
}

func (sel selector) matches(p *Problem) bool {
	for _, c := range sel {
		match := criteria[c.name]
		if !slices.ContainsFunc(c.values, func(v string) bool { return match(p, v) }) {
			return false
		}
	}
	return true
}

// ParseTag reads a tag as selectors and problem specs write it:
// "[context]key:value", "key:value" or "key". A tag without context is
// CONTEXTLESS.
func ParseTag(s string) EntityTag {
	t := EntityTag{Context: "CONTEXTLESS", StringRepresentation: s}
	if rest, ok := strings.CutPrefix(s, "["); ok {
		if ctx, r, ok := strings.Cut(rest, "]"); ok {
			t.Context, s = ctx, r
		}
	}
	t.Key, t.Value, _ = strings.Cut(s, ":")
	return t
}

// tagMatches compares a selector's tag with a problem's, case-insensitively;
// a wanted tag without a value matches any value of its key, and one
// without a [context] any context.
func tagMatches(want string, have EntityTag) bool {
	w := ParseTag(want)
	if strings.HasPrefix(want, "[") && !strings.EqualFold(w.Context, have.Context) {
		return false
	}
	return strings.EqualFold(w.Key, have.Key) && (w.Value == "" || strings.EqualFold(w.Value, have.Value))
}

// parseTime reads a timeframe bound: "now", "now-2h" (units s, m, h, d, w),
// epoch milliseconds, or an ISO time (zone optional, UTC by default; a
// space may stand for the T).
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if rest, ok := strings.CutPrefix(s, "now-"); ok && len(rest) >= 2 {
		n, err := strconv.Atoi(rest[:len(rest)-1])
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[rest[len(rest)-1]]
		if err != nil || n < 0 || unit == 0 {
			return time.Time{}, fmt.Errorf("bad relative time %q", s)
		}
		return now.Add(-time.Duration(n) * unit), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	iso := strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, iso); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q: use now-2h, epoch milliseconds or an ISO time", s)
}
