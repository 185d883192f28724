package api

import "time"

// The circuit breaker's state (docs/rollout.md), GET /v1/rules and
// POST /v1/rules/{name}/resume on the action handler.

// RuleState is the circuit breaker's state of a rule (Entity "") or of a
// rule on one host (a rule with "pause_per_entity": true).
type RuleState struct {
	RuleName string `json:"rule_name"`
	Entity   string `json:"entity,omitempty"`
	// RuleHash: the version of the rule counted (sha256 of its canonical
	// JSON); another version starts at 0 and resumes a pause.
	RuleHash string `json:"rule_hash"`
	// Failures: consecutive failed, refused or ineffective executions.
	Failures int  `json:"failures"`
	Paused   bool `json:"paused"`
	// PausedAt and Reason: since when and why it is paused.
	PausedAt        *time.Time `json:"paused_at,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	LastExecutionID string     `json:"last_execution_id,omitempty"`
	UpdatedAt       time.Time  `json:"updated_at"`
	// The last resume: when, by whom (a token's name, or rule_changed)
	// and why.
	ResumedAt    *time.Time `json:"resumed_at,omitempty"`
	ResumedBy    string     `json:"resumed_by,omitempty"`
	ResumeReason string     `json:"resume_reason,omitempty"`
}

// RuleList answers GET /v1/rules: paused ones first, then by rule and
// entity.
type RuleList struct {
	Rules []RuleState `json:"rules"`
}

// ResumeRequest is the body of POST /v1/rules/{name}/resume: Reason is
// required; Entity resumes the rule on that host only ("" every pause of
// the rule).
type ResumeRequest struct {
	Reason string `json:"reason"`
	Entity string `json:"entity,omitempty"`
}

// ResumeAnswer lists the pauses ended.
type ResumeAnswer struct {
	Resumed []RuleState `json:"resumed"`
}
