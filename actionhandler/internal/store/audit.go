package store

import "strings"

// Audit mode (docs/rollout.md): an execution of a rule with "mode":
// "audit" is claimed like any other, so the governor and the circuit
// breaker decide on it, but their verdict is recorded (AuditVerdict, in
// its reason) instead of enforced, and it runs nothing. It neither waits
// for a host nor holds one (Create puts it in no host's queue, Claim
// takes no host row), so it never delays a real execution; and the
// governor's counts leave it out (mode <> 'audit'), even while it runs.

// Audit verdicts: the start of an audit execution's reason.
const (
	AuditAllowed = "the governor would allow it"
	auditSkipped = "the governor would skip it: "
)

// AuditVerdict is the reason recorded for an audit execution the
// governor would have admitted (skip "") or skipped for skip.
func AuditVerdict(skip string) string {
	if skip == "" {
		return AuditAllowed
	}
	return auditSkipped + skip
}

// AuditWouldSkip says whether an audit execution's reason records that
// the governor would have skipped it.
func AuditWouldSkip(reason string) bool { return strings.HasPrefix(reason, auditSkipped) }
