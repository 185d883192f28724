package httpapi

import (
	"testing"

	"github.com/alexis-ops/alexis/poller/internal/poller"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/auth/authtest"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/rs/zerolog"
)

// Every route × every scope: a route added without a scope, or with
// another one than this table says, fails.
func TestScopeMatrix(t *testing.T) {
	tokens, err := auth.ParseTokens([]byte(authtest.TokenFile()), auth.DefaultsPoller)
	if err != nil {
		t.Fatal(err)
	}
	e := server.New(server.Options{Service: "poller", Log: zerolog.Nop(),
		Metrics: metrics.New("poller"), MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
	(&Handler{Poller: poller.New(poller.Options{Log: zerolog.Nop()})}).Register(e, tokens)
	authtest.Matrix(t, e, map[string]auth.Scope{
		"GET /v1/feeds": auth.ScopeRead,
		"GET /metrics":  auth.ScopeMetrics,
	})
}
