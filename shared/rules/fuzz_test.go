package rules

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
)

// FuzzMatch feeds arbitrary envelopes and rule files (v1 and v2) through
// the loader and the matcher: nothing panics, a file that does not compile
// is never loaded (so never matches), Explain decides as Match does, the
// tag index never hides a rule that matches, and whatever matches really
// satisfies the v1 evaluations, checked here independently of the matcher.
func FuzzMatch(f *testing.F) {
	alerts, _ := filepath.Glob("../../classifier/testdata/alerts/*.json")
	more, _ := filepath.Glob("../../classifier/testdata/golden/alerts/*.json")
	alerts = append(alerts, more...)
	ruleFiles, _ := filepath.Glob("../../classifier/testdata/rules/*.json")
	more, _ = filepath.Glob("../../classifier/testdata/rules_v2/*.json")
	ruleFiles = append(ruleFiles, more...)
	more, _ = filepath.Glob("../../classifier/testdata/rules_intake/*.json")
	ruleFiles = append(ruleFiles, more...)
	for _, a := range alerts {
		ad, _ := os.ReadFile(a)
		for _, r := range ruleFiles {
			rd, _ := os.ReadFile(r)
			f.Add(ad, rd)
		}
	}
	f.Add([]byte(`{"tags":["x"],"d":5,"alexis":{"feed_type":"f","unique_value":"1"}}`),
		[]byte(`{"enabled":true,"os_type":"l","rule_name":"n","alert_feed":"F","evaluation_list":[{"evaluation":{"tags":["x"],"search_key":"d","search_text":"5","duration":"1h"}}],"task_list":[{"task":{"task_type":"remote_ssh","run_command":"c"}}],"entity_type":"explicit","entities":["h"]}`))

	f.Add([]byte(opAlert), whenRule(f, `{"all": [{"path": "tags", "op": "tags_include", "value": ["prod"]}, {"path": "details.disks", "op": "any", "cond": {"path": "pct", "op": "gte", "value": 90}}]}`, nil))
	f.Add([]byte(opAlert), whenRule(f, `{"any": [{"path": "message", "op": "iregex", "value": "disk"}, {"not": {"path": "count", "op": "in", "value": [1, "17"]}}]}`, map[string]any{"min_age": "1m"}))

	dir := f.TempDir()
	d := NewDir(DirOptions{Dir: dir, Log: zerolog.Nop(), Poll: true})
	var mu sync.Mutex

	f.Fuzz(func(t *testing.T, envData, ruleData []byte) {
		env, err := alert.Decode(envData)
		if err != nil {
			return
		}
		def, m, cerr := Compile(ruleData)

		mu.Lock()
		if err := os.WriteFile(filepath.Join(dir, "fuzz.json"), ruleData, 0o644); err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
		set, err := d.Load(context.Background())
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if cerr != nil {
			if def != nil || m != nil {
				t.Fatal("Compile returned a rule with an error")
			}
			if len(set.Rules) != 0 || set.Files[0].Status != StatusInvalid || len(set.Files[0].Errors) == 0 {
				t.Fatalf("invalid rule file loaded: %+v", set.Files)
			}
			return
		}
		if len(set.Rules) != 1 {
			t.Fatalf("valid rule file not loaded: %+v", set.Files)
		}

		r := set.Rules[0]
		out, err := r.Match(NewAlert(env), testNow)
		if err != nil && out != NoMatch {
			t.Fatalf("outcome %s with error %v", out, err)
		}
		if r.Applies(env.Meta.FeedType) {
			xout, failure, xerr := r.Matcher.Explain(NewAlert(env), testNow)
			if xout != out || (xerr == nil) != (err == nil) || (failure != nil) != (out == NoMatch && err == nil) {
				t.Fatalf("explain %s %+v %v, match %s %v", xout, failure, xerr, out, err)
			}
		}
		if out == NoMatch {
			return
		}
		found := false
		set.Candidates(NewAlert(env), func(c *Rule) bool { found = found || c == r; return true })
		if !found {
			t.Fatalf("%s rule not among the candidates for its alert", out)
		}
		// Matched or Deferred: every condition must really hold.
		if !bool(r.Def.Enabled) || !strings.EqualFold(r.Def.AlertFeed, env.Meta.FeedType) {
			t.Fatalf("%s: rule disabled or for another feed", out)
		}
		tags := map[string]bool{}
		for _, tag := range env.Get("tags").Array() {
			if tag.Type == gjson.String && env.Get("tags").IsArray() {
				tags[tag.Str] = true
			}
		}
		for i, item := range r.Def.Evaluations {
			e := item.Evaluation
			for _, tag := range e.Tags {
				if !tags[tag] {
					t.Fatalf("%s: evaluation %d tag %q not on the alert", out, i, tag)
				}
			}
			if e.SearchKey == "" {
				continue
			}
			v := env.Get(gjson.Escape(e.SearchKey))
			if !v.Exists() || v.IsObject() || v.IsArray() || v.Type == gjson.Null {
				t.Fatalf("%s: evaluation %d field %q missing or not a scalar", out, i, e.SearchKey)
			}
			text := v.Str
			if v.Type != gjson.String {
				text = v.Raw
			}
			if !regexp.MustCompile(e.SearchText).MatchString(text) {
				t.Fatalf("%s: evaluation %d: %q not found in %q", out, i, e.SearchText, text)
			}
		}
	})
}
