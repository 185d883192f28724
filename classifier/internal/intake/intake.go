// Package intake turns what alert sources push to the classifier into
// envelopes: Prometheus Alertmanager's webhook notifications
// (POST /v1/alertmanager) and any JSON posted to a configured webhook feed
// (POST /v1/webhook/{name}). docs/rules.md shows the records rules see.
//
// Each kind of push feed is a Push (body -> Batch of envelopes under its
// canonical feed type, shared/alert FeedType*) served on a Route; the
// classifier API lists the routes, one line per kind (httpapi
// Intake.routes), and serves them all alike: token scope by feed, body
// limit, classification and the answer.
package intake

import (
	"fmt"
	"strings"

	"github.com/alexis-ops/alexis/shared/alert"
)

// Item is one alert of what was posted: an envelope to classify, or the
// reason it is not classified.
type Item struct {
	Env    *alert.Envelope // nil when skipped or invalid
	ID     string          // the alert's id (as Env.ID() gives it), "" if unknown
	Unique string          // its unique value (fingerprint), "" if unknown
	Status string          // Alertmanager: "firing" or "resolved"
	Skip   string          // why it is not classified; "" to classify
	Err    error           // why no envelope could be made for it
}

// RequestError is a problem with what was posted as a whole (HTTP 400).
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func requestErr(format string, args ...any) error {
	return &RequestError{Msg: fmt.Sprintf(format, args...)}
}

// trimmed cuts s to n bytes for error messages.
func trimmed(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
