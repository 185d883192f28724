package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const adminToken = "tok-admin-3e1f9c7a5b2d"

// rules paused and rules resume against the real action handler: a rule
// failing once with governor.pause_after 1 is listed paused; resume needs
// a reason and scope admin.
func TestRealRulesPausedAndResume(t *testing.T) {
	h := startRealHandlerWith(t, "governor: {pause_after: 1}\n", "admin:"+adminToken+" scopes=admin,read\n")
	env := h.env(t)
	rf, af := h.files(t, "say_fail", "exit 3")
	if r := cli(t, env, "run", "-rule", rf, "-alert", af, "-interval", "200ms"); r.code != 1 {
		t.Fatalf("failing run:\n%s", r)
	}
	paused := regexp.MustCompile(`(?m)^say_fail\s+\(all\)\s+true\s+\S+ \S+\s+1\s+[0-9a-f]+\s+1 consecutive failed executions`)
	waitUntil(t, "the rule paused", func() bool {
		r := cli(t, env, "rules", "paused")
		return r.code == 0 && paused.MatchString(r.stdout)
	})
	if r := cli(t, env, "rules", "resume", "say_fail"); r.code != 2 || !strings.Contains(r.stderr, "-reason is required") {
		t.Errorf("resume without a reason:\n%s", r)
	}
	if r := cli(t, env, "rules", "resume", "say_fail", "-reason", "fixed"); r.code != 4 {
		t.Errorf("resume without scope admin:\n%s", r)
	}
	admin := writeFile(t, "admin", adminToken)
	if err := os.Chmod(admin, 0o600); err != nil {
		t.Fatal(err)
	}
	env["ALEXIS_TOKEN_FILE"] = admin
	r := cli(t, env, "rules", "resume", "say_fail", "-reason", "fixed the disk")
	if r.code != 0 || !regexp.MustCompile(`(?m)^say_fail\s+\(all\)\s+admin`).MatchString(r.stdout) {
		t.Errorf("resume:\n%s", r)
	}
	if r := cli(t, env, "rules", "resume", "say_fail", "-reason", "again"); r.code != 3 {
		t.Errorf("resume of a rule not paused:\n%s", r)
	}
	if r := cli(t, env, "rules", "paused"); r.code != 0 || strings.Contains(r.stdout, "say_fail") {
		t.Errorf("still listed:\n%s", r)
	}
	if r := cli(t, env, "rules", "paused", "-all"); r.code != 0 || !strings.Contains(r.stdout, "say_fail") {
		t.Errorf("-all:\n%s", r)
	}
}
