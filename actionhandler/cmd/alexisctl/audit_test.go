package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run with a rule in audit mode ends (exit 0: nothing failed) and shows
// the audit, and nothing ran on the host.
func TestRealRunAudit(t *testing.T) {
	h := startRealHandler(t)
	env := h.env(t)
	marker := filepath.Join(t.TempDir(), "ran")
	rf, af := h.files(t, "say_audit", "touch "+marker)
	var r map[string]any
	b, _ := os.ReadFile(rf)
	_ = json.Unmarshal(b, &r)
	r["mode"] = "audit"
	rf = writeFile(t, "audit-rule.json", mustJSON(r))
	res := cli(t, env, "run", "-rule", rf, "-alert", af, "-interval", "200ms")
	if res.code != 0 || !strings.Contains(res.stdout, " audit") || !strings.Contains(res.stdout, "the governor would allow it;") {
		t.Fatalf("run:\n%s", res)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the command ran: %v", err)
	}
}
