// Package ticket is the write-back side of Alexis: what the classifier and
// action handler say on the alert (notes) and where they route it (teams).
// Each ticket system is one package implementing Ticket; services pick the
// Ticket for an alert by its feed_type.
package ticket

import (
	"context"
	"strings"
)

// Ticket writes back to the system an alert came from. id is the system's
// identifier of the alert (for OpsGenie, the alert id).
type Ticket interface {
	// AddNote adds a note to the alert.
	AddNote(ctx context.Context, id, note string) error
	// AddTeam routes the alert to a team (queue).
	AddTeam(ctx context.Context, id, team string) error
}

// Set maps feed types (case-insensitive) to their Ticket.
type Set map[string]Ticket

// Add registers t for feedType.
func (s Set) Add(feedType string, t Ticket) { s[strings.ToLower(feedType)] = t }

// For returns the Ticket for feedType.
func (s Set) For(feedType string) (Ticket, bool) {
	t, ok := s[strings.ToLower(feedType)]
	return t, ok
}
