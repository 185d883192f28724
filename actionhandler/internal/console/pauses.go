package console

// The circuit breaker on the rules page (docs/rollout.md): paused rules
// with their reason, and for sessions whose token has scope admin a form
// to resume each (POST /console/rules/NAME/resume, CSRF like every form).

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/labstack/echo/v4"
)

// Breakers is the circuit breaker as the console uses it
// (breaker.Breaker is one).
type Breakers interface {
	Breakers(ctx context.Context) ([]store.Breaker, error)
	Resume(ctx context.Context, rule, entity, by, why string) ([]store.Breaker, error)
}

// maxResumeReason bounds the reason typed into the resume form.
const maxResumeReason = 1000

type pauseRow struct {
	Rule, Entity, Reason, LastExecution string
	Failures                            int
	Since                               time.Time
}

type pausesView struct {
	Rows     []pauseRow
	CanAdmin bool // the session's token has scope admin: resume forms
	CSRF     string
	Error    string
}

// pauses reads the paused rules for the rules page.
func (h *Handler) pauses(c echo.Context) pausesView {
	v := pausesView{CanAdmin: isAdmin(c), CSRF: h.s.csrf(sessionOf(c))}
	if h.o.Breakers == nil {
		return v
	}
	bs, err := h.o.Breakers.Breakers(c.Request().Context())
	if err != nil {
		v.Error = "The circuit breaker's state could not be read (" + trimErr(err) + ")."
		return v
	}
	for _, b := range bs {
		if b.Paused() {
			v.Rows = append(v.Rows, pauseRow{Rule: b.RuleName, Entity: b.Entity, Reason: b.Reason,
				LastExecution: b.LastExecution, Failures: b.Failures, Since: b.PausedAt})
		}
	}
	return v
}

func isAdmin(c echo.Context) bool {
	s, err := auth.ParseScopes(sessionOf(c).Scopes)
	return err == nil && s.Grants(auth.ScopeAdmin)
}

// resumePost resumes a paused rule (on the form's entity, else every
// pause of it) for an admin session, then shows the rules page again.
func (h *Handler) resumePost(c echo.Context) error {
	if !isAdmin(c) {
		return h.fail(c, http.StatusForbidden, "Resuming a rule needs a token with scope admin.")
	}
	if h.o.Breakers == nil {
		return h.fail(c, http.StatusNotFound, "There is no circuit breaker here.")
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	switch {
	case reason == "":
		return h.fail(c, http.StatusBadRequest, "reason: say why the rule may run again.")
	case len(reason) > maxResumeReason || strings.ContainsFunc(reason, unicode.IsControl):
		return h.fail(c, http.StatusBadRequest, "reason: at most 1000 characters, on one line.")
	}
	entity := c.FormValue("entity")
	if entity == "" || entity == "*" {
		entity = "*"
	}
	_, err := h.o.Breakers.Resume(c.Request().Context(), c.Param("name"), entity, sessionOf(c).Client, reason)
	if errors.Is(err, store.ErrNotPaused) {
		return h.fail(c, http.StatusNotFound, "This rule is not paused (any more).")
	}
	if err != nil {
		return h.storeFailed(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/console/rules?resumed="+url.QueryEscape(c.Param("name")))
}
