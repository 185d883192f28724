package httpapi

// The circuit breaker's API (docs/rollout.md):
//
//	GET  /v1/rules                api.RuleList: every rule (and host) the
//	                              breaker counts, paused first (scope read)
//	POST /v1/rules/{name}/resume  api.ResumeRequest {"reason": "...",
//	                              "entity": "..."}: ends the pauses of the
//	                              rule (on entity only, when given); 200
//	                              api.ResumeAnswer, 404 when none holds
//	                              (scope admin)

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
)

// Breakers is the circuit breaker as the API uses it (breaker.Breaker is
// one).
type Breakers interface {
	Breakers(ctx context.Context) ([]store.Breaker, error)
	Resume(ctx context.Context, rule, entity, by, why string) ([]store.Breaker, error)
}

// MaxResumeReason bounds a resume's reason.
const MaxResumeReason = 1000

// ruleNameRE: the shape of a rule name in a path (rule files' names).
var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (h *Handler) listRules(c echo.Context) error {
	if h.Breakers == nil {
		return c.JSON(http.StatusOK, api.RuleList{Rules: []api.RuleState{}})
	}
	bs, err := h.Breakers.Breakers(c.Request().Context())
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	out := api.RuleList{Rules: make([]api.RuleState, 0, len(bs))}
	for _, b := range bs {
		out.Rules = append(out.Rules, RuleState(b))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) resumeRule(c echo.Context) error {
	name := c.Param("name")
	if !ruleNameRE.MatchString(name) {
		return echo.NewHTTPError(http.StatusBadRequest, "name: not a rule name")
	}
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	var req api.ResumeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "body: want {\"reason\": \"...\", \"entity\": \"...\"}: "+err.Error())
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		return echo.NewHTTPError(http.StatusBadRequest, "reason: required (why the rule may run again)")
	case len(req.Reason) > MaxResumeReason:
		return echo.NewHTTPError(http.StatusBadRequest, "reason: longer than "+strconv.Itoa(MaxResumeReason)+" bytes")
	case strings.ContainsFunc(req.Reason, unicode.IsControl):
		return echo.NewHTTPError(http.StatusBadRequest, "reason: must not contain control characters")
	case req.Entity == "*" || strings.ContainsFunc(req.Entity, unicode.IsControl) || len(req.Entity) > 255:
		return echo.NewHTTPError(http.StatusBadRequest, "entity: not a host name")
	}
	if h.Breakers == nil {
		return echo.NewHTTPError(http.StatusNotFound, "rule "+strconv.Quote(name)+" is not paused")
	}
	entity := req.Entity
	if entity == "" {
		entity = "*"
	}
	bs, err := h.Breakers.Resume(c.Request().Context(), name, entity, auth.Client(c), req.Reason)
	if errors.Is(err, store.ErrNotPaused) {
		what := "rule " + strconv.Quote(name)
		if req.Entity != "" {
			what += " on " + strconv.Quote(req.Entity)
		}
		return echo.NewHTTPError(http.StatusNotFound, what+" is not paused")
	}
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	out := api.ResumeAnswer{Resumed: make([]api.RuleState, 0, len(bs))}
	for _, b := range bs {
		out.Resumed = append(out.Resumed, RuleState(b))
	}
	return c.JSON(http.StatusOK, out)
}

// RuleState is the API form of a breaker's state.
func RuleState(b store.Breaker) api.RuleState {
	return api.RuleState{RuleName: b.RuleName, Entity: b.Entity, RuleHash: b.RuleHash, Failures: b.Failures,
		Paused: b.Paused(), PausedAt: timePtr(b.PausedAt), Reason: b.Reason, LastExecutionID: b.LastExecution,
		UpdatedAt: b.UpdatedAt, ResumedAt: timePtr(b.ResumedAt), ResumedBy: b.ResumedBy, ResumeReason: b.ResumeReason}
}
