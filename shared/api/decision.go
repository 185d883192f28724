package api

import (
	"encoding/json"
	"time"
)

// ResultDirect is the result of a decision the action handler records
// itself for an action posted to it directly (not relayed by the
// classifier), so that every execution has its alert on the timeline.
const ResultDirect = "direct"

// ResultUnavailable is the result of a decision that could not be made or
// acted on (rules not loadable, every push refused for now); the alert is
// offered again and gets a decision of its own then.
const ResultUnavailable = "unavailable"

// Decision is what the classifier decided for one alert: posted by the
// classifier in batches (POST /v1/decisions on the action handler, scope
// record) and read back with what it caused (GET /v1/decisions,
// GET /v1/decisions/{id}, the console's timeline and alert page).
type Decision struct {
	ID           string          `json:"id"` // the classifier's id for this decision, 32 hex digits
	ReceivedAt   time.Time       `json:"received_at"`
	FeedType     string          `json:"feed_type"`
	FeedName     string          `json:"feed_name,omitempty"`
	AlertID      string          `json:"alert_id"`
	UniqueValue  string          `json:"unique_value"`
	Summary      string          `json:"summary,omitempty"` // the alert's message or title, at most 256 bytes
	Result       string          `json:"result"`            // Result* (matched, unmatched, deferred, refused, unavailable, direct)
	RulesChecked int             `json:"rules_checked"`
	Rules        []DecisionRule  `json:"rules,omitempty"`   // the explain summary, one per rule file
	Matched      []MatchedAction `json:"matched,omitempty"` // the rules pushed and what the action handler said
	RequestedBy  string          `json:"requested_by,omitempty"`
	// Payload is the alert envelope as received (secrets are never in an
	// envelope: ticket keys live in configuration), omitted when it is
	// larger than MaxDecisionPayload (PayloadOmitted).
	Payload        json.RawMessage `json:"payload,omitempty"`
	PayloadOmitted bool            `json:"payload_omitted,omitempty"`

	// Filled by the action handler when read:
	Hosts      []string            `json:"hosts,omitempty"`      // the entities of the executions it caused
	Executions []DecisionExecution `json:"executions,omitempty"` // the executions it caused, with their current status
}

// MaxDecisionPayload is the largest envelope kept in a decision.
const MaxDecisionPayload = 64 << 10

// DecisionRule is what one rule file decided for the alert (the classifier's
// explain, summarised).
type DecisionRule struct {
	File     string `json:"file,omitempty"`
	RuleName string `json:"rule_name,omitempty"`
	// Status: matched, not_matched, deferred, invalid, disabled,
	// other_feed, error.
	Status string `json:"status"`
	// not_matched: the first condition that failed: its JSON path in the
	// rule file, the alert path it read, the operator, what it expected
	// and the value seen (trimmed).
	RulePath  string `json:"rule_path,omitempty"`
	AlertPath string `json:"alert_path,omitempty"`
	Op        string `json:"op,omitempty"`
	Expected  string `json:"expected,omitempty"`
	Actual    string `json:"actual,omitempty"`
	Reason    string `json:"reason,omitempty"` // not_matched, deferred, invalid, error: why, in words
}

// DecisionExecution is one execution a decision caused.
type DecisionExecution struct {
	ID       string   `json:"id"`
	RuleName string   `json:"rule_name"`
	Status   string   `json:"status"`
	Entities []string `json:"entities,omitempty"`
}

// DecisionBatch is the body of POST /v1/decisions: at most
// MaxDecisionBatch decisions. Recording is idempotent by decision id.
type DecisionBatch struct {
	Decisions []Decision `json:"decisions"`
}

// MaxDecisionBatch is the most decisions one POST /v1/decisions carries.
const MaxDecisionBatch = 500

// DecisionList is a page of GET /v1/decisions, newest first; pass
// NextCursor as ?cursor= for the next page.
type DecisionList struct {
	Decisions  []Decision `json:"decisions"`
	NextCursor string     `json:"next_cursor,omitempty"`
}
