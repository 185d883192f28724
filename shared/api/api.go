// Package api holds the JSON answers Alexis services give each other and
// their users, so both sides of a boundary use one definition.
package api

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error string `json:"error"`
	// MissingScope, on a 403, names the scope the token lacks.
	MissingScope string `json:"missing_scope,omitempty"`
	// File and Field, on a 400 for a bad rule file (POST /v1/replay),
	// name the file and the field of its first problem.
	File  string `json:"file,omitempty"`
	Field string `json:"field,omitempty"`
	// Status, on a 409 of POST /v1/executions/{id}/approve or /deny,
	// says where the execution stands (denied, expired, queued, ...).
	Status string `json:"status,omitempty"`
}

// Classification results.
const (
	ResultMatched   = "matched"   // at least one rule matched; actions were pushed
	ResultUnmatched = "unmatched" // no rule matched; routed to the investigation queue
	ResultDeferred  = "deferred"  // a rule would act but the alert is too young; offer it again later
	// ResultRefused: rules matched but none could be pushed (the action
	// handler refused each for good, 4xx, or none is configured for its
	// os_type); noted on the alert and routed to the investigation queue.
	ResultRefused = "refused"
)

// Classification is the classifier's answer to POST /v1/classifier.
type Classification struct {
	Result       string          `json:"result"`
	UniqueValue  string          `json:"unique_value"`
	RulesChecked int             `json:"rules_checked"`
	Matched      []MatchedAction `json:"matched,omitempty"`
}

// MatchedAction is one matched rule and what the action handler said.
type MatchedAction struct {
	RuleName    string `json:"rule_name"`
	ExecutionID string `json:"execution_id,omitempty"`
	// Status is what pushing the rule gave: accepted, rejected (a 4xx
	// answer), no_handler, or unavailable / unauthorized (when another
	// rule of the alert was pushed, so the alert is not offered again).
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Execution statuses.
const (
	ExecQueued  = "queued"
	ExecRunning = "running"
	ExecSuccess = "success"
	ExecFailure = "failure"
	ExecDryRun  = "dry_run"
	// ExecSkipped: the governor refused to run it (rate or blast-radius
	// limit); a person should look at the alert.
	ExecSkipped = "skipped"
	// ExecInterrupted: the action handler stopped while it ran (crash,
	// restart, shutdown); what ran is only partly known.
	ExecInterrupted = "interrupted"
	// ExecRefused: a step was refused before anything ran on its host (an
	// alert value that does not fit its template, a destination refused,
	// ...); the reason names which. A person should look at the alert.
	ExecRefused = "refused"

	// Safe rollout (docs/rollout.md).
	// ExecAudit: a rule in audit mode: everything was decided and recorded
	// (rendered commands, the governor's verdict, the write-back it would
	// do); nothing connected anywhere.
	ExecAudit = "audit"
	// ExecAwaitingApproval: the rule requires approval; nothing runs until
	// a token with scope approve approves it.
	ExecAwaitingApproval = "awaiting_approval"
	// ExecDenied: a person denied it; nothing ran.
	ExecDenied = "denied"
	// ExecExpired: nobody approved it in time; nothing ran.
	ExecExpired = "expired"
	// ExecVerifying: the tasks succeeded; the rule's verify check is due.
	ExecVerifying = "verifying"
	// ExecRemediated: the tasks succeeded and verification says the fix
	// worked.
	ExecRemediated = "remediated"
	// ExecIneffective: the tasks succeeded but verification says the
	// problem is still there.
	ExecIneffective = "ineffective"
)

// ReasonRulePaused is the reason word of an execution skipped because its
// rule is paused by the circuit breaker (governor.pause_after).
const ReasonRulePaused = "rule_paused"

// ActionAccepted is the action handler's answer to POST /v1/action.
type ActionAccepted struct {
	ExecutionID string   `json:"execution_id"`
	Status      string   `json:"status"`
	Entities    []string `json:"entities"`
}
