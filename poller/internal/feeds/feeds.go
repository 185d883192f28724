// Package feeds is the registry of feed types: one line per type. Adding a
// source (Dynatrace, ...) is one package under feed/ plus one line here
// (and its block in the configuration).
package feeds

import (
	"fmt"

	"github.com/alexis-ops/alexis/poller/internal/config"
	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/poller/internal/feed/dynatrace"
	"github.com/alexis-ops/alexis/poller/internal/feed/opsgenie"
	"github.com/rs/zerolog"
)

// Constructor builds the feed of a validated configuration entry.
type Constructor func(cfg config.Feed, log zerolog.Logger) (feed.Feed, error)

var types = map[string]Constructor{
	config.TypeOpsGenie:  func(c config.Feed, log zerolog.Logger) (feed.Feed, error) { return nonNil(opsgenie.New(c, log)) },
	config.TypeDynatrace: func(c config.Feed, log zerolog.Logger) (feed.Feed, error) { return nonNil(dynatrace.New(c, log)) },
}

// New builds the feed for cfg by its type.
func New(cfg config.Feed, log zerolog.Logger) (feed.Feed, error) {
	ctor, ok := types[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("feed %s: unknown type %q", cfg.Name, cfg.Type)
	}
	return ctor(cfg, log)
}

// nonNil keeps a typed nil pointer out of the interface on error.
func nonNil[F feed.Feed](f F, err error) (feed.Feed, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}
