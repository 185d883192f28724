package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

const approverToken = "tok-approver-5c2e8a1f7b3d"

// approve and deny against the real action handler: -reason is required,
// scope approve too; approved, the execution runs and show names who
// approved it; a second decision exits 1 saying where it stands.
func TestRealApproveAndDeny(t *testing.T) {
	h := startRealHandlerWith(t, "", "carol:"+approverToken+" scopes=approve,read\n")
	env := h.env(t)
	withApproval := func(rf string) {
		t.Helper()
		var r map[string]any
		b, err := os.ReadFile(rf)
		if err != nil || json.Unmarshal(b, &r) != nil {
			t.Fatal(err)
		}
		r["approval"] = map[string]any{"required": true, "approvers": []string{"carol"}}
		if err := os.WriteFile(rf, []byte(mustJSON(r)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	awaitRE := regexp.MustCompile(`execution (\S+) awaiting_approval on `)
	post := func(name string) string {
		t.Helper()
		rf, af := h.files(t, name, "echo approved run")
		withApproval(rf)
		r := cli(t, env, "run", "-rule", rf, "-alert", af, "-no-wait")
		m := awaitRE.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || !strings.Contains(r.stdout, "approve "+m[1]+" -reason WHY") {
			t.Fatalf("run:\n%s", r)
		}
		return m[1]
	}
	id := post("say_approved")
	if r := cli(t, env, "approve", id); r.code != 2 || !strings.Contains(r.stderr, "-reason is required") {
		t.Errorf("approve without a reason:\n%s", r)
	}
	if r := cli(t, env, "approve", id, "-reason", "ok"); r.code != 4 || !strings.Contains(r.stderr, `lacks scope "approve"`) {
		t.Errorf("approve without scope approve:\n%s", r)
	}
	if r := cli(t, env, "approve", "nope", "-reason", "ok"); r.code != 4 {
		t.Errorf("unknown id without scope:\n%s", r)
	}
	approver := writeFile(t, "approver", approverToken)
	if err := os.Chmod(approver, 0o600); err != nil {
		t.Fatal(err)
	}
	aenv := map[string]string{"ALEXIS_URL": env["ALEXIS_URL"], "ALEXIS_TOKEN_FILE": approver}
	if r := cli(t, aenv, "approve", "0123abcd", "-reason", "ok"); r.code != 3 {
		t.Errorf("unknown id:\n%s", r)
	}
	r := cli(t, aenv, "approve", id, "-reason", "graphs look fine")
	if r.code != 0 || !regexp.MustCompile(`(?m)^approved by\s+carol\s+.*\(graphs look fine\)`).MatchString(r.stdout) {
		t.Fatalf("approve:\n%s", r)
	}
	waitUntil(t, "the approved execution ran", func() bool {
		r := cli(t, env, "executions", "show", id)
		return r.code == 0 && regexp.MustCompile(`(?m)^status\s+success`).MatchString(r.stdout)
	})
	if r := cli(t, env, "executions", "show", id); !strings.Contains(r.stdout, "approved by") || !strings.Contains(r.stdout, "carol") {
		t.Errorf("show:\n%s", r)
	}
	if r := cli(t, aenv, "deny", id, "-reason", "too late"); r.code != 1 || !strings.Contains(r.stderr, "not awaiting approval") {
		t.Errorf("deny after approval:\n%s", r)
	}

	id2 := post("say_denied")
	if r := cli(t, env, "executions", "list", "-status", "awaiting_approval"); r.code != 0 || !strings.Contains(r.stdout, id2) {
		t.Errorf("list awaiting:\n%s", r)
	}
	r = cli(t, aenv, "deny", id2, "-reason", "not now")
	if r.code != 0 || !regexp.MustCompile(`(?m)^status\s+denied`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^denied by\s+carol`).MatchString(r.stdout) {
		t.Fatalf("deny:\n%s", r)
	}
	if r := cli(t, env, "executions", "watch", id2, "-interval", "100ms"); r.code != 1 {
		t.Errorf("watch of a denied execution:\n%s", r)
	}
}
