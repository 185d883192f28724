// Package registry builds the ticket systems of a service from its
// "tickets" configuration block: the one place where ticket systems are
// registered. Adding a system with an API of its own is one package
// exporting a ticket.System (its config block, its secrets, its client,
// whose errors are *ticket.Error and which may implement
// ticket.StatusReader) plus one entry in systems below; everything here
// (decoding, validation, secret files, building, per-feed accounts) loops
// over that table.
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
	"reflect"
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
	"gopkg.in/yaml.v3"
)

// systems are the ticket systems with an API of their own, in the order
// their blocks are validated and built: the one line to extend.
var systems = []ticket.System{opsgenie.Registration, dynatrace.Registration}

// FeedTypes are the feed types of the registered ticket systems.
func FeedTypes() []string {
	out := make([]string, len(systems))
	for i, sys := range systems {
		out[i] = sys.FeedType
	}
	return out
}

// Feed types of the ticket systems, as envelopes name them.
const (
	FeedTypeOpsGenie  = alert.FeedTypeOpsGenie
	FeedTypeDynatrace = alert.FeedTypeDynatrace
)

// Config is the "tickets" block.
type Config struct {
	Systems  Systems // the blocks of the registered systems, by name ("opsgenie")
	Webhooks []webhook.Config
	Feeds    map[string]Systems // by feed name
}

// Systems are the blocks of ticket systems with an API of their own, at
// most one of each, by system name ("opsgenie").
type Systems map[string]ticket.SystemConfig

// Empty reports whether no ticket system is configured.
func (c Config) Empty() bool {
	return len(c.Systems) == 0 && len(c.Webhooks) == 0 && len(c.Feeds) == 0
}

// UnmarshalYAML decodes the block strictly when the decoder is strict
// (yaml.v3 passes its own settings to unmarshal): each system's block
// into its own config type, webhooks and feeds as before.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	extra := []reflect.StructField{
		{Name: "Webhooks", Type: reflect.TypeOf([]webhook.Config(nil)), Tag: `yaml:"webhooks"`},
		{Name: "Feeds", Type: reflect.TypeOf(map[string]Systems(nil)), Tag: `yaml:"feeds"`},
	}
	v, sys, err := decodeSystems(unmarshal, "registry.Config", extra)
	if err != nil {
		return err
	}
	*c = Config{Systems: sys, Webhooks: v.FieldByName("Webhooks").Interface().([]webhook.Config),
		Feeds: v.FieldByName("Feeds").Interface().(map[string]Systems)}
	return nil
}

// UnmarshalYAML decodes a feed's systems, strictly like Config's.
func (s *Systems) UnmarshalYAML(unmarshal func(any) error) error {
	_, sys, err := decodeSystems(unmarshal, "registry.Systems", nil)
	if err != nil {
		return err
	}
	*s = sys
	return nil
}

// decodeSystems decodes a mapping with a key per registered system and
// the extra fields, through a struct type made of them, so that the
// decoder's strictness and its errors (line, unknown key) are yaml's.
// Errors name the struct typeName.
func decodeSystems(unmarshal func(any) error, typeName string, extra []reflect.StructField) (reflect.Value, Systems, error) {
	var keys map[string]yaml.Node
	if err := unmarshal(&keys); err != nil {
		return reflect.Value{}, nil, err
	}
	fields := make([]reflect.StructField, 0, len(systems)+len(extra))
	blocks := make([]ticket.SystemConfig, len(systems))
	for i, sys := range systems {
		blocks[i] = sys.NewConfig()
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("System%d", i),
			Type: reflect.TypeOf(blocks[i]), Tag: reflect.StructTag(`yaml:"` + sys.Name + `"`)})
	}
	typ := reflect.StructOf(append(fields, extra...))
	v := reflect.New(typ).Elem()
	for i := range systems {
		v.Field(i).Set(reflect.ValueOf(blocks[i]))
	}
	if err := unmarshal(v.Addr().Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for i, e := range te.Errors {
				te.Errors[i] = strings.ReplaceAll(e, typ.String(), typeName)
			}
		}
		return reflect.Value{}, nil, err
	}
	out := Systems{}
	for i, sys := range systems {
		// An absent key keeps the preset block, "key: ~" sets it nil:
		// neither configures the system.
		f := v.Field(i)
		if _, ok := keys[sys.Name]; ok && !(f.Kind() == reflect.Pointer && f.IsNil()) {
			out[sys.Name] = f.Interface().(ticket.SystemConfig)
		}
	}
	return v, out, nil
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
		if len(s) == 0 {
			p.Addf(key, "names no ticket system (%s)", strings.Join(systemNames(), " or "))
		}
		errs = append(errs, s.validate(key+".")...)
	}
	return errors.Join(append([]error{p.Err()}, errs...)...)
}

func systemNames() []string {
	out := make([]string, len(systems))
	for i, sys := range systems {
		out[i] = sys.Name
	}
	return out
}

func (s Systems) validate(prefix string) []error {
	var errs []error
	for _, sys := range systems {
		if cfg, ok := s[sys.Name]; ok {
			errs = append(errs, cfg.Validate(prefix+sys.Name+"."))
		}
	}
	return errs
}

// primaries builds the systems of s by feed type.
func (s Systems) primaries(log zerolog.Logger) (map[string]ticket.Ticket, error) {
	out := map[string]ticket.Ticket{}
	for _, sys := range systems {
		cfg, ok := s[sys.Name]
		if !ok {
			continue
		}
		t, err := cfg.Build(log.With().Str(logging.Component, sys.Name).Logger())
		if err != nil {
			return nil, err
		}
		out[sys.FeedType] = t
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
// secretfile.Check at start and for redaction.
func (c Config) SecretFiles(prefix string) []secretfile.File {
	var files []secretfile.File
	add := func(p string, s Systems) {
		for _, sys := range systems {
			cfg, ok := s[sys.Name]
			if !ok {
				continue
			}
			for _, f := range cfg.SecretFiles() {
				f.Field = p + sys.Name + "." + f.Field
				files = append(files, f)
			}
		}
	}
	add(prefix, c.Systems)
	for _, name := range sortedKeys(c.Feeds) {
		add(prefix+"feeds."+name+".", c.Feeds[name])
	}
	for i, w := range c.Webhooks {
		files = append(files, secretfile.File{Field: fmt.Sprintf("%swebhooks[%d].token_file", prefix, i), Path: w.TokenFile})
	}
	return files
}

// SetSystem configures the system named name with cfg (a service's
// earlier spelling of a block, moved under tickets).
func (c *Config) SetSystem(name string, cfg ticket.SystemConfig) {
	if c.Systems == nil {
		c.Systems = Systems{}
	}
	c.Systems[name] = cfg
}
