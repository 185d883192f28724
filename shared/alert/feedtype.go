package alert

import "strings"

// The feed types Alexis ships, spelled as alexis.feed_type carries them.
// This is the one spelling: the poller's feeds and the classifier's intake
// put it in envelopes, rules name it in alert_feed, ticket systems register
// under it. Where users may write a feed type in another case (the
// poller's feeds[].type), it is read with CanonicalFeedType.
const (
	FeedTypeOpsGenie     = "OpsGenie"     // poller feed type opsgenie
	FeedTypeDynatrace    = "Dynatrace"    // poller feed type dynatrace
	FeedTypeAlertmanager = "Alertmanager" // classifier's POST /v1/alertmanager
)

// CanonicalFeedType returns the one of known that s spells in another
// case or with surrounding space, and whether there is one.
func CanonicalFeedType(s string, known ...string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, k := range known {
		if strings.EqualFold(s, k) {
			return k, true
		}
	}
	return s, false
}

// FeedTypes are the feed types Alexis ships, for those that count alerts
// by feed type (the classifier's metrics). A new feed may name its feed
// type here or keep the constant in its own package.
func FeedTypes() []string {
	return []string{FeedTypeOpsGenie, FeedTypeDynatrace, FeedTypeAlertmanager}
}
