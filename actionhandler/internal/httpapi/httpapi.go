// Package httpapi is the action handler's HTTP API:
//
//	POST /v1/action          the merged alert+rule (action.Request): the
//	                         execution is recorded queued, then 202 with
//	                         api.ActionAccepted; workers run it. A second
//	                         request for the same alert and rule within the
//	                         dedup window answers 200 with the existing one.
//	GET  /v1/executions      api.ExecutionList, newest first; filters
//	                         alert_id, rule_name, entity, status, since,
//	                         until (RFC 3339); limit, cursor
//	GET  /v1/executions/{id} api.Execution with every step
//	POST /v1/decisions       api.DecisionBatch: the classifier's decisions,
//	                         recorded idempotently; {"recorded": N}
//	GET  /v1/decisions       api.DecisionList, newest first; filters
//	                         feed_type, feed_name, rule, host, outcome, q,
//	                         since, until; limit, cursor
//	GET  /v1/decisions/{id}  api.Decision with its payload and executions
//	POST /v1/executions/{id}/approve, /deny
//	                         decide an execution awaiting approval
//	                         (approvals.go; scope approve)
//
// Scopes (shared/auth): POST /v1/action needs act, and runs only a rule
// whose provenance is verified (a request signed by the classifier,
// auth.SignatureHeader, or a rule identical to the deployed rule file of
// that name in Deployed); any other rule needs adhoc and is recorded and
// noted as ad-hoc with the caller's name; such an execution (not relayed
// by the classifier) gets a decision of its own, result direct, so that
// it is on the timeline. POST /v1/decisions needs record. GET needs read.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// DefaultDedupWindow is how long a second request for the same alert and
// rule returns the first execution.
const DefaultDedupWindow = 24 * time.Hour

// Store is what the API reads and queues executions in (store.Store is
// one).
type Store interface {
	Create(ctx context.Context, x *store.Execution, window time.Duration) (got *store.Execution, created bool, err error)
	CountQueued(ctx context.Context) (int, error)
	Get(ctx context.Context, id string) (*store.Execution, error)
	List(ctx context.Context, f store.Filter) (store.Page, error)
	RecordDecisions(ctx context.Context, ds []api.Decision) error
	ListDecisions(ctx context.Context, f store.DecisionFilter) (store.DecisionPage, error)
	GetDecision(ctx context.Context, id string) (*api.Decision, error)
}

// Handler serves the API.
type Handler struct {
	Store Store
	// Wake tells the workers an execution was queued (may be nil).
	Wake func()
	// OnDuplicate, when set, is called for each request answered with an
	// earlier execution (dedup_window; for metrics).
	OnDuplicate func()
	// DedupWindow: see DefaultDedupWindow.
	DedupWindow time.Duration
	// MaxQueued refuses new executions with 503 while this many wait in
	// the store (all replicas); 0: no limit.
	MaxQueued int
	Log       zerolog.Logger
	// NewID returns a new execution id; default 16 random bytes in hex.
	NewID func() string
	// HostKey names the host an entity acts on (the SSH executor's
	// host:port), so executions on one host run one at a time whatever the
	// entity's spelling; nil: the entity in lower case.
	HostKey func(entity string) string
	// Key verifies the classifier's signature of forwarded requests
	// (signing_key_file); nil: no request is verified, every action needs
	// scope adhoc.
	Key *auth.Key
	// MaxSignatureAge bounds a signature's age (replay); default
	// auth.DefaultMaxAge.
	MaxSignatureAge time.Duration
	// Now is the clock signatures are checked against and approval
	// deadlines start from; nil: time.Now.
	Now func() time.Time
	// Deployed, when set, verifies an unsigned request's rule against the
	// deployed rule files (rules_dir).
	Deployed *DeployedRules
	// Breakers: the circuit breaker's state and resume (rules.go); nil:
	// none is listed.
	Breakers Breakers
	// Replay re-classifies recorded alerts with candidate rules
	// (replay.go; the console's replay page shares it, and its limit on
	// replays at once); nil: POST /v1/replay answers 503.
	Replay *replay.Service

	// Approvals decides executions awaiting approval and writes their
	// creation note (approvals.go); nil: an execution of a rule that
	// requires approval still waits, without a note, and the approve and
	// deny endpoints answer 404.
	Approvals Approver
}

