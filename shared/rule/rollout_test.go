package rule

import (
	"strings"
	"testing"
)

func TestRolloutFields(t *testing.T) {
	base := `"enabled": "true", "os_type": "linux", "rule_name": "r", "alert_feed": "OpsGenie",
		"evaluation_list": [{"evaluation": {"tags": ["a"]}}],
		"task_list": [{"task": {"task_type": "remote_ssh", "run_command": "true"}}],
		"entity_type": "explicit", "entities": ["h1"]`
	for _, tc := range []struct{ name, extra, want string }{
		{"audit", `"mode": "audit", "audit_note": true`, ""},
		{"bad mode", `"mode": "shadow"`, "mode: want enforce or audit"},
		{"audit note without audit", `"audit_note": true`, "audit_note: only read"},
		{"approval", `"approval": {"required": true, "expires": "10m", "approvers": ["alice"]}`, ""},
		{"approval unknown key", `"approval": {"required": true, "approver": ["alice"]}`, "approval.approver: unknown field"},
		{"approval bad expires", `"approval": {"required": true, "expires": "soon"}`, "approval.expires: bad duration"},
		{"approval not required", `"approval": {"expires": "10m"}`, "approval.required: false"},
		{"verify task", `"verify": {"after": "2m", "task": {"task_type": "remote_ssh", "run_command": "systemctl is-active x"}}`, ""},
		{"verify resolved", `"verify": {"after": "2m", "alert_resolved": true}`, ""},
		{"verify nothing", `"verify": {"after": "2m"}`, "verify: needs a task"},
		{"verify no after", `"verify": {"alert_resolved": true}`, "verify.after: required"},
		{"verify bad task", `"verify": {"after": "1m", "task": {"task_type": "remote_ssh"}}`, "verify.task.run_command"},
		{"verify unknown", `"verify": {"after": "1m", "alert_resolved": true, "every": "1m"}`, "verify.every: unknown field"},
		{"on_ineffective", `"on_ineffective": [{"op": "add_team", "value": "dba"}]`, ""},
		{"on_ineffective bad", `"on_ineffective": [{"op": "explode"}]`, "on_ineffective[0]"},
		{"pause_after", `"governor": {"pause_after": 3, "pause_per_entity": true}`, ""},
		{"pause_after negative", `"governor": {"pause_after": -1}`, "governor.pause_after: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte("{" + base + ", " + tc.extra + "}"))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%v), want an error containing %q", err, r, tc.want)
			}
		})
	}
}

func TestRolloutDefaults(t *testing.T) {
	r := &Rule{}
	if r.NeedsApproval() || r.Audit() || r.ApprovalExpiry() != DefaultApprovalExpiry {
		t.Fatal("defaults")
	}
	r.Approval = &Approval{Required: true, Approvers: []string{"alice"}}
	if !r.NeedsApproval() || !r.Approval.MayApprove("alice") || r.Approval.MayApprove("bob") {
		t.Fatal("approval")
	}
	r.Mode = ModeAudit
	if r.NeedsApproval() {
		t.Fatal("an audit rule never waits for approval")
	}
	if got := r.IneffectiveOps("q"); len(got) != 1 || got[0].Value != "q" {
		t.Fatalf("default on_ineffective: %v", got)
	}
}
