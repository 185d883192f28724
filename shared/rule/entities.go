package rule

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/ident"
	"github.com/tidwall/gjson"
)

// EntityPath is the gjson path hosts are read from: entity_path for entity
// type path, or entity_keyvalue joined with each key escaped (["details",
// "host"] is "details.host") for keyvalue; "" for explicit.
func (r *Rule) EntityPath() string {
	switch r.EntityType {
	case EntityPathType:
		return r.EntityJSONPath
	case EntityKeyValue:
		parts := make([]string, len(r.EntityKeyValue))
		for i, k := range r.EntityKeyValue {
			parts[i] = gjson.Escape(k)
		}
		return strings.Join(parts, ".")
	}
	return ""
}

// entityField names the rule field holding the entity path, for errors.
func (r *Rule) entityField() string {
	if r.EntityType == EntityPathType {
		return "entity_path"
	}
	return "entity_keyvalue"
}

// ResolveEntities returns the hosts a rule acts on for an alert: the
// explicit list, or the value at entity_keyvalue or entity_path (a string is
// one host, an array of strings several), then only those matching
// entity_filter when it is set. Empty names and duplicates are dropped; no
// host at all, including none left by the filter, is an error, never "all
// hosts".
func (r *Rule) ResolveEntities(env *alert.Envelope) ([]string, error) {
	var hosts []string
	switch r.EntityType {
	case EntityExplicit:
		hosts = r.Entities
	case EntityKeyValue, EntityPathType:
		path, field := r.EntityPath(), r.entityField()
		v := env.Get(path)
		switch {
		case !v.Exists():
			return nil, fmt.Errorf("%s %s: not found in alert", field, path)
		case v.Type == gjson.String:
			hosts = []string{v.Str}
		case v.IsArray():
			for i, h := range v.Array() {
				if h.Type != gjson.String {
					return nil, fmt.Errorf("%s %s[%d]: want a string, got %s", field, path, i, h.Type)
				}
				hosts = append(hosts, h.Str)
			}
		default:
			return nil, fmt.Errorf("%s %s: want a string or an array of strings, got %s", field, path, v.Type)
		}
	default:
		return nil, fmt.Errorf("entity_type %q: unknown", r.EntityType)
	}
	var filter *regexp.Regexp
	if r.EntityFilter != "" {
		var err error
		if filter, err = regexp.Compile(r.EntityFilter); err != nil {
			return nil, fmt.Errorf("entity_filter: invalid regular expression: %s", RegexpProblem(err))
		}
	}
	seen := map[string]bool{}
	var out, dropped []string
	for _, h := range hosts {
		// Every value is checked before anything else reads it, the filter
		// included: a NUL or a line separator is refused, never dropped.
		if err := ident.Check("entity", h, ident.MaxEntity); err != nil {
			return nil, err
		}
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if filter != nil && !filter.MatchString(h) {
			dropped = append(dropped, h)
			continue
		}
		if err := checkEntity(h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		if filter != nil && len(dropped) > 0 {
			return nil, fmt.Errorf("entity_filter %q left no hosts of %d (%s)", r.EntityFilter, len(dropped), strings.Join(trimList(dropped, 5), ", "))
		}
		return nil, fmt.Errorf("no entities resolved")
	}
	return out, nil
}

// trimList keeps at most n elements, noting how many more there were.
func trimList(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(append([]string(nil), list[:n]...), fmt.Sprintf("%d more", len(list)-n))
}

// checkEntity refuses what cannot be one host name: empty, longer than
// ident.MaxEntity, control characters (shared/ident), and characters that
// would make it more than a host to ssh or a shell (space, / @ ; $ ` ' " \
// and a leading -).
func checkEntity(h string) error {
	if err := ident.Check("entity", h, ident.MaxEntity); err != nil {
		return err
	}
	if strings.TrimSpace(h) == "" {
		return fmt.Errorf("entity %s: empty", ident.Quote(h))
	}
	if strings.ContainsAny(h, " /@;$`'\"\\") || strings.HasPrefix(h, "-") {
		return fmt.Errorf("entity %s: not a host name", ident.Quote(h))
	}
	return nil
}
