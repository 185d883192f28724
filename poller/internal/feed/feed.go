// Package feed defines what the poller needs from an alert source. Each
// source type is one package implementing Feed (feed/opsgenie, ...) plus
// one line in package feeds.
package feed

import (
	"context"
	"errors"

	"github.com/alexis-ops/alexis/shared/alert"
)

// Feed is one configured alert source.
//
// Polling is two steps so that alerts already delivered cost one cheap list
// entry per loop instead of a full fetch: List says which alerts currently
// match the feed's query, Fetch builds the envelope of one of them.
type Feed interface {
	// Name is the configured feed name.
	Name() string
	// Type is the source system as envelopes name it ("OpsGenie").
	Type() string
	// List returns the ids of the alerts currently matching the feed's
	// query and window, oldest first, without duplicates.
	List(ctx context.Context) ([]string, error)
	// Fetch returns alert id's full record wrapped in an envelope.
	Fetch(ctx context.Context, id string) (*alert.Envelope, error)
}

// ErrGone is returned (wrapped) by Fetch for an alert that no longer
// exists: it was deleted after it was listed.
var ErrGone = errors.New("alert no longer exists")

// ErrInvalid is returned (wrapped) by Fetch for an alert that cannot be
// made into an envelope, e.g. because it lacks the feed's unique_key field.
// Other alerts are unaffected.
var ErrInvalid = errors.New("alert cannot be delivered")
