package report

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testdata/recorded.log is a real action handler log: the pipeline ran with
// real sshd; duplicator_gc_restart succeeded three times on one host and
// failed once on a host that refused the connection; disk_cleanup failed
// twice (exit 3).
const (
	sshHost  = "127.0.0.2:40941"
	deadHost = "127.0.0.3:1"
)

func read(t *testing.T, o Options) *Report {
	t.Helper()
	f, err := os.Open("testdata/recorded.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Read(f, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestFourQuestions(t *testing.T) {
	rep := read(t, Options{})
	if rep.Lines != 39 || rep.Unparsed != 0 {
		t.Fatalf("lines = %d unparsed = %d", rep.Lines, rep.Unparsed)
	}
	// 1. What remediations run.
	want1 := []RuleCount{{Rule: "duplicator_gc_restart", Executions: 4, HostRuns: 4}, {Rule: "disk_cleanup", Executions: 2, HostRuns: 2}}
	if len(rep.Remediation) != 2 {
		t.Fatalf("remediations = %+v", rep.Remediation)
	}
	for i, w := range want1 {
		g := rep.Remediation[i]
		if g.Rule != w.Rule || g.Executions != w.Executions || g.HostRuns != w.HostRuns || g.Last.IsZero() {
			t.Errorf("remediation[%d] = %+v, want %+v", i, g, w)
		}
	}
	// 2. Are they successful.
	out := map[string]RuleOutcome{}
	for _, o := range rep.Outcomes {
		out[o.Rule] = o
	}
	if g := out["duplicator_gc_restart"]; g.ByStatus["success"] != 3 || g.ByStatus["failure"] != 1 || g.SuccessRate != 0.75 {
		t.Errorf("gc outcome = %+v", g)
	}
	if g := out["disk_cleanup"]; g.ByStatus["failure"] != 2 || g.SuccessRate != 0 {
		t.Errorf("disk outcome = %+v", g)
	}
	// 3. How long they take: gc executions took 211, 215, 219 and 2 ms; disk 263 and 386 ms.
	dur := map[string]RuleTiming{}
	for _, d := range rep.Durations {
		dur[d.Rule] = d
	}
	if g := dur["duplicator_gc_restart"]; g != (RuleTiming{Rule: "duplicator_gc_restart", Count: 4, P50: 211, P90: 219, Max: 219, Mean: 161}) {
		t.Errorf("gc timing = %+v", g)
	}
	if g := dur["disk_cleanup"]; g != (RuleTiming{Rule: "disk_cleanup", Count: 2, P50: 263, P90: 386, Max: 386, Mean: 324}) {
		t.Errorf("disk timing = %+v", g)
	}
	// 4. How many times X against Y.
	type key struct{ action, entity string }
	got := map[key]Target{}
	for _, tg := range rep.Targets {
		got[key{tg.Action, tg.Entity}] = tg
	}
	for k, w := range map[key][3]int{
		{"restart_service", sshHost}:  {3, 3, 0},
		{"restart_service", deadHost}: {1, 0, 1},
		{"clear_cache", sshHost}:      {2, 0, 2},
	} {
		g := got[k]
		if g.Count != w[0] || g.Success != w[1] || g.Failure != w[2] {
			t.Errorf("target %v = %+v, want count/success/failure %v", k, g, w)
		}
	}
	if len(rep.Targets) != 3 {
		t.Errorf("targets = %+v", rep.Targets)
	}
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want map[string]int // rule → executions
	}{
		{"rule", Options{Rule: "disk_cleanup"}, map[string]int{"disk_cleanup": 2}},
		{"entity", Options{Entity: deadHost}, map[string]int{"duplicator_gc_restart": 1}},
		{"since", Options{Since: time.Date(2026, 11, 22, 3, 13, 40, 0, time.UTC)}, map[string]int{"duplicator_gc_restart": 1, "disk_cleanup": 2}},
		{"until", Options{Until: time.Date(2026, 11, 22, 3, 13, 39, 0, time.UTC)}, map[string]int{"duplicator_gc_restart": 1}},
		{"nothing", Options{Since: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := read(t, tc.o)
			got := map[string]int{}
			for _, r := range rep.Remediation {
				got[r.Rule] = r.Executions
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestJSONLogsAndJunk(t *testing.T) {
	in := strings.Join([]string{
		`{"time":"2026-11-22T03:00:00Z","service":"actionhandler","event":"execution_finished","rule_name":"r","action_status":"success","elapsed_ms":40,"execution_id":"e1"}`,
		`{"time":"2026-11-22T03:00:00Z","service":"actionhandler","event":"action_finished","rule_name":"r","action":"a","entity":"h","action_status":"success","elapsed_ms":39,"execution_id":"e1"}`,
		`{"time":"2026-11-22T03:00:00Z","service":"classifier","event":"execution_finished","rule_name":"x"}`,
		`not a log line at all =`,
		`{broken json`,
	}, "\n")
	rep, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 5 || rep.Unparsed != 2 || len(rep.Remediation) != 1 || rep.Remediation[0].Executions != 1 || rep.Targets[0].Count != 1 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestMainPrintsTables(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"--entity", sshHost, "testdata/recorded.log"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"1. What remediations run", "2. Are they successful", "3. How long they take", "4. How many times",
		"duplicator_gc_restart", "100.0%", "restart_service", sshHost} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Main([]string{"--format", "json", "-"}, strings.NewReader(""), &out, &errb); code != 0 || !json.Valid(out.Bytes()) {
		t.Fatalf("json: exit %d %s", code, out.String())
	}
	for _, bad := range [][]string{{"--since", "yesterday"}, {"--format", "xml"}, {"/nonexistent.log"}} {
		if code := Main(bad, strings.NewReader(""), &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", bad)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"24h":                  now.Add(-24 * time.Hour),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2026-11-20T00:00:00Z": time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "soon", "7days", "0d"} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}

// testdata/refusals.log is recorded from TestRefusalsAreReported
// (actionhandler/cmd/actionhandler, -record-refusals): a real action
// handler refused an unsafe entity (422), an alert value that does not fit
// its command, a request while the queue was full (503), and its governor
// skipped a rule's second execution; four executions ran.
func TestRefusalsByReason(t *testing.T) {
	f, err := os.Open("testdata/refusals.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The classifier's log line for a rule with no action handler.
	noHandler := `time=2026-12-02T02:40:00Z level=error msg="rule matched but not pushed; routing to investigation" ` +
		`action_status=refused alert_id=a1 component=classify error="no action handler configured for os_type \"aix\"" ` +
		`event=action_push_failed reason=no_handler rule_name=aix_rule service=classifier team=queue_needsinvestigation`
	rep, err := Read(io.MultiReader(f, strings.NewReader("\n"+noHandler+"\n")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason, rule, status string
		count                int
	}{
		{"entity_refused", "bad_entity", "refused", 1},
		{"governor", "once", "skipped", 1},
		{"no_handler", "aix_rule", "refused", 1},
		{"queue_full", "full", "refused", 1},
		{"value_refused", "bad_value", "refused", 1},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			var got []Refusal
			for _, r := range rep.Refusals {
				if r.Reason == tc.reason {
					got = append(got, r)
				}
			}
			if len(got) != 1 || got[0].Rule != tc.rule || got[0].Status != tc.status || got[0].Count != tc.count || got[0].Last.IsZero() {
				t.Errorf("refusals for %s: %+v", tc.reason, got)
			}
		})
	}
	if len(rep.Refusals) != 5 {
		t.Errorf("refusals %+v", rep.Refusals)
	}
	// The refused execution is an execution too (question 2), not a host action (question 4).
	for _, o := range rep.Outcomes {
		if o.Rule == "bad_value" && (o.ByStatus["refused"] != 1 || o.Executions != 1) {
			t.Errorf("bad_value outcome %+v", o)
		}
	}
	for _, tg := range rep.Targets {
		if tg.Rule == "bad_value" {
			t.Errorf("a refused step counted as done: %+v", tg)
		}
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5. What did not run, and why", "REFUSED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
	rows := map[string]bool{}
	for _, ln := range strings.Split(out.String(), "\n") {
		rows[strings.Join(strings.Fields(ln), " ")] = true
	}
	for _, want := range []string{"value_refused bad_value refused 1 2026-12-02T02:38:23Z", "no_handler aix_rule refused 1 2026-12-02T02:40:00Z"} {
		if !rows[want] {
			t.Errorf("text lacks the row %q:\n%s", want, out.String())
		}
	}
}

// Audit executions are counted apart: not remediations run, not in the
// success rate, in their own column.
func TestAuditApart(t *testing.T) {
	in := strings.Join([]string{
		`time=2026-11-22T03:00:00Z service=actionhandler event=execution_finished rule_name=r action_status=success elapsed_ms=40 execution_id=e1`,
		`time=2026-11-22T03:00:01Z service=actionhandler event=execution_finished rule_name=r action_status=audit elapsed_ms=1 execution_id=e2`,
		`time=2026-11-22T03:00:02Z service=actionhandler event=execution_finished rule_name=r action_status=audit elapsed_ms=1 execution_id=e3`,
		`time=2026-11-22T03:00:03Z service=actionhandler event=execution_finished rule_name=a action_status=audit elapsed_ms=1 execution_id=e4`,
	}, "\n")
	rep, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Remediation) != 1 || rep.Remediation[0].Rule != "r" || rep.Remediation[0].Executions != 1 {
		t.Errorf("remediations: %+v", rep.Remediation)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^r\s+3\s+1\s+0\s+0\s+0\s+0\s+0\s+2\s+0\s+0\s+0\s+0\s+0\s+100\.0%`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^a\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+0\s+0\s+0\s+0\s+0\s+-`).MatchString(out.String()) {
		t.Errorf("outcomes:\n%s", out.String())
	}
}

// Verification's outcomes: remediated counts as a success, ineffective as
// a failure; an execution still verifying (scheduled, no verdict read) is
// in VERIFYING and not in the rate; a verdict supersedes its scheduling;
// verify steps are no actions done to hosts.
func TestVerificationColumns(t *testing.T) {
	in := strings.Join([]string{
		`time=2026-11-22T03:00:00Z service=actionhandler event=action_finished rule_name=v action=fix entity=web1 action_status=success task_index=0 elapsed_ms=5 execution_id=e1`,
		`time=2026-11-22T03:00:00Z service=actionhandler event=verification_scheduled rule_name=v verify_at=2026-11-22T03:02:00Z execution_id=e1`,
		`time=2026-11-22T03:02:00Z service=actionhandler event=action_finished rule_name=v action=check entity=web1 action_status=success task_index=-1 elapsed_ms=5 execution_id=e1`,
		`time=2026-11-22T03:02:00Z service=actionhandler event=execution_finished rule_name=v action_status=remediated elapsed_ms=40 execution_id=e1`,
		`time=2026-11-22T03:03:00Z service=actionhandler event=verification_scheduled rule_name=v execution_id=e2`,
		`time=2026-11-22T03:05:00Z service=actionhandler event=execution_finished rule_name=v action_status=ineffective elapsed_ms=20 execution_id=e2`,
		`time=2026-11-22T03:06:00Z service=actionhandler event=verification_scheduled rule_name=v execution_id=e3`,
		`time=2026-11-22T03:07:00Z service=actionhandler event=execution_finished rule_name=v action_status=success elapsed_ms=10 execution_id=e4`,
		`time=2026-11-22T03:08:00Z service=actionhandler event=execution_finished rule_name=v action_status=failure elapsed_ms=10 execution_id=e5`,
	}, "\n")
	rep, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 1 {
		t.Fatalf("outcomes %+v", rep.Outcomes)
	}
	o := rep.Outcomes[0]
	if o.Executions != 5 || o.ByStatus["verifying"] != 1 || o.ByStatus["remediated"] != 1 || o.ByStatus["ineffective"] != 1 {
		t.Errorf("by status %+v", o)
	}
	if o.SuccessRate != 0.5 { // success + remediated of success, failure, remediated, ineffective
		t.Errorf("success rate %v, want 0.5", o.SuccessRate)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Action != "fix" {
		t.Errorf("targets %+v: the verify step is no action", rep.Targets)
	}
	if len(rep.Durations) != 1 || rep.Durations[0].Count != 4 {
		t.Errorf("durations %+v", rep.Durations)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "VERIFYING  REMEDIATED  INEFFECTIVE  SUCCESS RATE") ||
		!regexp.MustCompile(`(?m)^v\s+5\s+1\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+1\s+1\s+50\.0%`).MatchString(out.String()) {
		t.Errorf("text:\n%s", out.String())
	}
}

// Approvals' ends (denied, expired) have their columns and stay out of the
// success rate: nothing ran.
func TestApprovalColumns(t *testing.T) {
	in := strings.Join([]string{
		`time=2026-11-22T03:00:00Z service=actionhandler event=execution_awaiting_approval rule_name=a execution_id=e1`,
		`time=2026-11-22T03:01:00Z service=actionhandler event=execution_finished rule_name=a action_status=denied detail="denied by bob: no" execution_id=e1`,
		`time=2026-11-22T03:40:00Z service=actionhandler event=execution_finished rule_name=a action_status=expired detail=expired execution_id=e2`,
		`time=2026-11-22T03:50:00Z service=actionhandler event=execution_finished rule_name=a action_status=success elapsed_ms=10 execution_id=e3`,
	}, "\n")
	rep, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 1 {
		t.Fatalf("outcomes %+v", rep.Outcomes)
	}
	o := rep.Outcomes[0]
	if o.Executions != 3 || o.ByStatus["denied"] != 1 || o.ByStatus["expired"] != 1 || o.SuccessRate != 1 {
		t.Errorf("outcome %+v", o)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "AUDIT  DENIED  EXPIRED  VERIFYING") ||
		!regexp.MustCompile(`(?m)^a\s+3\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+1\s+0\s+0\s+0\s+100\.0%`).MatchString(out.String()) {
		t.Errorf("text:\n%s", out.String())
	}
}