// Routes are the action handler's routes and the scope each requires
// (README "Authentication").
var Routes = []struct {
	Method, Path string
	Scope        auth.Scope
}{
	{http.MethodPost, "/v1/action", auth.ScopeAct},
	{http.MethodGet, "/v1/executions", auth.ScopeRead},
	{http.MethodGet, "/v1/executions/:id", auth.ScopeRead},
	{http.MethodPost, "/v1/decisions", auth.ScopeRecord},
	{http.MethodGet, "/v1/decisions", auth.ScopeRead},
	{http.MethodGet, "/v1/decisions/:id", auth.ScopeRead},
	// approvals.go.
	{http.MethodPost, "/v1/executions/:id/approve", auth.ScopeApprove},
	{http.MethodPost, "/v1/executions/:id/deny", auth.ScopeApprove},
	// rules.go: the circuit breaker.
	{http.MethodGet, "/v1/rules", auth.ScopeRead},
	{http.MethodPost, "/v1/rules/:name/resume", auth.ScopeAdmin},
	// replay.go: read-only, whatever the rules say.
	{http.MethodPost, replayPath, auth.ScopeRead},
}

// Register adds the routes to e behind the auth middleware.
func (h *Handler) Register(e *echo.Echo, tokens *auth.Tokens) {
	if h.NewID == nil {
		h.NewID = NewID
	}
	if h.DedupWindow <= 0 {
		h.DedupWindow = DefaultDedupWindow
	}
	if h.MaxSignatureAge <= 0 {
		h.MaxSignatureAge = auth.DefaultMaxAge
	}
	handlers := map[string]echo.HandlerFunc{
		"POST /v1/action": h.postAction, "GET /v1/executions": h.listExecutions, "GET /v1/executions/:id": h.getExecution,
		"POST /v1/decisions": h.postDecisions, "GET /v1/decisions": h.listDecisions, "GET /v1/decisions/:id": h.getDecision,
		"GET /v1/rules": h.listRules, "POST /v1/rules/:name/resume": h.resumeRule,
		"POST " + replayPath:              h.postReplay,
		"POST /v1/executions/:id/approve": h.approveExecution, "POST /v1/executions/:id/deny": h.denyExecution,
	}
	for _, r := range Routes {
		e.Add(r.Method, r.Path, handlers[r.Method+" "+r.Path], auth.Require(tokens, r.Scope))
	}
}

