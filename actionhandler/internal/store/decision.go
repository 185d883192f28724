package store

import (
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// Decisions: what the classifier decided for each alert (api.Decision),
// recorded by POST /v1/decisions and linked to the executions it caused
// (by api.MatchedAction.ExecutionID), for the console's timeline and alert
// page. The methods (on Store; consumers declare the ones they use):
//
//	RecordDecisions(ctx, ds []api.Decision) error
//	    insert each (ignoring a decision id already recorded: the
//	    classifier retries batches), linking it to its executions
//	ListDecisions(ctx, f DecisionFilter) (DecisionPage, error)
//	    newest first (received_at, then id), keyset paging by Cursor, each
//	    with Hosts and Executions (current status) filled, without Payload
//	GetDecision(ctx, id string) (*api.Decision, error)
//	    one, with Payload, Hosts and Executions; ErrNotFound
//	PruneDecisions(ctx, cutoff time.Time) (int, error)
//	    delete decisions received before cutoff
//	Stats(ctx, f StatsFilter) (Stats, error)
//	    per rule and per time bucket, over executions created in the range
//	Hosts(ctx, since time.Time, limit int) ([]HostStats, error)
//	    per host acted on since then, most recent first
//	RuleActivity(ctx, since time.Time) (map[string]RuleActivity, error)
//	    per rule name: decisions that matched it and their executions

// DecisionFilter selects decisions for ListDecisions. Zero fields do not
// filter; all given ones must hold.
type DecisionFilter struct {
	FeedType string
	FeedName string
	RuleName string // a rule that matched (api.Decision.Matched)
	Host     string // an entity of one of its executions (case-insensitive)
	// Outcome is a decision result (matched, unmatched, deferred, refused,
	// unavailable, direct) or an execution status (queued, running,
	// success, failure, skipped, interrupted, dry_run, refused): a
	// decision one of whose executions has it.
	Outcome string
	Text    string    // a substring of the alert id, unique value or summary (case-insensitive)
	Since   time.Time // received at or after
	Until   time.Time // received before
	Limit   int       // default DefaultLimit, at most MaxLimit
	Cursor  string    // DecisionPage.Next of the previous page
}

// DecisionPage is one page of decisions, newest first.
type DecisionPage struct {
	Decisions []*api.Decision
	Next      string // cursor of the next page; "" on the last
}

// StatsFilter selects the executions Stats counts: created in
// [Since, Until), of RuleName and acting on Host when given. Bucket is the
// width of the time buckets (default: a day).
type StatsFilter struct {
	Since, Until time.Time
	RuleName     string
	Host         string
	Bucket       time.Duration
}

// Stats answers the four reporting questions over a time range.
type Stats struct {
	Rules   []RuleStats // by executions, most first
	Buckets []Bucket    // oldest first, every bucket of the range (empty ones too)
	Actions []ActionStats
}

// RuleStats is one rule's executions in the range.
type RuleStats struct {
	RuleName string
	Total    int
	ByStatus map[string]int // success, failure, skipped, interrupted, dry_run, refused, queued, running
	// Durations of its ended executions (started to finished).
	P50, P95, Max time.Duration
	Last          time.Time // the latest created
}

// Bucket counts executions created in [Start, Start+width).
type Bucket struct {
	Start    time.Time
	ByStatus map[string]int
}

// ActionStats is how many times a task's action ran on a host (steps that
// ran: success or failure) — "how many times was X done to Y".
type ActionStats struct {
	Action  string // the step's action, or its task type when it has none
	Entity  string
	Count   int
	Success int
	Last    time.Time
}

// HostStats is what ran on one host.
type HostStats struct {
	Host     string
	Total    int
	ByStatus map[string]int
	Last     time.Time
}

// RuleActivity is one rule's matches and executions since a time.
type RuleActivity struct {
	Matches   int // decisions it matched in
	Success   int // its executions that succeeded
	Ended     int // its executions that ended (success, failure, interrupted, refused)
	LastMatch time.Time
}
