package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// run with a verify rule goes on watching while the execution verifies
// and ends with its verdict: remediated exit 0, ineffective exit 1; show
// prints the verification and its steps.
func TestRealRunVerify(t *testing.T) {
	h := startRealHandler(t)
	env := h.env(t)
	state := filepath.Join(t.TempDir(), "state")
	for _, tc := range []struct {
		name, check, status string
		code                int
	}{
		{"fixed", "test -f " + state, "remediated", 0},
		{"unfixed", "test -f " + state + ".nobody", "ineffective", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rf, af := h.files(t, "verified_"+tc.name, "touch "+state)
			var r map[string]any
			b, _ := os.ReadFile(rf)
			_ = json.Unmarshal(b, &r)
			r["verify"] = map[string]any{"after": "1s",
				"task": map[string]any{"task_type": "remote_ssh", "run_command": tc.check, "action": "check"}}
			rf = writeFile(t, "verify-rule.json", mustJSON(r))
			res := cli(t, env, "run", "-rule", rf, "-alert", af, "-interval", "200ms")
			if res.code != tc.code || !strings.Contains(res.stdout, " verifying") ||
				!strings.Contains(res.stdout, " "+tc.status) || !strings.Contains(res.stdout, "verify remote_ssh on ") {
				t.Fatalf("run: want exit %d, verifying then %s:\n%s", tc.code, tc.status, res)
			}
			m := executionRE.FindStringSubmatch(res.stdout)
			if m == nil {
				t.Fatalf("no execution id:\n%s", res)
			}
			show := cli(t, env, "executions", "show", m[1])
			if show.code != 0 || !regexp.MustCompile(`verification\s+`+tc.status+` at `).MatchString(show.stdout) ||
				!strings.Contains(show.stdout, "verify steps:") || !strings.Contains(show.stdout, "$ "+tc.check) {
				t.Errorf("show:\n%s", show)
			}
		})
	}
}

// report: remediated counts as a success, ineffective as a failure,
// verifying not yet; each has its column.
func TestReportCountsVerification(t *testing.T) {
	now := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	x := func(status string) api.Execution {
		return api.Execution{ID: status, RuleName: "r", Status: status, Entities: []string{"web1"}, CreatedAt: now}
	}
	rep := buildReport([]api.Execution{x(api.ExecSuccess), x(api.ExecRemediated), x(api.ExecIneffective),
		x(api.ExecVerifying), x(api.ExecFailure), x(api.ExecSkipped)}, "")
	if len(rep.Rules) != 1 || rep.Rules[0].Ended != 4 || rep.Rules[0].SuccessRate == nil || *rep.Rules[0].SuccessRate != 0.5 {
		t.Fatalf("rules %+v", rep.Rules)
	}
	if len(rep.Hosts) != 1 || rep.Hosts[0].Success != 2 {
		t.Errorf("hosts %+v: want success and remediated", rep.Hosts)
	}
}
