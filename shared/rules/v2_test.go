package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/alert"
)

// opAlert has a field of every JSON type, unicode text, and arrays.
const opAlert = `{"id": "a1", "message": "Disk full on db01", "description": "Größe überschritten: ÄRGER ✓",
 "tags": ["prod", "db", "team:storage", 5], "count": 17, "ratio": 0.25, "acknowledged": false, "nothing": null,
 "priority": "P1", "createdAt": "2026-11-22T11:50:00Z", "updatedAt": 1795000000000,
 "details": {"host": "db01.example.com", "pct": "93.5", "port": "5432", "empty": "", "bad_num": "93%",
   "hosts": ["db01.example.com", "db02.example.com"], "disks": [{"mount": "/", "pct": 93}, {"mount": "/var", "pct": 40}],
   "obj": {"k": "v"}, "text17": "17", "stamp": "2026-11-22T11:00:00+01:00"},
 "alexis": {"unique_key": "tinyId", "unique_value": "42", "feed_type": "OpsGenie", "feed_name": "incoming"}}`

// whenRule is a valid v2 rule whose "when" is cond (raw JSON).
func whenRule(t testing.TB, cond string, edits map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"enabled": "true", "os_type": "linux", "rule_name": "r", "alert_feed": "OpsGenie",
		"when":        json.RawMessage(cond),
		"task_list":   []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "run_command": "uptime"}}},
		"entity_type": "explicit", "entities": []string{"app01"},
	}
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOperators(t *testing.T) {
	env, err := alert.Decode([]byte(opAlert))
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(path, op string, value any) string {
		v, _ := json.Marshal(value)
		return fmt.Sprintf(`{"path": %q, "op": %q, "value": %s}`, path, op, v)
	}
	noValue := func(path, op string) string { return fmt.Sprintf(`{"path": %q, "op": %q}`, path, op) }
	anyOf := func(path, cond string) string {
		return fmt.Sprintf(`{"path": %q, "op": "any", "cond": %s}`, path, cond)
	}
	tests := []struct {
		name   string
		cond   string
		want   bool
		reason string // part of the explained reason when not matched
	}{
		// equals / not_equals: JSON type and value.
		{"equals string", leaf("priority", "equals", "P1"), true, ""},
		{"equals differs", leaf("priority", "equals", "P2"), false, "value differs"},
		{"equals is case-sensitive", leaf("priority", "equals", "p1"), false, ""},
		{"equals number", leaf("count", "equals", 17), true, ""},
		{"equals number as float", leaf("count", "equals", 17.0), true, ""},
		{"equals number vs string", leaf("count", "equals", "17"), false, "value is a number, not a string"},
		{"equals string vs number", leaf("details.text17", "equals", 17), false, "not a number"},
		{"equals boolean", leaf("acknowledged", "equals", false), true, ""},
		{"equals boolean differs", leaf("acknowledged", "equals", true), false, ""},
		{"equals null", leaf("nothing", "equals", nil), true, ""},
		{"equals null on missing", leaf("no_such", "equals", nil), false, "not in the alert"},
		{"equals missing", leaf("no_such", "equals", "x"), false, "not in the alert"},
		{"equals object", leaf("details.obj", "equals", "v"), false, "an object"},
		{"equals unicode", leaf("description", "equals", "Größe überschritten: ÄRGER ✓"), true, ""},
		{"equals empty string", leaf("details.empty", "equals", ""), true, ""},
		{"equals array element", leaf("tags.1", "equals", "db"), true, ""},
		{"not_equals", leaf("priority", "not_equals", "P2"), true, ""},
		{"not_equals same", leaf("priority", "not_equals", "P1"), false, "value is equal"},
		{"not_equals other type", leaf("count", "not_equals", "17"), true, ""},
		{"not_equals missing", leaf("no_such", "not_equals", "x"), false, "not in the alert"},
		// iequals, unicode case folding.
		{"iequals", leaf("priority", "iequals", "p1"), true, ""},
		{"iequals unicode", leaf("description", "iequals", "GRÖSSE ÜBERSCHRITTEN: ärger ✓"), false, ""}, // ß does not fold to SS
		{"iequals unicode folds", leaf("description", "iequals", "größe ÜBERSCHRITTEN: ärger ✓"), true, ""},
		{"iequals number", leaf("count", "iequals", "17"), false, "not a string"},
		// contains, icontains, starts_with, ends_with.
		{"contains", leaf("message", "contains", "full on"), true, ""},
		{"contains no", leaf("message", "contains", "Full"), false, "no match"},
		{"contains unicode", leaf("description", "contains", "überschritten"), true, ""},
		{"contains missing", leaf("nope", "contains", "x"), false, "not in the alert"},
		{"contains number", leaf("count", "contains", "1"), false, "value is a number, not a string"},
		{"contains array", leaf("tags", "contains", "prod"), false, "value is an array, not a string"},
		{"contains null", leaf("nothing", "contains", "x"), false, "null"},
		{"icontains", leaf("message", "icontains", "FULL ON"), true, ""},
		{"icontains unicode", leaf("description", "icontains", "ärger"), true, ""},
		{"icontains metacharacters literal", leaf("description", "icontains", "ärger ."), false, ""},
		{"starts_with", leaf("message", "starts_with", "Disk"), true, ""},
		{"starts_with no", leaf("message", "starts_with", "disk"), false, ""},
		{"ends_with", leaf("details.host", "ends_with", ".example.com"), true, ""},
		{"ends_with unicode", leaf("description", "ends_with", "✓"), true, ""},
		// regex, iregex.
		{"regex", leaf("message", "regex", `^Disk \w+ on db\d+$`), true, ""},
		{"regex unanchored", leaf("message", "regex", `full`), true, ""},
		{"regex no", leaf("message", "regex", `^full`), false, "no match"},
		{"regex unicode class", leaf("description", "regex", `^\p{Lu}\p{Ll}+e `), true, ""},
		{"regex on number", leaf("count", "regex", `17`), false, "not a string"},
		{"iregex", leaf("message", "iregex", `^disk FULL`), true, ""},
		{"iregex unicode", leaf("description", "iregex", `GRÖẞE`), true, ""},
		// exists, not_exists.
		{"exists", noValue("details.host", "exists"), true, ""},
		{"exists empty string", noValue("details.empty", "exists"), true, ""},
		{"exists false", noValue("acknowledged", "exists"), true, ""},
		{"exists null", noValue("nothing", "exists"), false, "null"},
		{"exists missing", noValue("details.nope", "exists"), false, "not in the alert"},
		{"not_exists missing", noValue("details.nope", "not_exists"), true, ""},
		{"not_exists null", noValue("nothing", "not_exists"), true, ""},
		{"not_exists present", noValue("details.host", "not_exists"), false, "value exists"},
		// gt, gte, lt, lte.
		{"gt number", leaf("count", "gt", 10), true, ""},
		{"gt equal", leaf("count", "gt", 17), false, "comparison is false"},
		{"gte equal", leaf("count", "gte", 17), true, ""},
		{"lt float", leaf("ratio", "lt", 0.5), true, ""},
		{"lte negative", leaf("ratio", "lte", -1), false, ""},
		{"gt numeric string", leaf("details.pct", "gt", 90), true, ""},
		{"gt not numeric string", leaf("details.bad_num", "gt", 90), false, "not a number"},
		{"gt boolean", leaf("acknowledged", "gt", 0), false, "not a number"},
		{"gt missing", leaf("nope", "gt", 0), false, "not in the alert"},
		{"gt time string vs time", leaf("createdAt", "gt", "2026-11-22T11:00:00Z"), true, ""},
		{"lt time string vs time", leaf("createdAt", "lt", "2026-11-22T11:00:00Z"), false, ""},
		{"gt time with offset", leaf("details.stamp", "lt", "2026-11-22T10:30:00Z"), true, ""}, // 10:00Z
		{"gt epoch ms vs time", leaf("updatedAt", "gt", "2026-01-01T00:00:00Z"), true, ""},
		{"gt time string vs epoch ms", leaf("createdAt", "gt", 1795000000000), true, ""},
		{"time vs number", leaf("count", "gt", "2026-01-01T00:00:00Z"), false, "comparison is false"}, // 17 ms after 1970
		{"time vs text", leaf("message", "gt", "2026-01-01T00:00:00Z"), false, "not an RFC 3339 time"},
		// in, not_in.
		{"in", leaf("priority", "in", []any{"P1", "P2"}), true, ""},
		{"in not", leaf("priority", "in", []any{"P3", "P4"}), false, "not in the list"},
		{"in mixed types", leaf("count", "in", []any{"17", 17}), true, ""},
		{"in type matters", leaf("count", "in", []any{"17"}), false, ""},
		{"in missing", leaf("nope", "in", []any{"x"}), false, "not in the alert"},
		{"in null", leaf("nothing", "in", []any{nil}), true, ""},
		{"not_in", leaf("priority", "not_in", []any{"P3"}), true, ""},
		{"not_in listed", leaf("priority", "not_in", []any{"P1"}), false, "in the list"},
		{"not_in missing", leaf("nope", "not_in", []any{"x"}), false, "not in the alert"},
		// tags_include.
		{"tags_include", leaf("tags", "tags_include", []string{"db", "prod"}), true, ""},
		{"tags_include one missing", leaf("tags", "tags_include", []string{"db", "dev"}), false, `"dev" is not in the array`},
		{"tags_include exact", leaf("tags", "tags_include", []string{"Prod"}), false, ""},
		{"tags_include number element is no tag", leaf("tags", "tags_include", []string{"5"}), false, ""},
		{"tags_include other array", leaf("details.hosts", "tags_include", []string{"db02.example.com"}), true, ""},
		{"tags_include not an array", leaf("message", "tags_include", []string{"x"}), false, "not an array"},
		{"tags_include missing", leaf("nope", "tags_include", []string{"x"}), false, "not in the alert"},
		// any.
		{"any element", anyOf("tags", noValue("", "exists")), true, ""},
		{"any string element", anyOf("tags", leaf("", "starts_with", "team:")), true, ""},
		{"any @this", anyOf("details.hosts", leaf("@this", "ends_with", "02.example.com")), true, ""},
		{"any none", anyOf("details.hosts", leaf("", "starts_with", "web")), false, "no element of 2 satisfies cond"},
		{"any objects", anyOf("details.disks", `{"all": [`+leaf("mount", "equals", "/var")+`, `+leaf("pct", "lt", 50)+`]}`), true, ""},
		{"any objects no", anyOf("details.disks", `{"all": [`+leaf("mount", "equals", "/var")+`, `+leaf("pct", "gt", 50)+`]}`), false, ""},
		{"any element of wrong type", anyOf("tags", leaf("", "gt", 1)), true, ""},
		{"any not an array", anyOf("message", noValue("", "exists")), false, "not an array"},
		{"any missing", anyOf("nope", noValue("", "exists")), false, "not in the alert"},
		{"any nested any", anyOf("details.disks", `{"any": [`+leaf("pct", "equals", 93)+`]}`), true, ""},
		// Trees.
		{"all", `{"all": [` + leaf("priority", "equals", "P1") + `, ` + leaf("count", "gt", 1) + `]}`, true, ""},
		{"all one fails", `{"all": [` + leaf("priority", "equals", "P1") + `, ` + leaf("count", "gt", 100) + `]}`, false, "comparison is false"},
		{"any block", `{"any": [` + leaf("priority", "equals", "P2") + `, ` + leaf("count", "gt", 1) + `]}`, true, ""},
		{"any block fails", `{"any": [` + leaf("priority", "equals", "P2") + `, ` + leaf("count", "gt", 100) + `]}`, false, "none of the 2 conditions holds"},
		{"not", `{"not": ` + leaf("priority", "equals", "P2") + `}`, true, ""},
		{"not holds", `{"not": ` + leaf("priority", "equals", "P1") + `}`, false, "the condition under not holds"},
		{"not missing is true", `{"not": ` + leaf("nope", "equals", "x") + `}`, true, ""},
		{"deep", `{"all": [{"not": {"any": [` + noValue("nope", "exists") + `]}}, {"any": [{"all": [` + noValue("id", "exists") + `]}]}]}`, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := Compile(whenRule(t, tc.cond, nil))
			if err != nil {
				t.Fatalf("compile %s: %v", tc.cond, err)
			}
			a := NewAlert(env)
			out, err := m.Match(a, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := out == Matched; got != tc.want {
				t.Errorf("%s: matched = %v, want %v", tc.cond, got, tc.want)
			}
			// A fresh alert (no cached lookups) explains the same outcome.
			xout, failure, err := m.Explain(NewAlert(env), testNow)
			if err != nil || xout != out || (failure == nil) != (out != NoMatch) {
				t.Fatalf("explain = %s, %+v, %v; match said %s", xout, failure, err, out)
			}
			if failure != nil && !strings.Contains(failure.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", failure.Reason, tc.reason)
			}
			if failure != nil && !strings.HasPrefix(failure.RulePath, "when") {
				t.Errorf("rule path %q", failure.RulePath)
			}
		})
	}
}