// signed checks the request's signature: signed by the classifier (then
// its requested_by is trusted), not signed, or refused (the error).
func (h *Handler) signed(c echo.Context, body []byte) (bool, error) {
	sig := c.Request().Header.Get(auth.SignatureHeader)
	if sig == "" {
		return false, nil
	}
	if h.Key == nil {
		return false, echo.NewHTTPError(http.StatusUnauthorized,
			auth.SignatureHeader+": this action handler has no signing_key_file to verify it with")
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	if err := h.Key.Verify(sig, body, now, h.MaxSignatureAge); err != nil {
		h.Log.Warn().Str(logging.Event, "signature_refused").Str(logging.Client, auth.Client(c)).
			Str(logging.ErrorKey, err.Error()).Msg("action request refused")
		return false, echo.NewHTTPError(http.StatusUnauthorized, auth.SignatureHeader+": "+err.Error())
	}
	return true, nil
}

func (h *Handler) postAction(c echo.Context) error {
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	signed, err := h.signed(c, body)
	if err != nil {
		return err
	}
	req, err := action.Decode(body)
	if err != nil {
		return server.BadRequest(err)
	}
	requestedBy := req.RequestedBy
	verified := signed
	if !signed {
		if requestedBy != "" {
			return echo.NewHTTPError(http.StatusBadRequest,
				action.RequestedByKey+": set only by the classifier, in a signed request; leave it out")
		}
		requestedBy = auth.Client(c)
		if h.Deployed != nil {
			if verified, err = h.Deployed.Has(req.Rule); err != nil {
				h.Log.Warn().Str(logging.Event, "rules_dir_unreadable").Str(logging.ErrorKey, err.Error()).
					Msg("deployed rules could not be read to verify a rule")
			}
		}
		if !verified && !auth.Has(c, auth.ScopeAdhoc) {
			why := "the request is not signed by the classifier"
			if h.Deployed != nil {
				why += " and its rule is not the deployed rule of that name"
			}
			return auth.Forbidden(c, auth.ScopeAdhoc, why+", so its rule is not verified; running an unverified rule needs scope adhoc")
		}
	}
	log := h.Log.With().
		Str(logging.Client, auth.Client(c)).
		Str(logging.RequestedBy, requestedBy).
		Str(logging.AlertID, req.Alert.ID()).
		Str(logging.UniqueValue, req.Alert.Meta.UniqueValue).
		Str(logging.RuleName, req.Rule.Name).
		Logger()
	entities, err := req.Rule.ResolveEntities(req.Alert)
	if err != nil {
		// No execution is recorded: there is no host to act on, and a row
		// would take the dedup slot of the alert and rule (a corrected
		// request for them would be answered with this refusal for
		// dedup_window). This line is what reports count.
		log.Warn().Str(logging.Event, "entities_unresolved").
			Str(logging.ActionStatus, logging.StatusRefused).Str(logging.Reason, logging.ReasonEntityRefused).
			Str(logging.ErrorKey, err.Error()).Msg("no host to act on")
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "entities: "+err.Error())
	}
	ctx := c.Request().Context()
	if h.MaxQueued > 0 {
		n, err := h.Store.CountQueued(ctx)
		if err != nil {
			return h.storeDown(c, log, err)
		}
		if n >= h.MaxQueued {
			log.Warn().Str(logging.Event, "execution_refused").
				Str(logging.ActionStatus, logging.StatusRefused).Str(logging.Reason, logging.ReasonQueueFull).
				Int(logging.Count, n).Msg("queue full")
			c.Response().Header().Set("Retry-After", "10")
			return echo.NewHTTPError(http.StatusServiceUnavailable, "too many executions queued; retry later")
		}
	}
	merged, err := json.Marshal(req)
	if err != nil {
		return err
	}
	x := &store.Execution{
		ID:          h.NewID(),
		AlertID:     req.Alert.ID(),
		UniqueValue: req.Alert.Meta.UniqueValue,
		FeedType:    req.Alert.Meta.FeedType,
		FeedName:    req.Alert.Meta.FeedName,
		RuleName:    req.Rule.Name,
		Client:      auth.Client(c),
		RequestedBy: requestedBy,
		AdHoc:       !verified,
		Request:     merged,
		Entities:    entities,
	}
	if req.Rule.Audit() {
		x.Mode = rule.ModeAudit
	}
	if h.HostKey != nil {
		for _, ent := range entities {
			x.Hosts = append(x.Hosts, h.HostKey(ent))
		}
	}
	if req.Rule.NeedsApproval() {
		x.ApprovalExpiresAt = h.now().Add(req.Rule.ApprovalExpiry()).UTC().Truncate(time.Microsecond)
		if h.Approvals != nil {
			x.Writebacks = h.Approvals.CreationWritebacks(x)
		}
	}
	got, created, err := h.Store.Create(ctx, x, h.DedupWindow)
	if err != nil {
		return h.storeDown(c, log, err)
	}
	if !created {
		if h.OnDuplicate != nil {
			h.OnDuplicate()
		}
		log.Info().Str(logging.Event, "execution_duplicate").Str(logging.ExecutionID, got.ID).
			Str(logging.ActionStatus, got.Status).Msg("same alert and rule within the dedup window: not run again")
		return c.JSON(http.StatusOK, api.ActionAccepted{ExecutionID: got.ID, Status: got.Status, Entities: got.Entities})
	}
	if !verified {
		log.Warn().Str(logging.Event, "adhoc_action").Str(logging.ExecutionID, got.ID).
			Msg("ad-hoc action: its rule is not verified, run on the caller's scope adhoc")
	}
	if got.Status == store.AwaitingApproval {
		log.Info().Str(logging.Event, "execution_awaiting_approval").Str(logging.ExecutionID, got.ID).
			Int(logging.Count, len(entities)).Str(logging.Detail, "until "+got.ApprovalExpiresAt.Format(time.RFC3339)).
			Msg("execution waits for approval")
	} else {
		log.Info().Str(logging.Event, "execution_queued").Str(logging.ExecutionID, got.ID).
			Int(logging.Count, len(entities)).Msg("execution queued")
	}
	if !signed {
		h.recordDirect(c, req, got, requestedBy)
	}
	if h.Wake != nil && got.Status == store.Queued {
		h.Wake()
	}
	return c.JSON(http.StatusAccepted, api.ActionAccepted{ExecutionID: got.ID, Status: got.Status, Entities: entities})
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) storeDown(c echo.Context, log zerolog.Logger, err error) error {
	log.Error().Str(logging.Event, "store_error").Str(logging.ErrorKey, err.Error()).Msg("store unavailable")
	c.Response().Header().Set("Retry-After", "10")
	return echo.NewHTTPError(http.StatusServiceUnavailable, "execution store unavailable; retry later")
}

