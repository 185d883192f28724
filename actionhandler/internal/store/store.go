// Package store keeps executions durably, so none silently vanishes: what
// was asked (alert, rule, entities, who asked), where it stands, and what
// every task did on every host.
//
// Two back ends share one schema (migrations.go) and one implementation
// (sql.go), differing only in a dialect: SQLite through the pure-Go
// modernc.org/sqlite (embedded, the default, one process per database file)
// and PostgreSQL through pgx (several replicas may share one database).
//
// Life of an execution:
//
//	Create        queued   (or the existing execution for the same alert and
//	                        rule within the dedup window; awaiting_approval
//	                        when its rule requires approval, until Approve
//	                        queues it or Deny / ExpireApprovals end it)
//	Claim         running  (owner and lease set; or skipped when the
//	                        governor refuses it)
//	Renew ...              (the owner extends its lease while it runs)
//	Finish        success | failure | dry_run | interrupted | refused
//	              (or FinishVerifying: verifying, then remediated or
//	              ineffective by verification, verify.go)
//	Reported               (written back onto the alert; owner released)
//
// A row that is not queued, not reported and whose lease has expired
// belongs to an owner that died: Recover marks it interrupted (if it was
// running), takes it over and returns it so it is reported on the alert.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// Execution statuses (the values are api.Exec*).
const (
	Queued      = api.ExecQueued
	Running     = api.ExecRunning
	Success     = api.ExecSuccess
	Failure     = api.ExecFailure
	Skipped     = api.ExecSkipped
	Interrupted = api.ExecInterrupted
	DryRun      = api.ExecDryRun
	Refused     = api.ExecRefused

	// Safe rollout (approval.go, verify.go, breaker.go).
	Audit            = api.ExecAudit
	AwaitingApproval = api.ExecAwaitingApproval
	Denied           = api.ExecDenied
	Expired          = api.ExecExpired
	Verifying        = api.ExecVerifying
	Remediated       = api.ExecRemediated
	Ineffective      = api.ExecIneffective
)

// Step statuses beyond the execution ones: a step not run because of
// run_if or an earlier failure is Skipped; NotRun marks steps of an
// interrupted execution that never started.
const (
	StepNotRun = "not_run"
)

// InterruptedStepError is the error Recover gives the steps that were
// running when their replica died.
const InterruptedStepError = "the action handler stopped while this ran: outcome unknown"

// Errors.
var (
	ErrNotFound  = errors.New("execution not found")
	ErrLeaseLost = errors.New("execution lease lost: another replica took it over")
	ErrCursor    = errors.New("bad cursor")
)

// Execution is one accepted action request.
type Execution struct {
	ID          string
	AlertID     string // the alert's id in its feed
	UniqueValue string
	FeedType    string
	FeedName    string
	RuleName    string
	Client      string   // who asked (token name)
	RequestedBy string   // who asked originally (the classifier's caller), see api.Execution
	AdHoc       bool     // the rule was not verified: run on the client's scope adhoc
	Request     []byte   // the merged alert+rule (action.Request JSON)
	Entities    []string // in rule order
	// Hosts (Create only) are the hosts the entities act on, one per
	// entity, as the SSH executor resolves them ("web01" and "WEB01:22" are
	// one host "web01:22"); an execution waits while another acts on one of
	// them. Missing or "": the entity in lower case.
	Hosts       []string
	Status      string
	Reason      string // why skipped or interrupted
	Owner       string // the replica running or reporting it
	CreatedAt   time.Time
	StartedAt   time.Time // zero until running
	FinishedAt  time.Time // zero until finished; a later escalation timer starts here
	ReportedAt  time.Time // zero until written back onto the alert
	EscalateAt  time.Time // zero unless an escalation is scheduled
	EscalatedAt time.Time // zero until the escalation was handled (EscalationDone)
	Steps       []Step    // Get only: every task on every host
	// Writebacks (Get): the write-back operations on its alert that
	// failed and wait to be tried again. Create queues them (due from
	// their NextAt) with a new execution in the same transaction: the
	// note of one awaiting approval.
	Writebacks []Writeback

	// Safe rollout (docs/rollout.md).
	Mode string // the rule's mode: "" (enforce) or rule.ModeAudit
	// ApprovalExpiresAt: when an execution awaiting approval expires
	// (zero unless its rule requires approval). Set for Create, the
	// execution is created awaiting_approval (approval.go).
	ApprovalExpiresAt time.Time
	// DecidedBy, DecisionReason, DecidedAt: who approved or denied it
	// (their token's name), why, and when; empty until then.
	DecidedBy      string
	DecisionReason string
	DecidedAt      time.Time
	// VerifyAt: when the rule's verify check is due (zero when none);
	// VerifiedAt: when it ended (remediated or ineffective).
	VerifyAt   time.Time
	VerifiedAt time.Time
}

