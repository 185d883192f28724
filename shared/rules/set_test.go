package rules

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/alert"
)

func TestSetCandidates(t *testing.T) {
	d, dir, _ := newDir(t)
	tagged := func(name string, tags ...string) []byte {
		v, _ := json.Marshal(tags)
		return whenRule(t, `{"all": [{"path": "tags", "op": "tags_include", "value": `+string(v)+`}, {"path": "id", "op": "exists"}]}`,
			map[string]any{"rule_name": name})
	}
	writeFile(t, dir, "1.json", tagged("db_only", "db"))
	writeFile(t, dir, "2.json", tagged("db_and_prod", "prod", "db"))
	writeFile(t, dir, "3.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "untagged"}))
	writeFile(t, dir, "4.json", tagged("web", "web", "prod"))
	writeFile(t, dir, "5.json", whenRule(t, `{"any": [{"path": "tags", "op": "tags_include", "value": ["db"]}, {"path": "id", "op": "exists"}]}`,
		map[string]any{"rule_name": "tags_in_any_are_not_required"}))
	writeFile(t, dir, "6.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "disabled", "enabled": "false"}))
	writeFile(t, dir, "7.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "dynatrace", "alert_feed": "Dynatrace"}))
	set := load(t, d)
	if n := set.Applicable("opsgenie"); n != 5 {
		t.Errorf("applicable = %d, want the 5 enabled OpsGenie rules", n)
	}
	tests := []struct {
		tags     string
		excluded string // rules the index leaves out
	}{
		{`["prod", "db"]`, "web"},
		{`["db", "db"]`, "web"},
		{`["web"]`, "db_only,db_and_prod"},
		{`[]`, "db_only,db_and_prod,web"},
		{`"db"`, "db_only,db_and_prod,web"}, // tags that are not an array are no tags
	}
	for _, tc := range tests {
		t.Run(tc.tags, func(t *testing.T) {
			env, err := alert.Decode([]byte(`{"id": "1", "tags": ` + tc.tags + `, "alexis": {"feed_type": "OpsGenie", "unique_value": "1"}}`))
			if err != nil {
				t.Fatal(err)
			}
			a := NewAlert(env)
			var got []string
			prev := -1
			set.Candidates(a, func(r *Rule) bool {
				got = append(got, r.Def.Name)
				for i, sr := range set.Rules {
					if sr == r {
						if i <= prev {
							t.Errorf("candidates out of file order: %v", got)
						}
						prev = i
					}
				}
				return true
			})
			// Skipped lists exactly the rules Candidates left out, in file
			// order, each with a tag the alert lacks.
			var skipped []string
			set.Skipped(a, func(r *Rule, tag string) bool {
				skipped = append(skipped, r.Def.Name)
				if a.HasTags([]string{tag}) || !slices.Contains(r.Matcher.RequiredTags(), tag) {
					t.Errorf("rule %s skipped for tag %q", r.Def.Name, tag)
				}
				return true
			})
			var want []string
			for _, r := range set.Rules {
				if r.Applies("OpsGenie") && !slices.Contains(got, r.Def.Name) {
					want = append(want, r.Def.Name)
				}
			}
			if !slices.Equal(skipped, want) {
				t.Errorf("skipped %v, want %v", skipped, want)
			}
			list := "," + strings.Join(got, ",") + ","
			for _, name := range strings.Split(tc.excluded, ",") {
				if strings.Contains(list, ","+name+",") {
					t.Errorf("candidates %v include %s", got, name)
				}
			}
			for _, name := range []string{"untagged", "tags_in_any_are_not_required"} {
				if !strings.Contains(list, ","+name+",") {
					t.Errorf("candidates %v lack %s", got, name)
				}
			}
			// Candidates may include rules that then do not match, never
			// leave out one that does.
			for _, r := range set.Rules {
				if out, _ := r.Match(a, testNow); out == Matched && !strings.Contains(list, ","+r.Def.Name+",") {
					t.Errorf("matching rule %s is no candidate", r.Def.Name)
				}
			}
		})
	}
}

// FuzzCompile: a rule file either fails to compile with errors and nothing
// else, or compiles, and then what the classifier sends the action handler
// compiles again.
func FuzzCompile(f *testing.F) {
	f.Add(whenRule(f, `{"all": [{"path": "a", "op": "regex", "value": "x(y"}]}`, nil))
	f.Add(whenRule(f, `{"path": "tags", "op": "any", "cond": {"path": "", "op": "icontains", "value": "Ä"}}`, nil))
	f.Add(ruleJSON(f, []ev{{Tags: []string{"a"}, SearchKey: "message", SearchText: "x"}}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, m, err := Compile(data)
		if err != nil {
			if def != nil || m != nil {
				t.Fatal("definition or matcher returned with an error")
			}
			return
		}
		out, err := json.Marshal(def)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Compile(out); err != nil {
			t.Fatalf("re-compile of %s: %v", out, err)
		}
	})
}
