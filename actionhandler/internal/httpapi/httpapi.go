// Package httpapi is the action handler's HTTP API:
//
//	POST /v1/action   the merged alert+rule (action.Request); 202 with
//	                  api.ActionAccepted, the execution runs in the background
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// Submitter queues an execution (engine.Pool).
type Submitter interface {
	Submit(x engine.Execution) error
}

// Handler serves the API.
type Handler struct {
	Pool Submitter
	Log  zerolog.Logger
	// NewID returns a new execution id; default 16 random bytes in hex.
	NewID func() string
}

// Register adds the routes to e behind the auth middleware.
func (h *Handler) Register(e *echo.Echo, tokens *auth.Tokens) {
	if h.NewID == nil {
		h.NewID = NewID
	}
	g := e.Group("/v1", auth.Middleware(tokens))
	g.POST("/action", h.postAction)
}

func (h *Handler) postAction(c echo.Context) error {
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	req, err := action.Decode(body)
	if err != nil {
		return server.BadRequest(err)
	}
	log := h.Log.With().
		Str(logging.Client, auth.Client(c)).
		Str(logging.AlertID, req.Alert.ID()).
		Str(logging.UniqueValue, req.Alert.Meta.UniqueValue).
		Str(logging.RuleName, req.Rule.Name).
		Logger()
	entities, err := req.Rule.ResolveEntities(req.Alert)
	if err != nil {
		log.Warn().Str(logging.Event, "entities_unresolved").Str(logging.ErrorKey, err.Error()).
			Msg("no host to act on")
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "entities: "+err.Error())
	}
	x := engine.Execution{ID: h.NewID(), Request: req, Entities: entities, Client: auth.Client(c)}
	switch err := h.Pool.Submit(x); {
	case errors.Is(err, engine.ErrQueueFull):
		log.Warn().Str(logging.Event, "execution_refused").Str(logging.ErrorKey, err.Error()).Msg("queue full")
		c.Response().Header().Set("Retry-After", "10")
		return echo.NewHTTPError(http.StatusServiceUnavailable, "too many executions queued; retry later")
	case err != nil:
		log.Warn().Str(logging.Event, "execution_refused").Str(logging.ErrorKey, err.Error()).Msg("not accepting")
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	log.Info().Str(logging.Event, "execution_queued").Str(logging.ExecutionID, x.ID).
		Int(logging.Count, len(entities)).Msg("execution queued")
	return c.JSON(http.StatusAccepted, api.ActionAccepted{ExecutionID: x.ID, Status: api.ExecQueued, Entities: entities})
}

// NewID returns 16 random bytes in hex.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
