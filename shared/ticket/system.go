package ticket

import (
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/rs/zerolog"
)

// System is the registration of a ticket system with an API of its own
// (OpsGenie, Dynatrace): everything package ticket/registry needs to know
// about it. Each system's package exports one (opsgenie.System) and the
// registry lists them; nothing else names the system.
type System struct {
	// Name is the key of its configuration block, under "tickets" and
	// under "tickets.feeds.<feed name>" ("opsgenie").
	Name string
	// FeedType is the feed type of the alerts it writes back to
	// ("OpsGenie").
	FeedType string
	// NewConfig returns a new, empty configuration block (a pointer to a
	// struct with yaml tags, defaults set), for the service's decoder to
	// fill, strictly, from the block.
	NewConfig func() SystemConfig
}

// SystemConfig is a ticket system's configuration block.
type SystemConfig interface {
	// Validate reports every problem, each named by its key under prefix
	// ("tickets.opsgenie.api_key_file: required").
	Validate(prefix string) error
	// SecretFiles are the block's files holding secrets, each Field the
	// key within the block ("api_key_file"), for the permission check at
	// start and for redacting their contents from output.
	SecretFiles() []secretfile.File
	// Build makes the system's Ticket (reading its secrets); log is scoped
	// to the system.
	Build(log zerolog.Logger) (Ticket, error)
}
