package intake

import (
	"bytes"
	"fmt"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/jsonx"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/tidwall/gjson"
)

// WebhookFeed is one feed whose source posts alerts as JSON to
// POST /v1/webhook/{name} (an entry of the classifier configuration's
// webhooks list): how to read what it posts.
type WebhookFeed struct {
	Name     string `yaml:"name"`      // the URL's {name} and the envelopes' feed_name
	FeedType string `yaml:"feed_type"` // the envelopes' feed_type, which rules name in alert_feed
	// IDPath is the gjson path of the alert's identifier in the posted
	// object (in each item, with ItemsPath): a non-empty string or a
	// number. Required.
	IDPath string `yaml:"id_path"`
	// ItemsPath, when set, is the gjson path of an array of alerts in the
	// posted object; each element is classified as an alert of its own.
	ItemsPath string `yaml:"items_path"`
}

// WebhookRoute serves the webhook feeds, by name.
func WebhookRoute(feeds map[string]WebhookFeed) Route {
	return Route{Path: "/v1/webhook/:name",
		Feed: func(name string) (Push, bool) { f, ok := feeds[name]; return f, ok },
		Missing: func(name string) string {
			return fmt.Sprintf("no webhook feed named %q (webhooks: in the classifier configuration)", logging.Trim(name, 80))
		}}
}

// Read makes the items of what was posted to f (Webhook).
func (f WebhookFeed) Read(body []byte) (Batch, error) {
	items, err := Webhook(f, body)
	if err != nil {
		return Batch{}, err
	}
	return Batch{FeedType: f.FeedType, FeedName: f.Name, Items: items}, nil
}

// Webhook makes envelopes of what was posted to feed f: the posted object
// itself, or each element of the array at f.ItemsPath. Each alert's id is
// the non-empty string or number at f.IDPath. Any problem makes the whole
// request a *RequestError naming what is missing, before anything is
// classified.
func Webhook(f WebhookFeed, data []byte) ([]Item, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' || !gjson.ValidBytes(data) {
		return nil, requestErr("body must be a JSON object")
	}
	// gjson reads the first of two equal keys, alert.New the last: refuse
	// the document before either reads it.
	if err := jsonx.CheckUnique(data); err != nil {
		return nil, requestErr("%v", err)
	}
	records := []gjson.Result{gjson.ParseBytes(data)}
	where := func(int) string { return "" }
	if f.ItemsPath != "" {
		v := gjson.GetBytes(data, f.ItemsPath)
		if !v.IsArray() {
			return nil, requestErr("items_path %q: want an array of alerts, got %s", f.ItemsPath, describe(v))
		}
		records = v.Array()
		where = func(i int) string { return fmt.Sprintf("%s[%d]: ", f.ItemsPath, i) }
	}
	items := make([]Item, 0, len(records))
	for i, rec := range records {
		if !rec.IsObject() {
			return nil, requestErr("%swant a JSON object, got %s", where(i), describe(rec))
		}
		id := rec.Get(f.IDPath)
		var value string
		switch id.Type {
		case gjson.String:
			value = id.Str
		case gjson.Number:
			value = id.Raw
		}
		if value == "" {
			return nil, requestErr("%sid_path %q: want a non-empty string or a number, got %s", where(i), f.IDPath, describe(id))
		}
		env, err := alert.New([]byte(rec.Raw), alert.Meta{UniqueKey: f.IDPath, UniqueValue: value,
			FeedType: f.FeedType, FeedName: f.Name})
		if err != nil {
			return nil, requestErr("%s%v", where(i), err)
		}
		items = append(items, Item{Env: env, ID: env.ID(), Unique: value})
	}
	return items, nil
}

// describe names what a gjson value is, for error messages.
func describe(v gjson.Result) string {
	switch {
	case !v.Exists():
		return "nothing there"
	case v.IsArray():
		return "an array"
	case v.IsObject():
		return "an object"
	case v.Type == gjson.Null:
		return "null"
	}
	return "JSON " + trimmed(v.Raw, 60)
}
