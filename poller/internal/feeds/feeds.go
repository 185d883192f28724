// Package feeds is the registry of pull feed types: one line per type.
// Adding a source is one package under feed/ (its feed.Type: block,
// defaults, validation, client, envelope) plus one line in Types.
package feeds

import (
	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/poller/internal/feed/dynatrace"
	"github.com/alexis-ops/alexis/poller/internal/feed/opsgenie"
)

// Types are the feed types the poller knows, for config.Load.
func Types() feed.Types {
	return feed.Types{
		opsgenie.Type(),
		dynatrace.Type(),
	}
}
