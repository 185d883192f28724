// Package registry builds the ticket systems of a service from its
// "tickets" configuration block: the one place where ticket systems are
// registered. Adding a system is one package plus one block here.
//
//	tickets:
//	  opsgenie:                       # alerts of feed_type OpsGenie
//	    api_url: api.eu.opsgenie.com  # default api.opsgenie.com
//	    api_key_file: /run/secrets/opsgenie_key
//	    timeout: 15s
//	    retries: 2
//	  dynatrace:                      # problems of feed_type Dynatrace
//	    api_url: https://abc12345.live.dynatrace.com
//	    api_token_file: /run/secrets/dynatrace_token
//	    timeout: 15s
//	  webhooks:                       # chat or anything with an HTTP endpoint
//	    - name: chat
//	      url: https://chat.example/hooks/alexis
//	      token_file: /run/secrets/chat_token   # optional bearer token
//	      timeout: 10s
//	      feed_types: ["*"]           # or [OpsGenie, Dynatrace]; a copy of every op for types with their own system
//	      kinds: [note, close, escalate]          # optional: only these ops
//	  feeds:                          # optional: feeds with their own account, by feed name
//	    eu-incoming:
//	      opsgenie: {api_url: api.eu.opsgenie.com, api_key_file: /run/secrets/opsgenie_eu_key}
package registry

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/dynatrace"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/webhook"
	"github.com/rs/zerolog"
)

// Feed types of the ticket systems, as envelopes name them.
const (
	FeedTypeOpsGenie  = alert.FeedTypeOpsGenie
	FeedTypeDynatrace = alert.FeedTypeDynatrace
)

// Config is the "tickets" block.
type Config struct {
	Systems  `yaml:",inline"`
	Webhooks []webhook.Config   `yaml:"webhooks"`
	Feeds    map[string]Systems `yaml:"feeds"` // by feed name
}

// Systems are the ticket systems with an API of their own, at most one
// of each.
type Systems struct {
	OpsGenie  *opsgenie.Config  `yaml:"opsgenie"`
	Dynatrace *dynatrace.Config `yaml:"dynatrace"`
}

// Empty reports whether no ticket system is configured.
func (c Config) Empty() bool {
	return c.OpsGenie == nil && c.Dynatrace == nil && len(c.Webhooks) == 0 && len(c.Feeds) == 0
}

// Validate reports every problem, each prefixed with prefix ("tickets.").
func (c Config) Validate(prefix string) error {
	var p config.Problems
	errs := c.Systems.validate(prefix)
	names := map[string]int{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("%swebhooks[%d].", prefix, i)
		errs = append(errs, w.Validate(key))
		if prev, dup := names[w.Name]; dup && w.Name != "" {
			p.Addf(key+"name", "%q is already the name of webhooks[%d]", w.Name, prev)
		}
		names[w.Name] = i
	}
	for _, name := range sortedKeys(c.Feeds) {
		s := c.Feeds[name]
		key := prefix + "feeds." + name
		if s.OpsGenie == nil && s.Dynatrace == nil {
			p.Addf(key, "names no ticket system (opsgenie or dynatrace)")
		}
		errs = append(errs, s.validate(key+".")...)
	}
	return errors.Join(append([]error{p.Err()}, errs...)...)
}

func (s Systems) validate(prefix string) []error {
	var errs []error
	if s.OpsGenie != nil {
		errs = append(errs, s.OpsGenie.Validate(prefix+"opsgenie."))
	}
	if s.Dynatrace != nil {
		errs = append(errs, s.Dynatrace.Validate(prefix+"dynatrace."))
	}
	return errs
}