// Step is one task on one host.
type Step struct {
	TaskIndex  int
	Entity     string
	TaskType   string
	Action     string
	Command    string // what ran, secrets redacted
	Status     string // running, success, failure, skipped, dry_run, interrupted, not_run, refused
	ExitCode   int    // -1 when there is none
	HTTPStatus int    // http tasks: the answer's status code
	Stdout     string // capped, secrets redacted
	Stderr     string
	Truncated  bool
	Error      string // the reason shown to people
	StartedAt  time.Time
	FinishedAt time.Time
	// RemotePID and RemoteStart identify a remote_ssh step's process on its
	// host (pid, start time) from when the host reported it; 0 and "" when
	// unknown.
	RemotePID   int
	RemoteStart string
}

// Filter selects executions for List. Zero fields do not filter.
type Filter struct {
	AlertID  string
	RuleName string
	Entity   string
	Status   string
	Since    time.Time // created at or after
	Until    time.Time // created before
	Limit    int       // default DefaultLimit, at most MaxLimit
	Cursor   string    // Page.Next of the previous page
}

// Writeback is a write-back operation (a note, a team, a close, ...) on an
// execution's alert that failed and is to be tried again.
type Writeback struct {
	ID          string
	ExecutionID string
	FeedType    string
	FeedName    string
	AlertID     string
	Op          []byte // the ticket operation, JSON, as it was sent (redacted)
	Attempts    int    // tries so far
	LastError   string
	CreatedAt   time.Time
	NextAt      time.Time
	Owner       string
}

// List page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of executions, newest first, without their steps.
type Page struct {
	Executions []*Execution
	Next       string // cursor of the next page; "" on the last
}

// Admit decides, inside the claiming transaction, whether x may run: ""
// runs it, anything else is the reason it is skipped. c counts what already
// ran, consistently across replicas (the transaction holds the governor
// lock).
type Admit func(ctx context.Context, c Counter, x *Execution) (reason string, err error)

// Counter counts executions that touched hosts (running, success, failure,
// interrupted, or refused, which may have run earlier tasks; neither
// skipped nor dry runs).
type Counter interface {
	// Started counts executions of rule started at or after since, only
	// those acting on entity unless it is "", and gives the latest start.
	// It counts atMost at most (0: all): the work is bounded by what the
	// caller needs to know, not by how many ran in the window.
	Started(ctx context.Context, rule, entity string, since time.Time, atMost int) (n int, last time.Time, err error)
	// Hosts counts hosts acted on by executions started at or after since
	// (a host counts once per execution), atMost at most (0: all).
	Hosts(ctx context.Context, since time.Time, atMost int) (int, error)
	// Paused returns the circuit breaker's pause holding rule (version
	// hash) on the whole or on one of entities, nil when none; pauses of
	// another version are ended (the rule changed) and returned in
	// resumed (breaker.go).
	Paused(ctx context.Context, rule, hash string, entities []string) (paused *Breaker, resumed []Breaker, err error)
}