var statuses = map[string]bool{
	api.ExecQueued: true, api.ExecRunning: true, api.ExecSuccess: true, api.ExecFailure: true,
	api.ExecSkipped: true, api.ExecInterrupted: true, api.ExecDryRun: true, api.ExecRefused: true,
	api.ExecAudit: true, api.ExecAwaitingApproval: true, api.ExecDenied: true, api.ExecExpired: true,
	api.ExecVerifying: true, api.ExecRemediated: true, api.ExecIneffective: true,
}

func (h *Handler) listExecutions(c echo.Context) error {
	q := c.QueryParams()
	for k := range q {
		switch k {
		case "alert_id", "rule_name", "entity", "status", "since", "until", "limit", "cursor", "token":
		default:
			return echo.NewHTTPError(http.StatusBadRequest, "unknown parameter "+strconv.Quote(k)+
				" (filters: alert_id, rule_name, entity, status, since, until; paging: limit, cursor)")
		}
	}
	f := store.Filter{AlertID: q.Get("alert_id"), RuleName: q.Get("rule_name"), Entity: q.Get("entity"),
		Status: q.Get("status"), Cursor: q.Get("cursor")}
	if f.Status != "" && !statuses[f.Status] {
		return echo.NewHTTPError(http.StatusBadRequest, "status: unknown status "+strconv.Quote(f.Status))
	}
	var err error
	if f.Since, f.Until, f.Limit, err = rangeParams(q); err != nil {
		return err
	}
	page, err := h.Store.List(c.Request().Context(), f)
	if errors.Is(err, store.ErrCursor) {
		return echo.NewHTTPError(http.StatusBadRequest, "cursor: not one this API gave")
	}
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	out := api.ExecutionList{Executions: make([]api.Execution, 0, len(page.Executions)), NextCursor: page.Next}
	for _, x := range page.Executions {
		out.Executions = append(out.Executions, Execution(x))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) getExecution(c echo.Context) error {
	x, err := h.Store.Get(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no execution "+strconv.Quote(c.Param("id")))
	}
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	return c.JSON(http.StatusOK, Execution(x))
}

// timeParam reads an RFC 3339 time ("" is zero).
// rangeParams reads the since, until (RFC 3339) and limit parameters the
// list endpoints share; the error is the 400 naming the parameter.
func rangeParams(q url.Values) (since, until time.Time, limit int, err error) {
	if since, err = timeParam(q.Get("since")); err != nil {
		return since, until, 0, echo.NewHTTPError(http.StatusBadRequest, "since: "+err.Error())
	}
	if until, err = timeParam(q.Get("until")); err != nil {
		return since, until, 0, echo.NewHTTPError(http.StatusBadRequest, "until: "+err.Error())
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxLimit {
			return since, until, 0, echo.NewHTTPError(http.StatusBadRequest, "limit: want 1.."+strconv.Itoa(store.MaxLimit))
		}
		limit = n
	}
	return since, until, limit, nil
}

func timeParam(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want an RFC 3339 time, e.g. 2025-03-01T12:00:00Z")
	}
	return t, nil
}

