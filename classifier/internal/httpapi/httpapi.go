// Package httpapi is the classifier's HTTP API:
//
//	POST /v1/classifier     one alert envelope → api.Classification (+ writeback_errors)
//	GET  /v1/rules          every rule file with its status, errors and version
//	POST /v1/rules/explain  one alert envelope → what every rule decides and why; no action taken
//	POST /v1/rules/lint     one rule file (?name=FILE.json) → {"ok", "errors"}: classifier lint's checks
//	POST /v1/alertmanager   Alertmanager webhook notification → IntakeAnswer (each firing alert classified)
//	POST /v1/webhook/{name} any JSON for the webhook feed name → IntakeAnswer
//
// All require a token (shared/auth) with a scope (Routes): classify for
// the three intake endpoints, limited to one feed by classify:FEED; read for
// rules and explain. GET /v1/ping comes from shared/server. The name of the
// token that posted an alert goes to the action handler as requested_by.
package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/classify"
	"github.com/alexis-ops/alexis/classifier/internal/lint"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/ident"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// Handler serves the classifier API.
type Handler struct {
	Classifier *classify.Classifier
	Rules      rules.Loader
	Intake     Intake
	Log        zerolog.Logger
	Now        func() time.Time // nil: time.Now
	// Check is the configuration's check of a rule (rules.WithCheck), also
	// applied by POST /v1/rules/lint; nil checks nothing more.
	Check func(*rule.Rule) rule.Errors
}

// Routes are the classifier's routes and the scope each requires (README
// "Authentication").
var Routes = []struct {
	Method, Path string
	Scope        auth.Scope
}{
	{http.MethodPost, "/v1/classifier", auth.ScopeClassify},
	{http.MethodGet, "/v1/rules", auth.ScopeRead},
	{http.MethodPost, "/v1/rules/explain", auth.ScopeRead},
	{http.MethodPost, "/v1/rules/lint", auth.ScopeRead},
	{http.MethodPost, "/v1/alertmanager", auth.ScopeClassify},
	{http.MethodPost, "/v1/webhook/:name", auth.ScopeClassify},
}

// Register adds the routes to e behind token auth.
func (h *Handler) Register(e *echo.Echo, tokens *auth.Tokens) {
	handlers := map[string]echo.HandlerFunc{
		"/v1/classifier": h.classify, "/v1/rules": h.rules, "/v1/rules/explain": h.explain,
		"/v1/rules/lint": h.lint,
	}
	listed := map[string]bool{}
	for _, r := range Routes {
		listed[r.Path] = true
	}
	// Push routes: those listed above take their scope from there, more
	// need scope classify. One cannot replace an API route.
	for _, r := range h.Intake.Push {
		if _, taken := handlers[r.Path]; taken {
			continue
		}
		handlers[r.Path] = h.push(r)
		if !listed[r.Path] {
			e.Add(http.MethodPost, r.Path, handlers[r.Path], auth.Require(tokens, auth.ScopeClassify))
		}
	}
	for _, r := range Routes {
		e.Add(r.Method, r.Path, handlers[r.Path], auth.Require(tokens, r.Scope))
	}
}

// feedAllowed answers 403 unless the request's token may classify alerts
// of the feed named feed (scope classify, or classify:FEED for it).
func feedAllowed(c echo.Context, feed string) error {
	if auth.HasFeed(c, feed) {
		return nil
	}
	return auth.Forbidden(c, auth.Scope(string(auth.ScopeClassify)+":"+feed),
		"this token may classify alerts of other feeds only")
}

// requestContext is the request's context carrying the client name for
// requested_by.
func requestContext(c echo.Context) context.Context {
	return classify.WithRequestedBy(c.Request().Context(), auth.Client(c))
}

func (h *Handler) classify(c echo.Context) error {
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	env, err := alert.Decode(body)
	if err != nil {
		return server.BadRequest(err)
	}
	if err := feedAllowed(c, env.Meta.FeedName); err != nil {
		return err
	}
	res, err := h.Classifier.Classify(requestContext(c), env)
	if errors.Is(err, classify.ErrUnavailable) {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// RulesAnswer is the answer to GET /v1/rules.
type RulesAnswer struct {
	Rules []rules.File `json:"rules"`
}

func (h *Handler) rules(c echo.Context) error {
	set, err := h.Rules.Load(c.Request().Context())
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	files := set.Files
	if files == nil {
		files = []rules.File{}
	}
	return c.JSON(http.StatusOK, RulesAnswer{Rules: files})
}

// ExplainAnswer is the answer to POST /v1/rules/explain.
type ExplainAnswer struct {
	UniqueValue string              `json:"unique_value"`
	FeedType    string              `json:"feed_type"`
	Now         time.Time           `json:"now"`    // the time the rules were decided at
	Result      string              `json:"result"` // what POST /v1/classifier would answer: matched, unmatched, deferred
	Rules       []rules.Explanation `json:"rules"`
}

func (h *Handler) explain(c echo.Context) error {
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	env, err := alert.Decode(body)
	if err != nil {
		return server.BadRequest(err)
	}
	set, err := h.Rules.Load(c.Request().Context())
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	xs := rules.Explain(set, rules.NewAlert(env), now)
	return c.JSON(http.StatusOK, ExplainAnswer{UniqueValue: env.Meta.UniqueValue, FeedType: env.Meta.FeedType,
		Now: now.UTC(), Result: rules.Verdict(xs), Rules: xs})
}

// LintAnswer is the answer to POST /v1/rules/lint.
type LintAnswer struct {
	OK     bool           `json:"ok"`     // no error (warnings allowed): the file would load
	Errors []lint.Problem `json:"errors"` // errors and warnings, as classifier lint -json lists them
}

// lintDefaultName is the file name problems carry without ?name=.
const lintDefaultName = "rule.json"

func (h *Handler) lint(c echo.Context) error {
	name := c.QueryParam("name")
	if name == "" {
		name = lintDefaultName
	}
	if err := ident.Check("name", name, ident.MaxKey); err != nil {
		return server.BadRequest(err)
	}
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	var others []rules.File
	if set, err := h.Rules.Load(c.Request().Context()); err == nil {
		others = set.Files
	}
	problems := lint.File(name, body, h.Check, others)
	return c.JSON(http.StatusOK, LintAnswer{OK: !lint.Invalid(problems), Errors: problems})
}
