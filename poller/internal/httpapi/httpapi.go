// Package httpapi is the poller's small HTTP API:
//
//	GET /v1/ping   (no auth, from shared/server)
//	GET /v1/feeds  each feed's last poll, last error and counts (scope read)
package httpapi

import (
	"net/http"

	"github.com/alexis-ops/alexis/poller/internal/poller"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/labstack/echo/v4"
)

// Handler serves the poller's status.
type Handler struct {
	Poller *poller.Poller
}

// Feeds is the answer to GET /v1/feeds.
type Feeds struct {
	Feeds []poller.FeedStatus `json:"feeds"`
}

// Register adds the routes to e behind token auth.
func (h *Handler) Register(e *echo.Echo, tokens *auth.Tokens) {
	e.GET("/v1/feeds", h.feeds, auth.Require(tokens, auth.ScopeRead))
}

func (h *Handler) feeds(c echo.Context) error {
	return c.JSON(http.StatusOK, Feeds{Feeds: h.Poller.Status()})
}
