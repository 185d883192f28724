package opsgenie

import (
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// FeedType is the feed type of OpsGenie alerts, as envelopes name it.
const FeedType = alert.FeedTypeOpsGenie

// Registration is OpsGenie as a ticket system, for ticket/registry: the
// "opsgenie" block (Config) writing back to alerts of FeedType.
var Registration = ticket.System{
	Name:      System,
	FeedType:  FeedType,
	NewConfig: func() ticket.SystemConfig { return &Config{} },
}

// SecretFiles implements ticket.SystemConfig: the API key file.
func (c *Config) SecretFiles() []secretfile.File {
	return []secretfile.File{{Field: "api_key_file", Path: c.APIKeyFile}}
}

// Build implements ticket.SystemConfig: New.
func (c *Config) Build(log zerolog.Logger) (ticket.Ticket, error) { return New(*c, log) }