func TestExplainFailure(t *testing.T) {
	env, err := alert.Decode([]byte(opAlert))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rule []byte
		want Failure // Alternatives compared by count only
		alts int
	}{
		{
			name: "first failing leaf of all",
			rule: whenRule(t, `{"all": [{"path": "priority", "op": "equals", "value": "P1"}, {"path": "details.host", "op": "regex", "value": "^web"}]}`, nil),
			want: Failure{RulePath: "when.all[1]", AlertPath: "details.host", Op: "regex", Expected: json.RawMessage(`"^web"`),
				Actual: `"db01.example.com"`, Reason: "no match"},
		},
		{
			name: "missing value",
			rule: whenRule(t, `{"path": "details.service", "op": "equals", "value": "nginx"}`, nil),
			want: Failure{RulePath: "when", AlertPath: "details.service", Op: "equals", Expected: json.RawMessage(`"nginx"`),
				Actual: "(missing)", Reason: "not in the alert"},
		},
		{
			name: "any block lists every alternative",
			rule: whenRule(t, `{"all": [{"path": "id", "op": "exists"}, {"any": [{"path": "priority", "op": "equals", "value": "P5"}, {"not": {"path": "count", "op": "gt", "value": 1}}]}]}`, nil),
			want: Failure{RulePath: "when.all[1].any", Op: "any", Reason: "none of the 2 conditions holds"},
			alts: 2,
		},
		{
			name: "not",
			rule: whenRule(t, `{"not": {"path": "details.pct", "op": "gt", "value": 90}}`, nil),
			want: Failure{RulePath: "when.not", AlertPath: "details.pct", Op: "not", Expected: json.RawMessage(`90`),
				Actual: `"93.5"`, Reason: "the condition under not holds (details.pct gt)"},
		},
		{
			name: "inside any element",
			rule: whenRule(t, `{"path": "details.hosts", "op": "any", "cond": {"path": "", "op": "equals", "value": "x"}}`, nil),
			want: Failure{RulePath: "when", AlertPath: "details.hosts", Op: "any",
				Actual: `["db01.example.com","db02.example.com"]`, Reason: "no element of 2 satisfies cond"},
		},
		{
			name: "v1 tags before when",
			rule: whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"evaluation_list": []any{
				map[string]any{"evaluation": map[string]any{"tags": []string{"prod", "web"}}}}}),
			want: Failure{RulePath: "evaluation_list[0].evaluation.tags", AlertPath: "tags", Op: "tags_include",
				Expected: json.RawMessage(`["prod","web"]`), Actual: `["prod","db","team:storage"]`, Reason: `tag "web" is not on the alert`},
		},
		{
			name: "v1 search_text",
			rule: whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"evaluation_list": []any{
				map[string]any{"evaluation": map[string]any{"search_key": "message", "search_text": "CPU"}}}}),
			want: Failure{RulePath: "evaluation_list[0].evaluation.search_text", AlertPath: "message", Op: "regex",
				Expected: json.RawMessage(`"CPU"`), Actual: `"Disk full on db01"`, Reason: "regular expression not found"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := Compile(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			out, f, err := m.Explain(NewAlert(env), testNow)
			if err != nil || out != NoMatch || f == nil {
				t.Fatalf("explain = %s, %+v, %v", out, f, err)
			}
			if len(f.Alternatives) != tc.alts {
				t.Errorf("%d alternatives, want %d: %+v", len(f.Alternatives), tc.alts, f.Alternatives)
			}
			f.Alternatives = nil
			got, _ := json.Marshal(f)
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Errorf("failure\n got %s\nwant %s", got, want)
			}
		})
	}

	// Long values are trimmed.
	long := `{"message": "` + strings.Repeat("é", 300) + `", "alexis": {"feed_type": "OpsGenie", "unique_value": "1"}}`
	env2, _ := alert.Decode([]byte(long))
	_, m, _ := Compile(whenRule(t, `{"path": "message", "op": "equals", "value": "x"}`, nil))
	_, f, _ := m.Explain(NewAlert(env2), testNow)
	if f == nil || len(f.Actual) > maxActual+30 || !strings.Contains(f.Actual, "…(602 bytes)") {
		t.Errorf("actual not trimmed: %q", f.Actual)
	}
}

