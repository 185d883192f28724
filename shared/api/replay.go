package api

import "time"

// Replay (docs/rollout.md#replay): POST /v1/replay on the action handler
// (scope read) re-classifies recorded alerts with candidate rules and says
// what would differ. Nothing runs and nothing is written.

// ReplayRequest is the body of POST /v1/replay.
type ReplayRequest struct {
	// Rules are the candidate rule files by file name ("disk.json") with
	// their contents: at most 500, each at most 1 MiB.
	Rules map[string]string `json:"rules"`
	// Since and Until bound the decisions replayed (received in
	// [since, until)): an RFC 3339 time or a duration back from now
	// ("24h", "7d"); "" is unbounded.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	// Limit: the newest this many decisions (default 1000, at most 10000).
	Limit int `json:"limit,omitempty"`
}

// Replay difference kinds.
const (
	ReplayNewlyMatched   = "newly_matched"   // nothing matched; now a rule does
	ReplayUnmatched      = "unmatched"       // a rule matched; now none does
	ReplayChangedRule    = "changed_rule"    // other rules match than did
	ReplayCommandChanged = "command_changed" // the same rules, but a task renders differently
)

// ReplayKinds lists the kinds in the order reports group them.
var ReplayKinds = []string{ReplayNewlyMatched, ReplayUnmatched, ReplayChangedRule, ReplayCommandChanged}

// ReplayAnswer is what a replay found.
type ReplayAnswer struct {
	Since       time.Time          `json:"since,omitzero"`
	Until       time.Time          `json:"until,omitzero"`
	Decisions   int                `json:"decisions"` // read from the store
	Replayed    int                `json:"replayed"`  // re-classified (decisions minus skipped)
	Unchanged   int                `json:"unchanged"`
	Counts      map[string]int     `json:"counts"`            // differences per kind (every kind, 0 too)
	Skipped     map[string]int     `json:"skipped,omitempty"` // decisions not re-classified, per reason
	Truncated   bool               `json:"truncated"`         // more decisions were in the range than the limit
	Differences []ReplayDifference `json:"differences"`       // newest decision first
}

// Changes is the number of differences.
func (a *ReplayAnswer) Changes() int { return len(a.Differences) }

// ReplayDifference is one recorded decision the candidate rules decide
// otherwise.
type ReplayDifference struct {
	Kind         string       `json:"kind"`
	DecisionID   string       `json:"decision_id"`
	AlertID      string       `json:"alert_id"`
	UniqueValue  string       `json:"unique_value,omitempty"`
	FeedType     string       `json:"feed_type"`
	Summary      string       `json:"summary,omitempty"`
	ReceivedAt   time.Time    `json:"received_at"`
	BeforeResult string       `json:"before_result"` // as recorded: matched, unmatched, deferred, refused
	AfterResult  string       `json:"after_result"`  // matched, unmatched or deferred
	Before       []ReplayRule `json:"before"`        // the rules that matched
	After        []ReplayRule `json:"after"`         // the candidate rules that match
}

// ReplayRule is one rule of a side of a difference, with Commands its
// tasks rendered for the alert: on command_changed, before the rule as
// its execution stored it and after the candidate; on newly_matched and
// changed_rule, the candidate rules that would newly act (what would run).
type ReplayRule struct {
	RuleName    string          `json:"rule_name"`
	File        string          `json:"file,omitempty"`         // after: the candidate file
	ExecutionID string          `json:"execution_id,omitempty"` // before: the execution it caused
	Commands    []ReplayCommand `json:"commands,omitempty"`
}

// ReplayCommand is one task on one host as the run would render it:
// Command what would run (secrets as <secret>), or Refused why the
// templates refused the alert's values (Task -1: why no host resolved).
type ReplayCommand struct {
	Task     int    `json:"task"` // index in task_list
	TaskType string `json:"task_type,omitempty"`
	Action   string `json:"action,omitempty"`
	Entity   string `json:"entity,omitempty"`
	Command  string `json:"command,omitempty"`
	Refused  string `json:"refused,omitempty"`
}
