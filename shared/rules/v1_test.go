package rules

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/rule"
)

// testNow is 10 minutes after the createdAt of testdata/alerts/gc_alert.json.
var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// ev is one v1 evaluation for ruleJSON.
type ev struct {
	Tags       []string `json:"tags,omitempty"`
	SearchKey  string   `json:"search_key,omitempty"`
	SearchText string   `json:"search_text,omitempty"`
	Duration   string   `json:"duration,omitempty"`
}

// ruleJSON builds a valid v1 rule file from evaluations, then applies edits
// to its top-level fields (a nil value deletes the field).
func ruleJSON(t testing.TB, evals []ev, edits map[string]any) []byte {
	t.Helper()
	var list []map[string]ev
	for _, e := range evals {
		list = append(list, map[string]ev{"evaluation": e})
	}
	r := map[string]any{
		"enabled": "true", "os_type": "linux", "rule_name": "test_rule", "rule_version": "1",
		"alert_feed":      "OpsGenie",
		"evaluation_list": list,
		"task_list":       []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "run_command": "uptime"}}},
		"entity_type":     "explicit", "entities": []string{"app01.example.com"},
	}
	for k, v := range edits {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadAlert(t testing.TB, path string) *alert.Envelope {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := alert.Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return env
}

// alertWith returns the test alert with top-level fields replaced (nil deletes).
func alertWith(t testing.TB, edits map[string]any) *alert.Envelope {
	t.Helper()
	env := loadAlert(t, "../../classifier/testdata/alerts/gc_alert.json")
	if len(edits) == 0 {
		return env
	}
	var m map[string]any
	if err := json.Unmarshal(env.Raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	env, err := alert.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestMatchV1(t *testing.T) {
	gc := ev{Tags: []string{"syn.day", "syn.duplicator"}, SearchKey: "description", SearchText: "Long garbage-collection time"}
	tests := []struct {
		name      string
		evals     []ev
		ruleEdits map[string]any
		alert     map[string]any // edits to testdata/alerts/gc_alert.json
		want      Outcome
		wantErr   string // Match error
	}{
		{name: "tags and regex match", evals: []ev{gc}, want: Matched},
		{name: "tags subset", evals: []ev{{Tags: []string{"prod"}}}, want: Matched},
		{name: "tag missing from alert", evals: []ev{{Tags: []string{"syn.day", "syn.night"}}}, want: NoMatch},
		{name: "tags compare exactly", evals: []ev{{Tags: []string{"SYN.DAY"}}}, want: NoMatch},
		{name: "tag prefix is not a tag", evals: []ev{{Tags: []string{"syn"}}}, want: NoMatch},
		{name: "alert without tags", evals: []ev{gc}, alert: map[string]any{"tags": nil}, want: NoMatch},
		{name: "alert tags not an array", evals: []ev{{Tags: []string{"syn.day"}}}, alert: map[string]any{"tags": "syn.day"}, want: NoMatch},
		{name: "non-string alert tag", evals: []ev{{Tags: []string{"1"}}}, alert: map[string]any{"tags": []any{1}}, want: NoMatch},
		{name: "regex found unanchored", evals: []ev{{SearchKey: "description", SearchText: "garbage-collection"}}, want: Matched},
		{name: "regex syntax", evals: []ev{{SearchKey: "description", SearchText: `^Long .* \(\d+\.\d s\)$`}}, want: Matched},
		{name: "regex not found", evals: []ev{{SearchKey: "description", SearchText: "out of memory"}}, want: NoMatch},
		{name: "regex is case-sensitive", evals: []ev{{SearchKey: "description", SearchText: "long garbage"}}, want: NoMatch},
		{name: "regex case-insensitive flag", evals: []ev{{SearchKey: "description", SearchText: "(?i)long garbage"}}, want: Matched},
		{name: "search_key missing", evals: []ev{{SearchKey: "no_such_field", SearchText: ".*"}}, want: NoMatch},
		{name: "search_key null", evals: []ev{{SearchKey: "description", SearchText: ".*"}}, alert: map[string]any{"description": json.RawMessage(`null`)}, want: NoMatch},
		{name: "search_key object", evals: []ev{{SearchKey: "details", SearchText: ".*"}}, want: NoMatch},
		{name: "search_key array", evals: []ev{{SearchKey: "tags", SearchText: "syn"}}, want: NoMatch},
		{name: "search_key number as written", evals: []ev{{SearchKey: "count", SearchText: "^17$"}}, want: Matched},
		{name: "search_key boolean", evals: []ev{{SearchKey: "acknowledged", SearchText: "^false$"}}, want: Matched},
		{name: "search_key is top-level, not a path", evals: []ev{{SearchKey: "details.host", SearchText: "^dotted-key$"}}, want: Matched},
		{name: "search_key path not followed", evals: []ev{{SearchKey: "details.host", SearchText: "app01"}}, want: NoMatch},
		{name: "feed type case-insensitive", evals: []ev{gc}, ruleEdits: map[string]any{"alert_feed": "opsgenie"}, want: Matched},
		{name: "other feed", evals: []ev{gc}, ruleEdits: map[string]any{"alert_feed": "Dynatrace"}, want: NoMatch},
		{name: "disabled", evals: []ev{gc}, ruleEdits: map[string]any{"enabled": "false"}, want: NoMatch},
		{name: "disabled boolean", evals: []ev{gc}, ruleEdits: map[string]any{"enabled": false}, want: NoMatch},
		{name: "enabled boolean", evals: []ev{gc}, ruleEdits: map[string]any{"enabled": true}, want: Matched},
		{name: "all evaluations pass", evals: []ev{gc, {Tags: []string{"prod"}, SearchKey: "message", SearchText: "app01$"}}, want: Matched},
		{name: "one evaluation fails", evals: []ev{gc, {SearchKey: "message", SearchText: "app02"}}, want: NoMatch},
		{name: "first evaluation fails", evals: []ev{{Tags: []string{"dev"}}, gc}, want: NoMatch},
		{name: "duration not reached", evals: []ev{withDuration(gc, "20m")}, want: Deferred},
		{name: "duration reached", evals: []ev{withDuration(gc, "5m")}, want: Matched},
		{name: "duration exactly reached", evals: []ev{withDuration(gc, "10m")}, want: Matched},
		{name: "zero duration ignores createdAt", evals: []ev{withDuration(gc, "0m")}, alert: map[string]any{"createdAt": nil}, want: Matched},
		{name: "longest duration counts", evals: []ev{withDuration(gc, "5m"), withDuration(ev{Tags: []string{"prod"}}, "20m")}, want: Deferred},
		{name: "no match is never deferred", evals: []ev{withDuration(ev{Tags: []string{"dev"}}, "20m")}, want: NoMatch},
		{name: "createdAt epoch milliseconds", evals: []ev{withDuration(gc, "5m")},
			alert: map[string]any{"createdAt": testNow.Add(-6 * time.Minute).UnixMilli()}, want: Matched},
		{name: "createdAt epoch milliseconds young", evals: []ev{withDuration(gc, "5m")},
			alert: map[string]any{"createdAt": testNow.Add(-4 * time.Minute).UnixMilli()}, want: Deferred},
		{name: "createdAt in the future", evals: []ev{withDuration(gc, "5m")},
			alert: map[string]any{"createdAt": "2026-11-22T12:30:00Z"}, want: Deferred},
		{name: "createdAt missing with duration", evals: []ev{withDuration(gc, "5m")},
			alert: map[string]any{"createdAt": nil}, wantErr: "createdAt: missing"},
		{name: "createdAt unparseable with duration", evals: []ev{withDuration(gc, "5m")},
			alert: map[string]any{"createdAt": "yesterday"}, wantErr: "not an RFC 3339 time"},
		{name: "createdAt wrong type with duration", evals: []ev{withDuration(gc, "5m")},
			alert: map[string]any{"createdAt": true}, wantErr: "want an RFC 3339 string or epoch milliseconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def, m, err := Compile(ruleJSON(t, tc.evals, tc.ruleEdits))
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			r := &Rule{File: "test.json", Def: def, Matcher: m}
			got, err := r.Match(NewAlert(alertWith(t, tc.alert)), testNow)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if got == Matched {
					t.Fatal("a rule that could not be evaluated must not match")
				}
				return
			}
			if err != nil {
				t.Fatalf("match: %v", err)
			}
			if got != tc.want {
				t.Errorf("outcome = %s, want %s", got, tc.want)
			}
		})
	}
}

func withDuration(e ev, d string) ev {
	e.Duration = d
	return e
}

func TestCompileInvalid(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		wantPath string
	}{
		{name: "invalid regex", data: ruleJSON(t, []ev{{SearchKey: "description", SearchText: "garbage-(collection"}}, nil),
			wantPath: "evaluation_list[0].evaluation.search_text"},
		{name: "second evaluation invalid regex", data: ruleJSON(t, []ev{{Tags: []string{"a"}}, {SearchKey: "message", SearchText: `\k`}}, nil),
			wantPath: "evaluation_list[1].evaluation.search_text"},
		{name: "missing rule_name", data: ruleJSON(t, []ev{{Tags: []string{"a"}}}, map[string]any{"rule_name": nil}), wantPath: "rule_name"},
		{name: "bad duration", data: ruleJSON(t, []ev{{Tags: []string{"a"}, Duration: "20 minutes"}}, nil),
			wantPath: "evaluation_list[0].evaluation.duration"},
		{name: "not JSON", data: []byte(`{"rule_name": `), wantPath: "$"},
		{name: "search_key without search_text", data: ruleJSON(t, []ev{{SearchKey: "description"}}, nil),
			wantPath: "evaluation_list[0].evaluation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def, m, err := Compile(tc.data)
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			if def != nil || m != nil {
				t.Error("an invalid rule must come back without definition or matcher")
			}
			var errs rule.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not rule.Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.Path == tc.wantPath {
					return
				}
			}
			t.Errorf("errors %v do not name %s", errs, tc.wantPath)
		})
	}
}
