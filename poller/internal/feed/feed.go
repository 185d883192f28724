// Package feed defines what the poller needs from an alert source, and
// the seam a source type plugs into. Each type is one package
// (feed/opsgenie, feed/dynatrace, ...) that owns its block of a feeds[]
// entry, its client and its envelopes:
//
//   - a Type made with Define (canonical feed type, block key, default
//     unique_key, whether it takes a query, its config struct);
//   - that struct implements Block: Validate (defaults, every problem with
//     its key path), SecretFiles (for the permission check at start) and
//     New (the Feed);
//   - the Feed lists and fetches alerts, wrapping records with Envelope.
//
// One line in package feeds registers the type. The poller's config
// decodes each entry's block strictly with its type (DecodeStrict) and
// names no type itself.
package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/tidwall/gjson"
)

// Feed is one configured alert source.
//
// Polling is two steps so that alerts already delivered cost one cheap list
// entry per loop instead of a full fetch: List says which alerts currently
// match the feed's query, Fetch builds the envelope of one of them.
type Feed interface {
	// Name is the configured feed name.
	Name() string
	// Type is the canonical feed type, as envelopes name it ("OpsGenie").
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

// RateLimitError is a source's "too many requests" answer that its client
// gave up retrying. The poller backs the feed off instead of polling again
// at its loop interval.
type RateLimitError struct {
	RetryAfter time.Duration // what the source asked to wait; 0 if it did not say
	Err        error
}

func (e *RateLimitError) Error() string { return "rate limited: " + e.Err.Error() }
func (e *RateLimitError) Unwrap() error { return e.Err }

// RateLimited reports whether err is (or wraps) a RateLimitError, and the
// wait it asked for.
func RateLimited(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// Envelope wraps a source record fetched as id in its alexis meta, taking
// the unique value from the record's uniqueKey field. A record without that
// field, or that is not a JSON object, is ErrInvalid.
func Envelope(record []byte, id, uniqueKey, feedType, feedName string) (*alert.Envelope, error) {
	v := gjson.GetBytes(record, uniqueKey)
	if !v.Exists() || v.String() == "" {
		return nil, fmt.Errorf("%w: unique_key %q is missing or empty in %s record %s", ErrInvalid, uniqueKey, feedType, id)
	}
	env, err := alert.New(record, alert.Meta{UniqueKey: uniqueKey, UniqueValue: v.String(), FeedType: feedType, FeedName: feedName})
	if err != nil {
		return nil, fmt.Errorf("%w: %s record %s: %w", ErrInvalid, feedType, id, err)
	}
	return env, nil
}
