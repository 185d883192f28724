package httpapi

// Approvals' API (docs/rollout.md#approvals):
//
//	POST /v1/executions/{id}/approve  api.DecisionRequest {"reason": "..."}:
//	                                  queues an execution awaiting approval;
//	                                  200 api.Execution (scope approve)
//	POST /v1/executions/{id}/deny     the same, ends it denied
//
// 400 a body that is not {"reason": "..."} or a reason missing, longer
// than engine.MaxDecisionReason or with control characters; 403 the token is not
// one of the rule's approval.approvers, or approves what its own token
// requested; 404 no such execution; 409 the execution does not wait for
// approval (api.Error.Status says where it stands) or its approval
// expired.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
)

// Approver decides executions awaiting approval (engine.Approvals is
// one).
type Approver interface {
	// CreationWritebacks is the note of x, about to be created awaiting
	// approval, for Create to queue with it.
	CreationWritebacks(x *store.Execution) []store.Writeback
	Approve(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error)
	Deny(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error)
}

func (h *Handler) approveExecution(c echo.Context) error { return h.decide(c, true) }
func (h *Handler) denyExecution(c echo.Context) error    { return h.decide(c, false) }

func (h *Handler) decide(c echo.Context, approve bool) error {
	id := c.Param("id")
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	var req api.DecisionRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "body: want {\"reason\": \"...\"}: "+err.Error())
	}
	if dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest, "body: want one JSON object {\"reason\": \"...\"}")
	}
	reason, err := engine.DecisionReason(req.Reason)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx := c.Request().Context()
	by := auth.Client(c)
	x, err := engine.Decidable(ctx, h.Store, id, by, approve)
	if err == nil && h.Approvals == nil {
		return echo.NewHTTPError(http.StatusNotFound, "approvals are not served here")
	}
	var got *store.Execution
	if err == nil && approve {
		got, err = h.Approvals.Approve(ctx, x, by, reason)
	} else if err == nil {
		got, err = h.Approvals.Deny(ctx, x, by, reason)
	}
	var ae *store.ApprovalError
	var re *engine.RefusedError
	switch {
	case errors.As(err, &ae):
		return conflict(id, ae)
	case errors.As(err, &re):
		return echo.NewHTTPError(http.StatusForbidden, re.Why)
	case errors.Is(err, store.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "no execution "+strconv.Quote(id))
	case err != nil:
		return h.storeDown(c, h.Log, err)
	}
	if approve && h.Wake != nil {
		h.Wake()
	}
	return c.JSON(http.StatusOK, Execution(got))
}

// conflict is the 409 of a decision on an execution not awaiting
// approval.
func conflict(id string, ae *store.ApprovalError) error {
	status := ae.Status
	if ae.Expired {
		status = store.Expired
	}
	return echo.NewHTTPError(http.StatusConflict, api.Error{Status: status,
		Error: "execution " + strconv.Quote(id) + ": " + ae.Error()})
}
