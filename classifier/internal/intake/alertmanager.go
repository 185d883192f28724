package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/jsonx"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// FeedTypeAlertmanager is the feed type of alerts Alertmanager posts.
const FeedTypeAlertmanager = alert.FeedTypeAlertmanager

// Alertmanager is the push feed of Prometheus Alertmanager's webhook
// notifications (POST /v1/alertmanager).
type Alertmanager struct {
	// FeedName is the envelopes' feed_name; "" uses each notification's
	// receiver.
	FeedName string
}

// AlertmanagerRoute serves a.
func AlertmanagerRoute(a Alertmanager) Route {
	return Route{Path: "/v1/alertmanager", Feed: func(string) (Push, bool) { return a, true }}
}

// Read decodes a notification and makes an item of each of its alerts.
func (a Alertmanager) Read(body []byte) (Batch, error) {
	n, err := DecodeAlertmanager(body)
	if err != nil {
		return Batch{}, err
	}
	name := a.FeedName
	if name == "" {
		name = n.Receiver
	}
	return Batch{FeedType: FeedTypeAlertmanager, FeedName: name, Items: n.Items(a.FeedName),
		Received: func(log zerolog.Logger) {
			log.Info().Str(logging.Event, "notification_received").Int(logging.Count, len(n.Alerts)).Str(logging.Status, n.Status).
				Msg("alertmanager notification")
			if n.TruncatedAlerts > 0 {
				log.Warn().Str(logging.Event, "alerts_truncated").Int(logging.Count, n.TruncatedAlerts).
					Msg("alertmanager left alerts out of the notification (max_alerts)")
			}
		}}, nil
}

// AlertmanagerVersion is the webhook payload version this reads.
const AlertmanagerVersion = "4"

// Alert statuses in Alertmanager notifications.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Notification is Alertmanager's webhook payload (version 4).
type Notification struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []AMAlert         `json:"alerts"`
}

// AMAlert is one alert of a Notification.
type AMAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// DecodeAlertmanager parses a webhook notification. Problems with the
// notification as a whole are *RequestError; fields it does not know are
// ignored (later Alertmanager versions may add some).
func DecodeAlertmanager(data []byte) (*Notification, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, requestErr("body must be a JSON object: Alertmanager's webhook notification")
	}
	var dup *jsonx.DuplicateKeyError
	if err := jsonx.CheckUnique(data); errors.As(err, &dup) {
		return nil, requestErr("%v", err)
	}
	var n Notification
	if err := json.Unmarshal(data, &n); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, requestErr("%s: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return nil, requestErr("malformed JSON: %v", err)
	}
	if n.Version != AlertmanagerVersion {
		return nil, requestErr("version: want %q (Alertmanager's webhook notification), got %q", AlertmanagerVersion, trimmed(n.Version, 40))
	}
	return &n, nil
}

// Items makes one envelope of each firing alert of n; resolved alerts are
// skipped (they never trigger remediation). feedName is the envelopes'
// feed_name; "" uses the receiver.
func (n *Notification) Items(feedName string) []Item {
	if feedName == "" {
		feedName = n.Receiver
	}
	items := make([]Item, 0, len(n.Alerts))
	for i, a := range n.Alerts {
		it := Item{ID: a.ID(), Unique: a.Fingerprint, Status: a.Status}
		switch {
		case a.Fingerprint == "":
			it.Err = fmt.Errorf("alerts[%d].fingerprint: missing", i)
		case a.Status == StatusResolved:
			it.Skip = "resolved: resolved alerts never trigger remediation"
		case a.Status != StatusFiring:
			it.Err = fmt.Errorf("alerts[%d].status: want firing or resolved, got %q", i, trimmed(a.Status, 40))
		default:
			meta := alert.Meta{UniqueKey: "fingerprint", UniqueValue: a.Fingerprint,
				FeedType: FeedTypeAlertmanager, FeedName: feedName}
			record, err := json.Marshal(n.record(a))
			if err == nil {
				it.Env, err = alert.New(record, meta)
			}
			if err != nil {
				it.Err = fmt.Errorf("alerts[%d]: %w", i, err)
			}
		}
		items = append(items, it)
	}
	return items
}

// ID is the alert's id in Alexis: its fingerprint (which identifies its
// label set) and the time it started firing, so that the same alert firing
// again after it resolved is a new alert to act on, while Alertmanager's
// repeated notifications of one firing are the same alert.
func (a AMAlert) ID() string {
	if a.Fingerprint == "" || a.StartsAt.IsZero() {
		return a.Fingerprint
	}
	return a.Fingerprint + "-" + strconv.FormatInt(a.StartsAt.Unix(), 10)
}

// record is the alert as rules read it (docs/rules.md, "Alertmanager
// alerts").
func (n *Notification) record(a AMAlert) map[string]any {
	labels := orEmpty(a.Labels)
	annotations := orEmpty(a.Annotations)
	message := annotations["summary"]
	if message == "" {
		message = labels["alertname"]
	}
	r := map[string]any{
		"id":                a.ID(),
		"fingerprint":       a.Fingerprint,
		"status":            a.Status,
		"alertname":         labels["alertname"],
		"message":           message,
		"description":       annotations["description"],
		"host":              Host(labels),
		"labels":            labels,
		"annotations":       annotations,
		"tags":              Tags(labels),
		"generatorURL":      a.GeneratorURL,
		"receiver":          n.Receiver,
		"groupKey":          n.GroupKey,
		"groupLabels":       orEmpty(n.GroupLabels),
		"commonLabels":      orEmpty(n.CommonLabels),
		"commonAnnotations": orEmpty(n.CommonAnnotations),
		"externalURL":       n.ExternalURL,
	}
	if !a.StartsAt.IsZero() {
		r["createdAt"] = a.StartsAt.UTC().Format(time.RFC3339Nano)
		r["startsAt"] = r["createdAt"]
	}
	if !a.EndsAt.IsZero() {
		r["endsAt"] = a.EndsAt.UTC().Format(time.RFC3339Nano)
	}
	return r
}

// Tags are an alert's labels as "name=value" strings, sorted, so that v1
// evaluations ("tags": ["alertname=DiskFull", "severity=page"]) and
// tags_include work on them.
func Tags(labels map[string]string) []string {
	tags := make([]string, 0, len(labels))
	for k, v := range labels {
		tags = append(tags, k+"="+v)
	}
	sort.Strings(tags)
	return tags
}

// Host is the host an alert is about: its "host" label, or else its
// "instance" label without the port (Prometheus' instance is the scraped
// exporter, "app01:9100"; the SSH port is not the exporter's).
func Host(labels map[string]string) string {
	if h := strings.TrimSpace(labels["host"]); h != "" {
		return h
	}
	inst := strings.TrimSpace(labels["instance"])
	if h, _, err := net.SplitHostPort(inst); err == nil {
		return h
	}
	return inst
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