// Store keeps executions. Implementations are safe for concurrent use.
//
// Store is what an implementation provides (SQLite, PostgreSQL) and what
// run wires; consumers declare the few methods they use and accept those:
// engine.Store (steps, ends, leases, reported), writeback.Store
// (escalation timers, write-backs to try again), engine.Queue (the
// workers: claim, recover, prune), engine.QueueCounter (the queue gauge),
// httpapi.Store (create, count, get, list), Counter (the governor).
type Store interface {
	// Create records x as queued, unless an execution for the same feed
	// type, alert id and rule name was created less than window ago: then
	// it returns that one and created is false. The database enforces
	// this, also between replicas.
	Create(ctx context.Context, x *Execution, window time.Duration) (got *Execution, created bool, err error)
	// CountQueued is how many executions wait for a worker.
	CountQueued(ctx context.Context) (int, error)
	// Claim takes the oldest queued execution for owner whose hosts no
	// running execution acts on (one execution per host at a time, across
	// replicas; Execution.Hosts): running with a lease, or skipped when admit says so. nil
	// when none is queued or every queued one waits for a host.
	Claim(ctx context.Context, owner string, lease time.Duration, admit Admit) (*Execution, error)
	// Renew extends the lease of an execution owner holds (ErrLeaseLost if
	// it does not any more).
	Renew(ctx context.Context, id, owner string, lease time.Duration) error
	// SaveStep records (or updates) a step of a running execution.
	SaveStep(ctx context.Context, id string, s Step) error
	// Finish ends a running execution owner holds, recording steps (its
	// last steps' results, as SaveStep would) in the same transaction:
	// the final results and the status land together or not at all.
	Finish(ctx context.Context, id, owner, status, reason string, steps ...Step) error
	// Verification (verify.go): FinishVerifying ends a running execution
	// verifying, due after; ClaimVerifications leases the due ones;
	// EndVerification records the verdict and opens it for write-back.
	FinishVerifying(ctx context.Context, id, owner string, after time.Duration, steps ...Step) error
	ClaimVerifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]*Execution, error)
	EndVerification(ctx context.Context, id, owner, status, reason string, steps ...Step) error
	// ScheduleEscalation sets the escalation of an ended execution owner
	// holds (not yet reported) due delay after it finished.
	ScheduleEscalation(ctx context.Context, id, owner string, delay time.Duration) error
	// ClaimEscalations takes up to limit due escalations for lease and
	// returns them: each goes to one replica at a time; one not marked
	// EscalationDone within lease (its replica died) is due again then.
	ClaimEscalations(ctx context.Context, lease time.Duration, limit int) ([]*Execution, error)
	// EscalationDone records that execution id's escalation was handled
	// (escalated, or found closed): it is never claimed again.
	EscalationDone(ctx context.Context, id string) error
	// QueueWritebacks records write-back operations that failed, each to be
	// tried again from its NextAt.
	QueueWritebacks(ctx context.Context, ws []Writeback) error
	// ClaimWritebacks leases up to limit due write-backs to owner: each is
	// returned to one replica at a time, again once its lease expired
	// (its replica died while trying it).
	ClaimWritebacks(ctx context.Context, owner string, lease time.Duration, limit int) ([]Writeback, error)
	// EndWriteback ends owner's try of write-back id: deleted when retryAt
	// is zero (done, or given up), else due again at retryAt with one more
	// attempt and lastErr recorded.
	EndWriteback(ctx context.Context, id, owner string, retryAt time.Time, lastErr string) error
	// Reported marks an ended execution as written back and releases it.
	Reported(ctx context.Context, id, owner string) error
	// ExpireLeases ends the leases owner holds ("": every owner), so the
	// next Recover takes its executions over. For a restart of the same
	// replica, and for SQLite, where only one process uses the database.
	ExpireLeases(ctx context.Context, owner string) error
	// Recover takes over unreported executions whose owner's lease expired:
	// running ones become interrupted (their running steps too). It returns
	// them, with steps, leased to owner, for the write-back.
	Recover(ctx context.Context, owner string, lease time.Duration) ([]*Execution, error)
	// Get returns one execution with its steps.
	Get(ctx context.Context, id string) (*Execution, error)
	// List returns executions matching f, newest first.
	List(ctx context.Context, f Filter) (Page, error)
	// Prune deletes reported executions created before cutoff, and the
	// decisions received before it (PruneDecisions).
	Prune(ctx context.Context, cutoff time.Time) (int, error)

	// Decisions and statistics: decision.go.
	RecordDecisions(ctx context.Context, ds []api.Decision) error
	ListDecisions(ctx context.Context, f DecisionFilter) (DecisionPage, error)
	GetDecision(ctx context.Context, id string) (*api.Decision, error)
	PruneDecisions(ctx context.Context, cutoff time.Time) (int, error)
	Stats(ctx context.Context, f StatsFilter) (Stats, error)
	Hosts(ctx context.Context, since time.Time, limit int) ([]HostStats, error)
	RuleActivity(ctx context.Context, since time.Time) (map[string]RuleActivity, error)
	// ReplayDecisions: replay.go.
	ReplayDecisions(ctx context.Context, f ReplayFilter) ([]ReplayDecision, bool, error)

	Close() error
}

// Terminal reports whether status is an end state.
func Terminal(status string) bool {
	switch status {
	case Success, Failure, Skipped, Interrupted, DryRun, Refused,
		Audit, Denied, Expired, Remediated, Ineffective:
		return true
	}
	return false
}
