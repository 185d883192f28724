package console

// Approvals (docs/rollout.md#approvals): an execution awaiting approval
// shows, on its alert's page and on its own (/console/executions/ID, the
// page the ticket's note links to), until when it waits and, for a
// session whose token has scope approve, an approve and a deny form
// (reason required, CSRF-protected like every form). A decided one shows
// who decided, when and why.
//
//	GET  /console/executions/{id}          the execution, its approval
//	POST /console/executions/{id}/approve  approve it (scope approve)
//	POST /console/executions/{id}/deny     deny it (scope approve)

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/labstack/echo/v4"
)

// Approvals decides executions awaiting approval (engine.Approvals is
// one).
type Approvals interface {
	Approve(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error)
	Deny(ctx context.Context, x *store.Execution, by, reason string) (*store.Execution, error)
}

func canApprove(c echo.Context) bool {
	s, err := auth.ParseScopes(sessionOf(c).Scopes)
	return err == nil && s.Grants(auth.ScopeApprove)
}

// approvalView is the "approval" partial's data.
type approvalView struct {
	X          *store.Execution
	CanApprove bool // approve forms: the session has scope approve (and a decider is wired)
	CSRF       string
}

func (h *Handler) approvalView(c echo.Context, x *store.Execution) approvalView {
	return approvalView{X: x, CanApprove: canApprove(c) && h.o.Approvals != nil, CSRF: h.s.csrf(sessionOf(c))}
}

type executionPageView struct {
	X          *store.Execution
	DecisionID string // its alert's story, "" when no decision links it
	Approval   approvalView
	Notice     string
}

// decisionOf finds the decision (alert page) of execution x, "" when none.
func (h *Handler) decisionOf(ctx context.Context, x *store.Execution) string {
	pg, err := h.o.Store.ListDecisions(ctx, store.DecisionFilter{Text: x.AlertID, FeedType: x.FeedType, Limit: store.MaxLimit})
	if err != nil {
		return ""
	}
	for _, d := range pg.Decisions {
		for _, de := range d.Executions {
			if de.ID == x.ID {
				return d.ID
			}
		}
	}
	return ""
}

func (h *Handler) executionPage(c echo.Context) error {
	id := c.Param("id")
	if len(id) > 128 {
		return h.badRequest(c, badField{"id", "too long"})
	}
	ctx := c.Request().Context()
	x, err := h.o.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return h.fail(c, http.StatusNotFound, "No execution "+quote(id)+" is recorded (it may have been pruned).")
	}
	if err != nil {
		return h.storeFailed(c, err)
	}
	v := executionPageView{X: x, DecisionID: h.decisionOf(ctx, x), Approval: h.approvalView(c, x)}
	switch c.QueryParam("decided") {
	case "approve":
		v.Notice = "Approved: it runs once its hosts are free and the governor allows it."
	case "deny":
		v.Notice = "Denied: nothing runs; the alert goes to the investigation queue."
	}
	return h.render(c, http.StatusOK, "execution", page{Title: "Execution " + x.ID, Nav: "timeline", Data: v})
}

// decidePost approves or denies (op) an execution for a session with
// scope approve, then shows the execution again.
func (h *Handler) decidePost(op string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !canApprove(c) {
			return h.fail(c, http.StatusForbidden, "Approving or denying needs a token with scope approve.")
		}
		if h.o.Approvals == nil {
			return h.fail(c, http.StatusNotFound, "Approvals are not served here.")
		}
		reason, err := engine.DecisionReason(c.FormValue("reason"))
		if err != nil {
			return h.fail(c, http.StatusBadRequest, err.Error()+".")
		}
		ctx := c.Request().Context()
		id := c.Param("id")
		by := sessionOf(c).Client
		x, err := engine.Decidable(ctx, h.o.Store, id, by, op == "approve")
		if err == nil && op == "approve" {
			_, err = h.o.Approvals.Approve(ctx, x, by, reason)
		} else if err == nil {
			_, err = h.o.Approvals.Deny(ctx, x, by, reason)
		}
		var ae *store.ApprovalError
		var re *engine.RefusedError
		switch {
		case errors.As(err, &ae):
			return h.fail(c, http.StatusConflict, "This execution cannot be decided: "+ae.Error()+".")
		case errors.As(err, &re):
			return h.fail(c, http.StatusForbidden, re.Why+".")
		case errors.Is(err, store.ErrNotFound):
			return h.fail(c, http.StatusNotFound, "No execution "+quote(id)+" is recorded.")
		case err != nil:
			return h.storeFailed(c, err)
		}
		return c.Redirect(http.StatusSeeOther, "/console/executions/"+url.PathEscape(id)+"?decided="+op)
	}
}
