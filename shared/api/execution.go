package api

import "time"

// Execution is one action handler execution, as GET /v1/executions lists
// it and GET /v1/executions/{id} shows it (with Steps).
type Execution struct {
	ID          string `json:"id"`
	Status      string `json:"status"`           // Exec* constants
	Reason      string `json:"reason,omitempty"` // why skipped or interrupted
	AlertID     string `json:"alert_id"`
	UniqueValue string `json:"unique_value"`
	FeedType    string `json:"feed_type"`
	FeedName    string `json:"feed_name"`
	RuleName    string `json:"rule_name"`
	Client      string `json:"client"` // who asked (their token's name)
	// RequestedBy is who asked originally: for an execution the classifier
	// relayed, the token that posted the alert to it; else the client.
	RequestedBy string `json:"requested_by,omitempty"`
	// AdHoc: the rule was not verified (not signed by the classifier); it
	// ran because the client holds scope adhoc.
	AdHoc      bool       `json:"adhoc,omitempty"`
	Entities   []string   `json:"entities"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ReportedAt *time.Time `json:"reported_at,omitempty"` // written back onto the alert
	// Approval (docs/rollout.md#approvals): when an execution awaiting
	// approval expires; who approved or denied it (their token's name),
	// why and when.
	ApprovalExpiresAt *time.Time `json:"approval_expires_at,omitempty"`
	DecidedBy         string     `json:"decided_by,omitempty"`
	DecisionReason    string     `json:"decision_reason,omitempty"`
	DecidedAt         *time.Time `json:"decided_at,omitempty"`
	Steps             []Step     `json:"steps,omitempty"`
	// Verification is the rule's verify check (docs/rollout.md): absent
	// when the execution was never verifying.
	Verification *Verification `json:"verification,omitempty"`
	// PendingWritebacks are write-back operations on the alert that failed
	// and will be tried again (GET /v1/executions/{id} only).
	PendingWritebacks []PendingWriteback `json:"pending_writebacks,omitempty"`
}

// Verification is where an execution's verify check stands: due at
// VerifyAt (status verifying), or ended at VerifiedAt with Outcome
// remediated or ineffective, why in the execution's reason.
type Verification struct {
	VerifyAt   time.Time  `json:"verify_at"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	// Outcome: remediated or ineffective; "" while due.
	Outcome string `json:"outcome,omitempty"`
	// Steps: the verify task on each host (GET /v1/executions/{id} only);
	// their task_index is -1. Never in the execution's steps.
	Steps []Step `json:"steps,omitempty"`
}

// PendingWriteback is a write-back operation waiting for another try.
type PendingWriteback struct {
	Op        string    `json:"op"`       // the operation and its target, e.g. "add_team ops" (never a note's text)
	Attempts  int       `json:"attempts"` // tries so far
	LastError string    `json:"last_error"`
	NextAt    time.Time `json:"next_at"` // when it is tried again
}

// Step is one task on one host of an execution. Command, output and error
// never hold secrets: they are redacted before they are stored.
type Step struct {
	TaskIndex  int        `json:"task_index"` // position in the rule's task_list
	Entity     string     `json:"entity"`
	TaskType   string     `json:"task_type"`
	Action     string     `json:"action,omitempty"`
	Command    string     `json:"command,omitempty"` // what ran: command line, argv, "METHOD URL", "plugin NAME"
	Status     string     `json:"status"`            // running, success, failure, skipped, dry_run, interrupted
	ExitCode   *int       `json:"exit_code"`         // null when there is none (not run, killed, http)
	HTTPStatus int        `json:"http_status,omitempty"`
	Stdout     string     `json:"stdout,omitempty"` // capped
	Stderr     string     `json:"stderr,omitempty"`
	Truncated  bool       `json:"truncated,omitempty"`
	Error      string     `json:"error,omitempty"` // why it failed or was skipped
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ElapsedMS  *int64     `json:"elapsed_ms,omitempty"`
}

// ExecutionList is a page of GET /v1/executions, newest first; pass
// NextCursor as ?cursor= for the next page.
type ExecutionList struct {
	Executions []Execution `json:"executions"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// DecisionRequest is the body of POST /v1/executions/{id}/approve and
// /deny: why (required, at most 500 bytes, no control characters).
type DecisionRequest struct {
	Reason string `json:"reason"`
}
