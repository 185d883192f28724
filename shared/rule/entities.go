package rule

import (
	"fmt"
	"strings"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/tidwall/gjson"
)

// EntityPath is the gjson path of entity_keyvalue (["details", "host"] is
// "details.host", each key escaped).
func (r *Rule) EntityPath() string {
	parts := make([]string, len(r.EntityKeyValue))
	for i, k := range r.EntityKeyValue {
		parts[i] = gjson.Escape(k)
	}
	return strings.Join(parts, ".")
}

// ResolveEntities returns the hosts a rule acts on for an alert: the
// explicit list, or the value at entity_keyvalue (a string is one host, an
// array of strings several). Empty names and duplicates are dropped; no
// host at all is an error, never "all hosts".
func (r *Rule) ResolveEntities(env *alert.Envelope) ([]string, error) {
	var hosts []string
	switch r.EntityType {
	case EntityExplicit:
		hosts = r.Entities
	case EntityKeyValue:
		v := env.Get(r.EntityPath())
		switch {
		case !v.Exists():
			return nil, fmt.Errorf("entity_keyvalue %s: not found in alert", r.EntityPath())
		case v.Type == gjson.String:
			hosts = []string{v.Str}
		case v.IsArray():
			for i, h := range v.Array() {
				if h.Type != gjson.String {
					return nil, fmt.Errorf("entity_keyvalue %s[%d]: want a string, got %s", r.EntityPath(), i, h.Type)
				}
				hosts = append(hosts, h.Str)
			}
		default:
			return nil, fmt.Errorf("entity_keyvalue %s: want a string or an array of strings, got %s", r.EntityPath(), v.Type)
		}
	default:
		return nil, fmt.Errorf("entity_type %q: unknown", r.EntityType)
	}
	seen := map[string]bool{}
	var out []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			continue
		}
		if strings.ContainsAny(h, " \t\r\n/@;$`'\"\\") || strings.HasPrefix(h, "-") {
			return nil, fmt.Errorf("entity %q: not a host name", h)
		}
		seen[h] = true
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no entities resolved")
	}
	return out, nil
}
