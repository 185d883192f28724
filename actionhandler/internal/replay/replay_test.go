package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/httptask"
	"github.com/alexis-ops/alexis/shared/task/tasks"
)

var ctx = context.Background()

// ruleJSON is a rule matching alerts tagged tag, running command on the
// alert's details.host.
func ruleJSON(name, tag, command string) string {
	return fmt.Sprintf(`{"rule_name": %q, "enabled": "true", "os_type": "linux", "alert_feed": "OpsGenie",
	 "evaluation_list": [{"evaluation": {"tags": [%q]}}],
	 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"],
	 "task_list": [{"task": {"task_type": "remote_ssh", "action": "restart", "run_command": %q, "template": true}}],
	 "route_to_team": "ops"}`, name, tag, command)
}

func alertJSON(id, tag, service string) []byte {
	return []byte(fmt.Sprintf(`{"id": %q, "tinyId": %q, "message": "trouble on web01", "tags": [%q],
	 "details": {"host": "web01.example.com", "service": %q}, "createdAt": "2026-12-01T10:00:00Z",
	 "alexis": {"unique_key": "tinyId", "unique_value": %q, "feed_type": "OpsGenie", "feed_name": "incoming"}}`,
		id, id, tag, service, id))
}

type fixture struct {
	t     *testing.T
	st    *store.SQL
	at    time.Time
	n     int
	decs  []api.Decision
	execs []*store.Execution
}

func newFixture(t *testing.T) *fixture {
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "alexis.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{t: t, st: st, at: time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)}
}

