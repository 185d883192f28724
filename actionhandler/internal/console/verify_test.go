package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
)

// seedVerifying records an execution whose tasks succeeded and whose
// verification is due after.
func seedVerifying(t *testing.T, s *store.SQL, id string, after time.Duration) {
	t.Helper()
	x := &store.Execution{ID: id, AlertID: "a-" + id, UniqueValue: "u", FeedType: "OpsGenie", RuleName: "fix_app",
		Client: "classifier", Request: []byte(`{}`), Entities: []string{"web01"}}
	if _, _, err := s.Create(ctx, x, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Claim(ctx, "owner", time.Minute, nil); err != nil || got == nil || got.ID != id {
		t.Fatalf("claim: %v %v", got, err)
	}
	if err := s.FinishVerifying(ctx, id, "owner", after, store.Step{TaskIndex: 0, Entity: "web01",
		TaskType: "remote_ssh", Action: "restart", Status: store.Success}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reported(ctx, id, "owner"); err != nil {
		t.Fatal(err)
	}
}

// The alert page shows each execution's verification: due, or its
// outcome with the verify steps (apart from the task steps); reports
// count verifying, remediated and ineffective.
func TestVerificationOnAlertPageAndReports(t *testing.T) {
	e := newEnv(t, nil)
	seedVerifying(t, e.st, "due", time.Hour)
	seedVerifying(t, e.st, "ended", time.Microsecond)
	xs, err := e.st.ClaimVerifications(ctx, "owner", time.Minute, 10)
	if err != nil || len(xs) != 1 || xs[0].ID != "ended" {
		t.Fatalf("claim verifications: %v %v", xs, err)
	}
	if err := e.st.EndVerification(ctx, "ended", "owner", store.Ineffective,
		"the verify task failed on web01 (exit 3)", store.Step{TaskIndex: store.VerifyTaskIndex, Entity: "web01",
			TaskType: "remote_ssh", Action: "check_app", Command: "systemctl is-active app", Status: store.Failure,
			ExitCode: 3, Stdout: "<b>inactive</b>"}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Reported(ctx, "ended", "owner"); err != nil {
		t.Fatal(err)
	}
	d := decision("d1", time.Now().UTC().Add(-time.Minute), api.ResultMatched)
	d.Matched = []api.MatchedAction{{RuleName: "fix_app", ExecutionID: "due", Status: "accepted"},
		{RuleName: "fix_app", ExecutionID: "ended", Status: "accepted"}}
	if err := e.st.RecordDecisions(ctx, []api.Decision{d}); err != nil {
		t.Fatal(err)
	}
	c := e.login(readToken)
	resp, body := e.get(c, "/console/alerts/d1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	due := section(body, `id="execution-due"`)
	ended := section(body, `id="execution-ended"`)
	for _, want := range []string{`<section class="verification">`, `class="verification-due"`, "Due at"} {
		if !strings.Contains(due, want) {
			t.Errorf("verifying execution lacks %s:\n%s", want, due)
		}
	}
	for _, want := range []string{`class="verification-outcome"`, `chip chip-ineffective`,
		"the verify task failed on web01 (exit 3)", `<article class="step verify-step step-failure">`,
		"Verify (remote_ssh: check_app) on web01", `<pre class="stdout">&lt;b&gt;inactive&lt;/b&gt;</pre>`,
		`<dd class="exit-code">3</dd>`} {
		if !strings.Contains(ended, want) {
			t.Errorf("ended verification lacks %s:\n%s", want, ended)
		}
	}
	if strings.Count(ended, "<article class=\"step") != 2 || strings.Count(ended, "verify-step") != 1 {
		t.Errorf("want one task step and one verify step:\n%s", ended)
	}

	// The timeline filters on the verification's statuses.
	for outcome, want := range map[string]bool{"ineffective": true, "verifying": true, "remediated": false} {
		resp, body := e.get(c, "/console/?outcome="+outcome)
		if resp.StatusCode != http.StatusOK || strings.Contains(body, `data-id="d1"`) != want {
			t.Errorf("timeline outcome=%s: %d, d1 listed %v, want %v", outcome, resp.StatusCode, !want, want)
		}
	}

	e.clock.Add(time.Minute)
	_, body = e.get(c, "/console/reports?range=24h")
	for _, want := range []string{`<th scope="col">verifying</th>`, `<th scope="col">remediated</th>`,
		`<th scope="col">ineffective</th>`} {
		if !strings.Contains(body, want) {
			t.Errorf("reports lack %s", want)
		}
	}
	// One ineffective (a failure), one verifying (no outcome yet): 0%.
	if !strings.Contains(section(body, `id="report-rules"`), "<td>0%</td>") &&
		!strings.Contains(section(body, `id="report-rules"`), "<td>0.0%</td>") {
		t.Errorf("success rate: %s", section(body, `id="report-rules"`))
	}
	_, body = e.get(c, "/console/reports.csv?range=24h")
	lines := strings.Split(body, "\n")
	if !strings.HasSuffix(lines[0], ",audit,verifying,remediated,ineffective,awaiting_approval,denied,expired") ||
		!strings.HasPrefix(lines[1], "rule,fix_app,") || !strings.HasSuffix(lines[1], ",0,1,0,1,0,0,0") {
		t.Errorf("csv:\n%s", body)
	}
}

// section is body from the element marked by attr to the end of its
// list item (an execution on the alert page) or table.
func section(body, attr string) string {
	i := strings.Index(body, attr)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	for _, end := range []string{"</li>", "</table>"} {
		if j := strings.Index(rest, end); j >= 0 {
			return rest[:j]
		}
	}
	return rest
}
