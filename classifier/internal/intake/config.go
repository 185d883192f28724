package intake

import (
	"fmt"
	"regexp"
	"strings"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/ident"
)

// AlertmanagerConfig is the alertmanager block of the classifier
// configuration: the intake of Alertmanager's webhook notifications.
type AlertmanagerConfig struct {
	// FeedName is the envelopes' feed_name; "" uses the notification's
	// receiver.
	FeedName string `yaml:"feed_name"`
}

// Validate reports the block's problems under key ("alertmanager.").
func (c AlertmanagerConfig) Validate(key string) error {
	var p sconfig.Problems
	if c.FeedName != strings.TrimSpace(c.FeedName) {
		p.Addf(key+"feed_name", "leading or trailing space in %q", c.FeedName)
	}
	// Envelopes carrying these are refused otherwise (shared/ident).
	p.Add(key+"feed_name", ident.Check("feed name", c.FeedName, ident.MaxFeedName))
	return p.Err()
}

// webhookName is what can follow /v1/webhook/ in a URL unescaped.
var webhookName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidateWebhooks reports the problems of the webhooks list of the
// classifier configuration, each under key ("webhooks") and its index.
func ValidateWebhooks(key string, ws []WebhookFeed) error {
	var p sconfig.Problems
	names := map[string]int{}
	for i, w := range ws {
		key := fmt.Sprintf("%s[%d].", key, i)
		switch prev, dup := names[w.Name]; {
		case w.Name == "":
			p.Addf(key+"name", "required: the feed posts to /v1/webhook/NAME")
		case !webhookName.MatchString(w.Name):
			p.Addf(key+"name", "%q: use letters, digits, '.', '_' and '-' (it is part of the URL)", w.Name)
		case dup:
			p.Addf(key+"name", "%q is already the name of webhooks[%d]", w.Name, prev)
		}
		names[w.Name] = i
		switch {
		case strings.TrimSpace(w.FeedType) == "":
			p.Addf(key+"feed_type", "required: the feed type rules name in alert_feed")
		case strings.ContainsAny(w.FeedType, "/*") || w.FeedType != strings.TrimSpace(w.FeedType):
			p.Addf(key+"feed_type", "%q: no '/', '*' or surrounding space", w.FeedType)
		case strings.EqualFold(w.FeedType, FeedTypeAlertmanager):
			p.Addf(key+"feed_type", "%q is the feed type of POST /v1/alertmanager", w.FeedType)
		default:
			p.Add(key+"feed_type", ident.Check("feed type", w.FeedType, ident.MaxFeedName))
		}
		p.Add(key+"name", ident.Check("feed name", w.Name, ident.MaxFeedName))
		if strings.TrimSpace(w.IDPath) == "" {
			p.Addf(key+"id_path", "required: the gjson path of the alert's id in what the source posts")
		}
	}
	return p.Err()
}