// Execution is the API form of a stored execution.
func Execution(x *store.Execution) api.Execution {
	out := api.Execution{
		ID: x.ID, Status: x.Status, Reason: x.Reason, AlertID: x.AlertID, UniqueValue: x.UniqueValue,
		FeedType: x.FeedType, FeedName: x.FeedName, RuleName: x.RuleName, Client: x.Client,
		RequestedBy: x.RequestedBy, AdHoc: x.AdHoc, Entities: x.Entities, CreatedAt: x.CreatedAt,
		StartedAt: timePtr(x.StartedAt), FinishedAt: timePtr(x.FinishedAt), ReportedAt: timePtr(x.ReportedAt),
		ApprovalExpiresAt: timePtr(x.ApprovalExpiresAt), DecidedBy: x.DecidedBy, DecisionReason: x.DecisionReason,
		DecidedAt: timePtr(x.DecidedAt),
	}
	if out.Entities == nil {
		out.Entities = []string{}
	}
	for _, st := range x.Steps {
		s := api.Step{TaskIndex: st.TaskIndex, Entity: st.Entity, TaskType: st.TaskType, Action: st.Action,
			Command: st.Command, Status: st.Status, HTTPStatus: st.HTTPStatus, Stdout: st.Stdout, Stderr: st.Stderr,
			Truncated: st.Truncated, Error: st.Error, StartedAt: timePtr(st.StartedAt), FinishedAt: timePtr(st.FinishedAt)}
		if st.ExitCode >= 0 {
			code := st.ExitCode
			s.ExitCode = &code
		}
		if s.StartedAt != nil && s.FinishedAt != nil {
			ms := st.FinishedAt.Sub(st.StartedAt).Milliseconds()
			s.ElapsedMS = &ms
		}
		if store.IsVerifyStep(st) {
			if out.Verification == nil {
				out.Verification = &api.Verification{}
			}
			out.Verification.Steps = append(out.Verification.Steps, s)
			continue
		}
		out.Steps = append(out.Steps, s)
	}
	if !x.VerifyAt.IsZero() {
		if out.Verification == nil {
			out.Verification = &api.Verification{}
		}
		out.Verification.VerifyAt, out.Verification.VerifiedAt = x.VerifyAt, timePtr(x.VerifiedAt)
		if !x.VerifiedAt.IsZero() {
			out.Verification.Outcome = x.Status
		}
	}
	for _, w := range x.Writebacks {
		var op ticket.Op
		desc := "unreadable operation"
		if json.Unmarshal(w.Op, &op) == nil {
			desc = op.String()
		}
		out.PendingWritebacks = append(out.PendingWritebacks, api.PendingWriteback{Op: desc, Attempts: w.Attempts,
			LastError: w.LastError, NextAt: w.NextAt})
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// NewID returns 16 random bytes in hex.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