// decided records a decision for payload: matched by the rules (rule
// files' contents, each executed) or unmatched when none.
func (f *fixture) decided(payload []byte, executed ...string) string {
	f.t.Helper()
	f.n++
	env, err := alert.Decode(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	d := api.Decision{ID: fmt.Sprintf("%032x", f.n), ReceivedAt: f.at.Add(time.Duration(f.n) * time.Minute),
		FeedType: env.Meta.FeedType, FeedName: env.Meta.FeedName, AlertID: env.ID(), UniqueValue: env.Meta.UniqueValue,
		Summary: "trouble on web01", Result: api.ResultUnmatched, RulesChecked: 3, Payload: payload}
	for i, data := range executed {
		def, err := rule.Parse([]byte(data))
		if err != nil {
			f.t.Fatal(err)
		}
		req, err := json.Marshal(&action.Request{Alert: env, Rule: def})
		if err != nil {
			f.t.Fatal(err)
		}
		x := &store.Execution{ID: fmt.Sprintf("x%d-%d", f.n, i), AlertID: env.ID(), UniqueValue: env.Meta.UniqueValue,
			FeedType: env.Meta.FeedType, FeedName: env.Meta.FeedName, RuleName: def.Name, Client: "classifier",
			Request: req, Entities: []string{"web01.example.com"}}
		if _, _, err := f.st.Create(ctx, x, time.Hour); err != nil {
			f.t.Fatal(err)
		}
		d.Result = api.ResultMatched
		d.Matched = append(d.Matched, api.MatchedAction{RuleName: def.Name, ExecutionID: x.ID, Status: "accepted"})
	}
	if err := f.st.RecordDecisions(ctx, []api.Decision{d}); err != nil {
		f.t.Fatal(err)
	}
	return d.ID
}

func (f *fixture) record(d api.Decision) {
	f.t.Helper()
	if err := f.st.RecordDecisions(ctx, []api.Decision{d}); err != nil {
		f.t.Fatal(err)
	}
}

func candidate(t *testing.T, files map[string]string) *rules.Set {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	set, err := rules.FromFiles(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.Files {
		if f.Status != rules.StatusOK {
			t.Fatalf("%s: %v", f.Path, f.Errors)
		}
	}
	return set
}

func runners(t *testing.T) map[string]task.Runner {
	t.Helper()
	rs, err := tasks.Runners(tasks.All(), task.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func byDecision(rep *Report) map[string]Difference {
	out := map[string]Difference{}
	for _, d := range rep.Differences {
		out[d.DecisionID] = d
	}
	return out
}

// TestKinds: one recorded alert of each kind, plus an unchanged one and
// one too large to have been kept.
func TestKinds(t *testing.T) {
	f := newFixture(t)
	restart := ruleJSON("restart_app", "app-down", "systemctl restart {{ .details.service }}")
	cpu := ruleJSON("cpu_hog", "cpu", "renice 10 -p 1")
	oldDisk := ruleJSON("disk_old", "disk", "rm -f /tmp/*.old")

	same := f.decided(alertJSON("a1", "app-down", "nginx"), restart)
	cmd := f.decided(alertJSON("a2", "app-down", "redis"), restart)
	newly := f.decided(alertJSON("a3", "mem", "java"))
	gone := f.decided(alertJSON("a4", "cpu", "java"), cpu)
	other := f.decided(alertJSON("a5", "disk", "java"), oldDisk)
	still := f.decided(alertJSON("a6", "nothing", "x"))
	f.record(api.Decision{ID: fmt.Sprintf("%032x", 99), ReceivedAt: f.at, FeedType: "OpsGenie", AlertID: "big",
		Result: api.ResultUnmatched, PayloadOmitted: true})
	f.record(api.Decision{ID: fmt.Sprintf("%032x", 98), ReceivedAt: f.at, FeedType: "OpsGenie", AlertID: "direct",
		Result: api.ResultDirect, Payload: alertJSON("a9", "app-down", "nginx")})

	// The candidate: restart_app runs another command for redis only,
	// cpu_hog is gone, disk_old became disk_new, mem_hog is new.
	set := candidate(t, map[string]string{
		"restart.json": ruleJSON("restart_app", "app-down",
			`systemctl {{ if eq .details.service "redis" }}try-restart{{ else }}restart{{ end }} {{ .details.service }}`),
		"disk.json": ruleJSON("disk_new", "disk", "rm -f /tmp/*.old"),
		"mem.json":  ruleJSON("mem_hog", "mem", "systemctl restart {{ .details.service }}"),
	})
	rep, err := New(Options{Store: f.st, Runners: runners(t)}).Replay(ctx, Request{Rules: set})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decisions != 8 || rep.Replayed != 6 || rep.Unchanged != 2 || rep.Truncated ||
		rep.Skipped[SkipPayloadOmitted] != 1 || rep.Skipped[SkipNotClassified] != 1 {
		t.Errorf("report %+v", rep)
	}
	for _, k := range Kinds {
		if rep.Counts[k] != 1 {
			t.Errorf("count %s = %d, want 1 (%v)", k, rep.Counts[k], rep.Counts)
		}
	}
	got := byDecision(rep)
	if _, ok := got[same]; ok {
		t.Errorf("unchanged alert reported: %+v", got[same])
	}
	if _, ok := got[still]; ok {
		t.Errorf("still unmatched alert reported: %+v", got[still])
	}
	check := func(id, kind, before, after string) Difference {
		t.Helper()
		d, ok := got[id]
		if !ok {
			t.Fatalf("%s: no difference (want %s)", id, kind)
		}
		names := func(rs []Rule) string {
			var n []string
			for _, r := range rs {
				n = append(n, r.RuleName)
			}
			return strings.Join(n, ",")
		}
		if d.Kind != kind || names(d.Before) != before || names(d.After) != after {
			t.Errorf("%s: %s %q → %q, want %s %q → %q", id, d.Kind, names(d.Before), names(d.After), kind, before, after)
		}
		return d
	}
	d := check(cmd, CommandChanged, "restart_app", "restart_app")
	if len(d.Before[0].Commands) != 1 || d.Before[0].Commands[0].Command != "run 'systemctl restart 'redis''" ||
		d.After[0].Commands[0].Command != "run 'systemctl try-restart 'redis''" || d.After[0].Commands[0].Entity != "web01.example.com" ||
		d.Before[0].ExecutionID == "" || d.After[0].File != "restart.json" {
		t.Errorf("command_changed: %+v", d)
	}
	// What would newly run is shown.
	if d := check(newly, NewlyMatched, "", "mem_hog"); len(d.After[0].Commands) != 1 ||
		d.After[0].Commands[0].Command != "run 'systemctl restart 'java''" {
		t.Errorf("newly_matched commands: %+v", d.After)
	}
	d = check(gone, Unmatched, "cpu_hog", "")
	if d.BeforeResult != api.ResultMatched || d.AfterResult != api.ResultUnmatched || d.AlertID != "a4" || d.Summary == "" {
		t.Errorf("unmatched: %+v", d)
	}
	if d := check(other, ChangedRule, "disk_old", "disk_new"); len(d.After[0].Commands) != 1 || d.Before[0].Commands != nil {
		t.Errorf("changed_rule commands: %+v → %+v", d.Before, d.After)
	}
	// Newest first.
	if len(rep.Differences) != 4 || !rep.Differences[0].ReceivedAt.After(rep.Differences[3].ReceivedAt) {
		t.Errorf("order: %+v", rep.Differences)
	}
}

// TestRangeAndLimit: only decisions in [since, until), the newest limit,
// truncated when more were in range.
func TestRangeAndLimit(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.decided(alertJSON(fmt.Sprintf("a%d", i), "mem", "java")))
	}
	set := candidate(t, map[string]string{"mem.json": ruleJSON("mem_hog", "mem", "true")})
	r := New(Options{Store: f.st, Runners: runners(t)})
	for _, tc := range []struct {
		name         string
		since, until time.Time
		limit        int
		want         []string
		truncated    bool
	}{
		{name: "all", want: []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{name: "since", since: f.at.Add(3 * time.Minute), want: []string{ids[4], ids[3], ids[2]}},
		{name: "until excluded", since: f.at.Add(2 * time.Minute), until: f.at.Add(4 * time.Minute), want: []string{ids[2], ids[1]}},
		{name: "limit", limit: 2, want: []string{ids[4], ids[3]}, truncated: true},
		{name: "limit exact", since: f.at.Add(4 * time.Minute), limit: 2, want: []string{ids[4], ids[3]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := r.Replay(ctx, Request{Rules: set, Since: tc.since, Until: tc.until, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range rep.Differences {
				got = append(got, d.DecisionID)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || rep.Truncated != tc.truncated || rep.Decisions != len(tc.want) {
				t.Errorf("got %v truncated %v decisions %d, want %v %v", got, rep.Truncated, rep.Decisions, tc.want, tc.truncated)
			}
		})
	}
	for _, bad := range []int{-1, MaxLimit + 1} {
		if _, err := r.Replay(ctx, Request{Rules: set, Limit: bad}); err != ErrLimit {
			t.Errorf("limit %d: %v", bad, err)
		}
	}
}

// TestRefusedValue: a value the candidate's template refuses shows as
// refused on that alert; the replay goes on.
func TestRefusedValue(t *testing.T) {
	f := newFixture(t)
	restart := ruleJSON("restart_app", "app-down", "systemctl restart nginx")
	id := f.decided(alertJSON("a1", "app-down", "nginx; rm -rf /"), restart)
	ok := f.decided(alertJSON("a2", "app-down", "nginx"), restart)
	set := candidate(t, map[string]string{"restart.json": ruleJSON("restart_app", "app-down", "systemctl restart {{ .details.service }}")})
	rep, err := New(Options{Store: f.st, Runners: runners(t)}).Replay(ctx, Request{Rules: set})
	if err != nil {
		t.Fatal(err)
	}
	got := byDecision(rep)
	d := got[id]
	if d.Kind != CommandChanged || len(d.After) != 1 || len(d.After[0].Commands) != 1 {
		t.Fatalf("refused: %+v", d)
	}
	c := d.After[0].Commands[0]
	if c.Command != "" || !strings.Contains(c.Refused, "value of details.service refused") ||
		d.Before[0].Commands[0].Command != "run 'systemctl restart nginx'" {
		t.Errorf("refused command %+v, before %+v", c, d.Before[0].Commands)
	}
	// Rendered text is compared: the value now quoted is a change too.
	if d := got[ok]; d.Kind != CommandChanged || d.After[0].Commands[0].Command != "run 'systemctl restart 'nginx''" {
		t.Errorf("templated command: %+v", d)
	}
}

// secretRunner shows what its step's template data gives for a secret.
type secretRunner struct{ task.Runner }

func (secretRunner) Describe(s task.Step) (string, error) {
	v, err := s.Data().Secret("api")
	return "token " + v, err
}

// TestSecretsNeverResolved: a secret renders as <secret>: replay has no
// way to resolve one, and configured secret values are redacted from
// whatever it shows.
func TestSecretsNeverResolved(t *testing.T) {
	f := newFixture(t)
	const secret = "s3cr3t-value-that-must-not-show"
	httpRule := func(name, path string) string {
		return fmt.Sprintf(`{"rule_name": %q, "enabled": "true", "os_type": "linux", "alert_feed": "OpsGenie",
		 "evaluation_list": [{"evaluation": {"tags": ["app-down"]}}],
		 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"],
		 "task_list": [{"task": {"task_type": "http", "action": "restart", "method": "POST",
		   "url": "https://api.example.com/%s", "headers": {"Authorization": "Bearer {{ secret \"api\" }}"},
		   "body": "{\"token\": \"{{ secret \"api\" }}\", \"service\": \"{{ .details.service }}\"}"}},
		  {"task": {"task_type": "plugin", "plugin": "notify", "env": {"TOKEN": "{{ secret \"api\" }}"}}}],
		 "route_to_team": "ops"}`, name, path)
	}
	id := f.decided(alertJSON("a1", "app-down", "nginx "+secret), httpRule("call_api", "v1/restart"))
	set := candidate(t, map[string]string{"api.json": httpRule("call_api", "v2/restart")})
	rs := runners(t)
	rs[httptask.Name] = httptask.New(httptask.Options{AllowedHosts: []string{"api.example.com"}})
	rs["plugin"] = secretRunner{rs["plugin"]}
	rep, err := New(Options{Store: f.st, Runners: rs, Redact: redact.New(secret)}).Replay(ctx, Request{Rules: set})
	if err != nil {
		t.Fatal(err)
	}
	d := byDecision(rep)[id]
	if d.Kind != CommandChanged || len(d.After[0].Commands) != 2 {
		t.Fatalf("%+v", d)
	}
	if c := d.After[0].Commands[0]; c.Command != "call POST https://api.example.com/v2/restart" {
		t.Errorf("http: %+v", c)
	}
	if c := d.After[0].Commands[1]; c.Command != "token <secret>" {
		t.Errorf("plugin secret: %+v", c)
	}
	out, _ := json.Marshal(rep)
	if strings.Contains(string(out), secret) {
		t.Errorf("a configured secret shows: %s", out)
	}
}
