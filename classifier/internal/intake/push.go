package intake

import (
	"strings"

	"github.com/rs/zerolog"
)

// Push is one push feed: a source that posts its alerts to a route of the
// classifier. It owns how a posted body becomes envelopes (their
// feed_type, feed_name, unique key and record); the HTTP side (auth by
// feed, body limit, classification, the IntakeAnswer) is the classifier
// API's and the same for every push feed.
type Push interface {
	// Read makes the items of one posted body. A problem with the body as
	// a whole is a *RequestError (HTTP 400), returned before anything is
	// classified.
	Read(body []byte) (Batch, error)
}

// Batch is what one posted body holds.
type Batch struct {
	FeedType string // canonical feed type of the envelopes (shared/alert FeedType*)
	FeedName string // their feed_name: the feed a token must be allowed to classify
	Items    []Item // in the order posted
	// Received logs what the feed has to say about the request once the
	// token is known to be allowed this feed; nil says nothing.
	Received func(log zerolog.Logger)
}

// Route is where a kind of push feed is served: one line per kind in the
// classifier API's list of push routes.
type Route struct {
	// Path is the route ("/v1/alertmanager"); a ":name" segment names one
	// of several configured feeds of the kind ("/v1/webhook/:name").
	Path string
	// Feed returns the feed name (the path's :name, "" without) posts to;
	// false answers 404 with Missing.
	Feed func(name string) (Push, bool)
	// Missing is the 404 message for a name Feed does not know.
	Missing func(name string) string
}

// Named reports whether the route names one of several feeds.
func (r Route) Named() bool { return strings.HasSuffix(r.Path, "/:name") }

var (
	_ Push = Alertmanager{}
	_ Push = WebhookFeed{}
)