// primaries builds the systems of s by feed type: the one place listing
// every ticket system with an API.
func (s Systems) primaries(log zerolog.Logger) (map[string]ticket.Ticket, error) {
	out := map[string]ticket.Ticket{}
	if s.OpsGenie != nil {
		c, err := opsgenie.New(*s.OpsGenie, log.With().Str(logging.Component, "opsgenie").Logger())
		if err != nil {
			return nil, err
		}
		out[FeedTypeOpsGenie] = c
	}
	if s.Dynatrace != nil {
		c, err := dynatrace.New(*s.Dynatrace, log.With().Str(logging.Component, "dynatrace").Logger())
		if err != nil {
			return nil, err
		}
		out[FeedTypeDynatrace] = c
	}
	return out, nil
}

// Build makes the ticket Set of c. Webhooks serving a feed type that has a
// system of its own get a copy of its operations (ticket.Multi); a webhook
// for "*" also serves every feed type without one.
func Build(c Config, log zerolog.Logger) (ticket.Set, error) {
	set := ticket.Set{}
	prim, err := c.Systems.primaries(log)
	if err != nil {
		return nil, err
	}
	for ft, t := range prim {
		t, err := withMirrors(t, ft, c.Webhooks)
		if err != nil {
			return nil, err
		}
		set.Add(ft, t)
	}
	for _, name := range sortedKeys(c.Feeds) {
		feedPrim, err := c.Feeds[name].primaries(log)
		if err != nil {
			return nil, fmt.Errorf("tickets.feeds.%s: %w", name, err)
		}
		for ft, t := range feedPrim {
			t, err := withMirrors(t, ft, c.Webhooks)
			if err != nil {
				return nil, err
			}
			set.AddFeed(ft, name, t)
		}
	}
	// Webhooks of feed types without a system of their own: the first is
	// the ticket, later ones its mirrors.
	var keys []string
	hooks := map[string][]ticket.Ticket{}
	for _, w := range c.Webhooks {
		for _, ft := range w.FeedTypes {
			key := strings.ToLower(ft)
			if _, mirrored := set[key]; mirrored {
				continue
			}
			typ := ft
			if ft == webhook.AllFeedTypes {
				typ = ""
			}
			wh, err := webhook.New(w, typ)
			if err != nil {
				return nil, err
			}
			if hooks[key] == nil {
				keys = append(keys, key)
			}
			hooks[key] = append(hooks[key], wh)
		}
	}
	for _, key := range keys {
		if hs := hooks[key]; len(hs) == 1 {
			set.Add(key, hs[0])
		} else {
			set.Add(key, &ticket.Multi{Primary: hs[0], Mirrors: hs[1:]})
		}
	}
	return set, nil
}

// withMirrors wraps t with the webhooks serving feedType.
func withMirrors(t ticket.Ticket, feedType string, hooks []webhook.Config) (ticket.Ticket, error) {
	var mirrors []ticket.Ticket
	for _, w := range hooks {
		if !w.Serves(feedType) {
			continue
		}
		wh, err := webhook.New(w, feedType)
		if err != nil {
			return nil, err
		}
		mirrors = append(mirrors, wh)
	}
	if len(mirrors) == 0 {
		return t, nil
	}
	return &ticket.Multi{Primary: t, Mirrors: mirrors}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SecretFiles are the files holding the ticket systems' keys and tokens,
// named by their config keys under prefix ("tickets."), for
// secretfile.Check at start.
func (c Config) SecretFiles(prefix string) []secretfile.File {
	var files []secretfile.File
	systems := func(p string, s Systems) {
		if s.OpsGenie != nil {
			files = append(files, secretfile.File{Field: p + "opsgenie.api_key_file", Path: s.OpsGenie.APIKeyFile})
		}
		if s.Dynatrace != nil {
			files = append(files, secretfile.File{Field: p + "dynatrace.api_token_file", Path: s.Dynatrace.APITokenFile})
		}
	}
	systems(prefix, c.Systems)
	names := make([]string, 0, len(c.Feeds))
	for name := range c.Feeds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		systems(prefix+"feeds."+name+".", c.Feeds[name])
	}
	for i, w := range c.Webhooks {
		files = append(files, secretfile.File{Field: fmt.Sprintf("%swebhooks[%d].token_file", prefix, i), Path: w.TokenFile})
	}
	return files
}
