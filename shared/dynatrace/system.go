package dynatrace

import (
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// FeedType is the feed type of Dynatrace problems, as envelopes name it.
const FeedType = alert.FeedTypeDynatrace

// Registration is Dynatrace as a ticket system, for ticket/registry: the
// "dynatrace" block (Config) writing back to problems of FeedType.
var Registration = ticket.System{
	Name:      System,
	FeedType:  FeedType,
	NewConfig: func() ticket.SystemConfig { return &Config{} },
}

// SecretFiles implements ticket.SystemConfig: the API token file.
func (c *Config) SecretFiles() []secretfile.File {
	return []secretfile.File{{Field: "api_token_file", Path: c.APITokenFile}}
}

// Build implements ticket.SystemConfig: New.
func (c *Config) Build(log zerolog.Logger) (ticket.Ticket, error) { return New(*c, log) }
