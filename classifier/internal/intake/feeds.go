package intake

import "errors"

// Feeds are the push feeds' blocks of the classifier configuration (inlined
// at its top level, decoded strictly with it): the registry of push feed
// kinds. A kind is one field here and one line in kinds.
type Feeds struct {
	Alertmanager AlertmanagerConfig `yaml:"alertmanager"` // POST /v1/alertmanager
	Webhooks     Webhooks           `yaml:"webhooks"`     // POST /v1/webhook/{name}
}

// Kind is a push feed kind's configuration block.
type Kind interface {
	// Validate reports every problem of the block, each under key (the
	// block's key, "alertmanager." or "webhooks").
	Validate(key string) error
	// Route is where the kind's feeds are served.
	Route() Route
}

// kinds are the blocks of f, under their keys.
func (f Feeds) kinds() []struct {
	key  string
	kind Kind
} {
	return []struct {
		key  string
		kind Kind
	}{
		{"alertmanager.", f.Alertmanager},
		{"webhooks", f.Webhooks},
	}
}

// Validate reports every problem of the blocks, under their keys.
func (f Feeds) Validate() error {
	var errs []error
	for _, k := range f.kinds() {
		errs = append(errs, k.kind.Validate(k.key))
	}
	return errors.Join(errs...)
}

// Routes are where the feeds are served, one route per kind.
func (f Feeds) Routes() []Route {
	routes := make([]Route, 0, 2)
	for _, k := range f.kinds() {
		routes = append(routes, k.kind.Route())
	}
	return routes
}

// Webhook returns the webhook feed called name.
func (f Feeds) Webhook(name string) (WebhookFeed, bool) {
	for _, w := range f.Webhooks {
		if w.Name == name {
			return w, true
		}
	}
	return WebhookFeed{}, false
}

// Webhooks is the webhooks list: feeds whose sources post any JSON.
type Webhooks []WebhookFeed

// Validate reports the list's problems (ValidateWebhooks).
func (ws Webhooks) Validate(key string) error { return ValidateWebhooks(key, ws) }

// Route serves the webhook feeds by name.
func (ws Webhooks) Route() Route {
	byName := make(map[string]WebhookFeed, len(ws))
	for _, w := range ws {
		byName[w.Name] = w
	}
	return WebhookRoute(byName)
}

// Route serves the Alertmanager feed.
func (c AlertmanagerConfig) Route() Route { return AlertmanagerRoute(Alertmanager(c)) }

var (
	_ Kind = AlertmanagerConfig{}
	_ Kind = Webhooks{}
)
