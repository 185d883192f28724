package rule

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/ident"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// Safe rollout (docs/rollout.md): a rule may run in audit mode (decide and
// record everything, run nothing), wait for a person's approval, check
// afterwards that its fix worked, and be paused by the circuit breaker
// after failing again and again (Governor.PauseAfter).
//
//	"mode": "audit", "audit_note": true,
//	"approval": {"required": true, "expires": "30m", "approvers": ["alice"]},
//	"verify": {"after": "2m", "task": {"task_type": "remote_ssh", "run_command": "systemctl is-active nginx"}},
//	"on_ineffective": [{"op": "escalate", "value": "db-escalation"}]

// Rule modes.
const (
	ModeEnforce = "enforce" // default: run the tasks
	// ModeAudit: classify, decide and record everything (entities, the
	// governor's verdict, the rendered commands, the write-back that would
	// happen), connect nowhere, write nothing back unless audit_note.
	ModeAudit = "audit"
)

// DefaultApprovalExpiry is how long an execution waits for approval when
// the rule's approval sets no expires.
const DefaultApprovalExpiry = 30 * time.Minute

// Approval makes a rule's executions wait for a person: they are recorded
// awaiting_approval, noted on the alert with what would run where and how
// to approve, and run once a token with scope approve (one of Approvers,
// when given) approves them; denied or unanswered by Expires, they run
// nothing and go to the investigation queue.
type Approval struct {
	Required bool `json:"required"`
	// Expires: how long the execution waits (default 30m).
	Expires string `json:"expires,omitempty"`
	// Approvers: the token names that may approve or deny; empty: any
	// token with scope approve.
	Approvers []string `json:"approvers,omitempty"`
}

// Verify says how to check, After the tasks succeeded, that the fix
// worked: Task succeeding on every host, and/or (AlertResolved) the alert
// closed or resolved at its source (the ticket system's status). The
// execution then ends remediated, or ineffective (on_ineffective).
type Verify struct {
	After         string `json:"after"`
	Task          *Task  `json:"task,omitempty"`
	AlertResolved bool   `json:"alert_resolved,omitempty"`
}

// Audit reports whether the rule runs in audit mode.
func (r *Rule) Audit() bool { return r.Mode == ModeAudit }

// NeedsApproval reports whether the rule's executions wait for approval
// (never in audit mode: nothing would run).
func (r *Rule) NeedsApproval() bool { return r.Approval != nil && r.Approval.Required && !r.Audit() }

// ApprovalExpiry is how long an execution of the rule waits for approval.
func (r *Rule) ApprovalExpiry() time.Duration {
	if r.Approval == nil {
		return DefaultApprovalExpiry
	}
	d, err := parseDuration(r.Approval.Expires)
	if err != nil || d <= 0 {
		return DefaultApprovalExpiry
	}
	return d
}

// MayApprove reports whether the token named client may approve or deny
// the rule's executions (it also needs scope approve).
func (a *Approval) MayApprove(client string) bool {
	if a == nil || len(a.Approvers) == 0 {
		return true
	}
	for _, n := range a.Approvers {
		if n == client {
			return true
		}
	}
	return false
}

// AfterDuration parses After.
func (v *Verify) AfterDuration() time.Duration {
	if v == nil {
		return 0
	}
	d, _ := parseDuration(v.After)
	return d
}

// DefaultOnIneffective is what a rule without on_ineffective does after a
// verification that failed (besides the note, always written): add the
// investigation queue.
func DefaultOnIneffective(investigationQueue string) []ticket.Op {
	return DefaultOnFailure(investigationQueue)
}

// IneffectiveOps are the operations to apply when verification says the
// fix did not work: on_ineffective, or DefaultOnIneffective.
func (r *Rule) IneffectiveOps(investigationQueue string) []ticket.Op {
	if r.OnIneffective != nil {
		return r.OnIneffective
	}
	return DefaultOnIneffective(investigationQueue)
}

var (
	approvalKeys = keysOf(Approval{})
	verifyKeys   = keysOf(Verify{})
)

func (r *Rule) validateRollout(types []task.Type) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	switch r.Mode {
	case "", ModeEnforce, ModeAudit:
	default:
		add("mode", "want enforce or audit, got %q", r.Mode)
	}
	if r.AuditNote && !r.Audit() {
		add("audit_note", `only read when mode is "audit"`)
	}
	if a := r.Approval; a != nil {
		if d, err := parseDuration(a.Expires); err != nil {
			add("approval.expires", "%v", err)
		} else if a.Expires != "" && d == 0 {
			add("approval.expires", "must be positive")
		}
		for i, n := range a.Approvers {
			if err := ident.Check("approver", n, ident.MaxRuleName); err != nil {
				add(fmt.Sprintf("approval.approvers[%d]", i), "%v", err)
			}
		}
		if !a.Required && (a.Expires != "" || len(a.Approvers) > 0) {
			add("approval.required", "false, so expires and approvers are not used: set it to true or remove approval")
		}
	}
	if v := r.Verify; v != nil {
		if d, err := parseDuration(v.After); err != nil {
			add("verify.after", "%v", err)
		} else if strings.TrimSpace(v.After) == "" {
			add("verify.after", `required: how long after the tasks to check, e.g. "2m"`)
		} else if d == 0 {
			add("verify.after", "must be positive")
		}
		if v.Task == nil && !v.AlertResolved {
			add("verify", "needs a task, alert_resolved: true, or both")
		}
		if v.Task != nil {
			items := []TaskItem{{Task: *v.Task}}
			for _, e := range validateTasks(items, types) {
				e.Path = "verify.task" + strings.TrimPrefix(e.Path, "task_list[0].task")
				errs = append(errs, e)
			}
			*v.Task = items[0].Task // its Params
		}
	}
	return errs
}

// rolloutUnknownKeys reports keys of the approval and verify objects no
// field reads.
func rolloutUnknownKeys(raw map[string]json.RawMessage) Errors {
	var errs Errors
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw["approval"], &obj) == nil {
		errs = append(errs, unknownKeys(obj, "approval.", approvalKeys)...)
	}
	obj = nil
	if json.Unmarshal(raw["verify"], &obj) == nil {
		errs = append(errs, unknownKeys(obj, "verify.", verifyKeys)...)
	}
	return errs
}