func TestExplainStatuses(t *testing.T) {
	d, dir, _ := newDir(t)
	writeFile(t, dir, "a_match.json", whenRule(t, `{"path": "priority", "op": "equals", "value": "P1"}`, map[string]any{"rule_name": "a"}))
	writeFile(t, dir, "b_nomatch.json", whenRule(t, `{"path": "priority", "op": "equals", "value": "P2"}`, map[string]any{"rule_name": "b"}))
	writeFile(t, dir, "c_young.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "c", "min_age": "1h"}))
	writeFile(t, dir, "d_disabled.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "d", "enabled": "false"}))
	writeFile(t, dir, "e_other.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "e", "alert_feed": "Dynatrace"}))
	writeFile(t, dir, "f_invalid.json", whenRule(t, `{"all": []}`, map[string]any{"rule_name": "f"}))
	writeFile(t, dir, "g_error.json", whenRule(t, `{"path": "id", "op": "exists"}`, map[string]any{"rule_name": "g", "min_age": "1m"}))
	env, err := alert.Decode([]byte(opAlert))
	if err != nil {
		t.Fatal(err)
	}
	xs := Explain(load(t, d), NewAlert(env), testNow)
	var got []string
	for _, x := range xs {
		got = append(got, x.RuleName+"="+x.Status)
	}
	want := "a=matched,b=not_matched,c=deferred,d=disabled,e=other_feed,f=invalid,g=matched"
	if strings.Join(got, ",") != want {
		t.Errorf("statuses %v, want %s", got, want)
	}
	if xs[2].Wait != "1h0m0s" || xs[2].Age != "10m0s" || len(xs[5].Errors) == 0 || xs[1].Failure == nil {
		t.Errorf("details: %+v", xs)
	}
	if Verdict(xs) != "matched" || Verdict(xs[1:3]) != "deferred" || Verdict(xs[1:2]) != "unmatched" {
		t.Error("verdict")
	}
	noCreated, _ := alert.Decode([]byte(strings.Replace(opAlert, `"createdAt": "2026-11-22T11:50:00Z",`, ``, 1)))
	xs = Explain(load(t, d), NewAlert(noCreated), testNow)
	if xs[6].Status != ExplainError || !strings.Contains(xs[6].Error, "createdAt: missing") {
		t.Errorf("no createdAt: %+v", xs[6])
	}
}

func TestWait(t *testing.T) {
	env, _ := alert.Decode([]byte(opAlert)) // created 10 minutes before testNow
	tests := []struct {
		name  string
		edits map[string]any
		want  Outcome
	}{
		{"min_age reached", map[string]any{"min_age": "10m"}, Matched},
		{"min_age not reached", map[string]any{"min_age": "11m"}, Deferred},
		{"evaluation duration longer", map[string]any{"min_age": "1m", "evaluation_list": []any{
			map[string]any{"evaluation": map[string]any{"tags": []string{"prod"}, "duration": "20m"}}}}, Deferred},
		{"min_age longer", map[string]any{"min_age": "20m", "evaluation_list": []any{
			map[string]any{"evaluation": map[string]any{"tags": []string{"prod"}, "duration": "1m"}}}}, Deferred},
		{"no match is never deferred", map[string]any{"min_age": "1h", "evaluation_list": []any{
			map[string]any{"evaluation": map[string]any{"tags": []string{"dev"}}}}}, NoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := Compile(whenRule(t, `{"path": "id", "op": "exists"}`, tc.edits))
			if err != nil {
				t.Fatal(err)
			}
			if out, err := m.Match(NewAlert(env), testNow); err != nil || out != tc.want {
				t.Errorf("outcome %s, %v; want %s", out, err, tc.want)
			}
		})
	}
}
