// Package config is the poller's YAML configuration. It names no feed
// type: each feeds[] entry's type-specific block is decoded and validated
// by its feed package (poller/internal/feed/<type>, registered in package
// feeds and passed to Load), whose doc shows the block.
//
//	listen: 127.0.0.1:8080            # optional: GET /v1/ping, GET /v1/feeds
//	tokens_file: /run/secrets/poller_tokens   # required when listen is set
//	body_limit: 1048576
//	log: {format: logfmt, level: info}
//	loop_interval: 30s                # how often every feed polls (a feed may override)
//	state_file: /var/lib/alexis/poller-state.json
//	state:                            # optional: PostgreSQL instead of state_file, for two replicas
//	  postgres_dsn_file: /run/secrets/poller_postgres_dsn
//	  lease: 3s                       # one active replica; a standby takes over once it expires
//	  renew_interval: 1s              # at most half the lease
//	classifier:
//	  url: http://127.0.0.1:8081/v1/classifier
//	  token_file: /run/secrets/poller_classifier_token
//	  timeout: 10s
//	  ca_file: ""                     # PEM bundle for an https url
//	feeds:
//	  - name: incoming                # unique
//	    type: opsgenie                # a registered feed type (package feeds), in any case
//	    query: "status: open AND teams: incoming"   # whether the type takes one is its own rule
//	    lookback: 24h                 # only alerts created this recently
//	    unique_key: tinyId            # field of the alert record identifying it; default: the type's
//	    loop_interval: 30s            # optional override
//	    opsgenie: {...}               # the type's own block, decoded and validated by its package
//	max_backoff: 5m                   # longest wait after repeated failures of a feed's source
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

// DefaultPath is where the poller looks for its configuration.
const DefaultPath = "/etc/alexis/poller.yaml"

// Defaults.
const (
	DefaultLoopInterval      = 30 * time.Second
	DefaultStateFile         = "/var/lib/alexis/poller-state.json"
	DefaultClassifierTimeout = 10 * time.Second
	DefaultLookback          = 24 * time.Hour
	DefaultMaxBackoff        = 5 * time.Minute
	DefaultLease             = 3 * time.Second
	DefaultRenewInterval     = 1 * time.Second
)

// Config is the poller configuration.
type Config struct {
	// Config is listen (optional: "" serves no API), tokens_file
	// (required with listen), body_limit, log and tls.
	server.Config `yaml:",inline"`

	LoopInterval sconfig.Duration `yaml:"loop_interval"`
	MaxBackoff   sconfig.Duration `yaml:"max_backoff"` // cap of a failing feed's back-off
	StateFile    string           `yaml:"state_file"`  // what was delivered, kept across restarts
	State        State            `yaml:"state"`       // PostgreSQL instead of StateFile
	Classifier   Classifier       `yaml:"classifier"`
	Feeds        []Feed           `yaml:"feeds"`

	types feed.Types // what feeds[].type may name
}

// State keeps the delivery state in PostgreSQL instead of the state file,
// so that several replicas can share it; a lease in the database makes one
// of them the active poller.
type State struct {
	// PostgresDSNFile holds a PostgreSQL DSN (a secret); set, PostgreSQL
	// is used and state_file is not.
	PostgresDSNFile string           `yaml:"postgres_dsn_file"`
	Lease           sconfig.Duration `yaml:"lease"`          // how long the active replica's lease lasts after a renew
	RenewInterval   sconfig.Duration `yaml:"renew_interval"` // how often it renews, and a standby tries to take it
}

// Postgres reports whether the state is kept in PostgreSQL.
func (s State) Postgres() bool { return s.PostgresDSNFile != "" }

// Classifier is where alerts are delivered.
type Classifier struct {
	URL       string           `yaml:"url"`        // the classify endpoint, e.g. http://host:8081/v1/classifier
	TokenFile string           `yaml:"token_file"` // the poller's own outbound token
	Timeout   sconfig.Duration `yaml:"timeout"`
	CAFile    string           `yaml:"ca_file"`
}

// Feed is one alert source polled on its own loop.
type Feed struct {
	Name         string           `yaml:"name"`
	Type         string           `yaml:"type"` // Validate makes it the canonical feed type ("OpsGenie")
	Query        string           `yaml:"query"`
	Lookback     sconfig.Duration `yaml:"lookback"`
	UniqueKey    string           `yaml:"unique_key"`
	LoopInterval sconfig.Duration `yaml:"loop_interval"` // 0: the top-level loop_interval

	// Blocks are the entry's other keys: the block of its type, which
	// Validate has the type decode into Block.
	Blocks map[string]yaml.Node `yaml:",inline"`
	// Block is the entry's decoded type block, set by Validate.
	Block feed.Block `yaml:"-"`
}

// Settings are the keys of f every feed type shares.
func (f Feed) Settings() feed.Settings {
	return feed.Settings{Name: f.Name, Query: f.Query, Lookback: f.Lookback.D(), UniqueKey: f.UniqueKey}
}

// New builds the feed of a validated entry.
func (f Feed) New(log zerolog.Logger) (feed.Feed, error) {
	if f.Block == nil {
		return nil, fmt.Errorf("feed %s: not validated", f.Name)
	}
	return f.Block.New(f.Settings(), log)
}

// Default returns a configuration holding every top-level default, whose
// feeds may be of the given types. Feed defaults (lookback, unique_key,
// the type's block) are filled in by Validate, since list entries cannot
// be pre-filled before decoding.
func Default(types feed.Types) *Config {
	return &Config{
		types:        types,
		Config:       server.Defaults(""),
		LoopInterval: sconfig.Duration(DefaultLoopInterval),
		MaxBackoff:   sconfig.Duration(DefaultMaxBackoff),
		StateFile:    DefaultStateFile,
		State:        State{Lease: sconfig.Duration(DefaultLease), RenewInterval: sconfig.Duration(DefaultRenewInterval)},
		Classifier:   Classifier{Timeout: sconfig.Duration(DefaultClassifierTimeout)},
	}
}

// Load reads the configuration at path over the defaults and validates it;
// its feeds may be of the given types (feeds.Types()).
func Load(path string, types feed.Types) (*Config, error) {
	c := Default(types)
	if err := sconfig.Load(path, c); err != nil {
		return nil, err
	}
	return c, nil
}

// feedName is what a feed name may look like: it appears in logs, state
// and the API.
var feedName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Validate fills in feed defaults, then reports every problem at once, each
// naming its key.
func (c *Config) Validate() error {
	var p sconfig.Problems
	if c.LoopInterval <= 0 {
		p.Addf("loop_interval", "must be positive")
	}
	if c.MaxBackoff <= 0 {
		p.Addf("max_backoff", "must be positive")
	}
	if st := c.State; st.Postgres() {
		p.File("state.postgres_dsn_file", st.PostgresDSNFile)
		if st.Lease < sconfig.Duration(time.Second) {
			p.Addf("state.lease", "must be at least 1s")
		}
		if st.RenewInterval <= 0 {
			p.Addf("state.renew_interval", "must be positive")
		} else if st.RenewInterval > st.Lease/2 {
			p.Addf("state.renew_interval", "must be at most half of state.lease (%s), so one late renew does not lose the lease", st.Lease.D())
		}
	} else if c.StateFile == "" {
		p.Addf("state_file", "required (or state.postgres_dsn_file)")
	} else if st, err := os.Stat(filepath.Dir(c.StateFile)); err != nil {
		p.Addf("state_file", "directory: %v", err)
	} else if !st.IsDir() {
		p.Addf("state_file", "%s is not a directory", filepath.Dir(c.StateFile))
	}

	cl := c.Classifier
	switch u, err := url.Parse(cl.URL); {
	case cl.URL == "":
		p.Addf("classifier.url", "required (e.g. http://127.0.0.1:8081/v1/classifier)")
	case err != nil:
		p.Addf("classifier.url", "bad URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Addf("classifier.url", "URL must be http:// or https://, got %q", cl.URL)
	case u.Host == "":
		p.Addf("classifier.url", "URL has no host: %q", cl.URL)
	case u.User != nil:
		p.Addf("classifier.url", "URL must not carry credentials; the token comes from classifier.token_file")
	}
	p.File("classifier.token_file", cl.TokenFile)
	if cl.Timeout <= 0 {
		p.Addf("classifier.timeout", "must be positive")
	}
	p.OptionalFile("classifier.ca_file", cl.CAFile)

	errs := []error{c.Config.Validate(server.ListenOptional)}
	if len(c.Feeds) == 0 {
		p.Addf("feeds", "required: at least one feed")
	}
	names := map[string]int{}
	for i := range c.Feeds {
		f := &c.Feeds[i]
		key := fmt.Sprintf("feeds[%d].", i)
		f.setDefaults(c.types)
		switch prev, dup := names[f.Name]; {
		case f.Name == "":
			p.Addf(key+"name", "required")
		case !feedName.MatchString(f.Name):
			p.Addf(key+"name", "use letters, digits, '.', '_' or '-' (starting with a letter or digit), got %q", f.Name)
		case dup:
			p.Addf(key+"name", "%q is already the name of feeds[%d]", f.Name, prev)
		}
		names[f.Name] = i
		if f.Lookback < 0 {
			p.Addf(key+"lookback", "must not be negative")
		}
		if strings.TrimSpace(f.UniqueKey) == "" && (f.UniqueKey != "" || c.types.Known(f.Type)) {
			p.Addf(key+"unique_key", "must not be blank")
		}
		if f.LoopInterval < 0 {
			p.Addf(key+"loop_interval", "must not be negative")
		}
		errs = append(errs, c.validateBlock(key, f, &p))
	}
	return errors.Join(append([]error{p.Err()}, errs...)...)
}

// setDefaults fills in what the feed left out, and spells its type the
// one way when it is known.
func (f *Feed) setDefaults(types feed.Types) {
	t, known := types.Lookup(f.Type)
	if known {
		f.Type = t.Name
	}
	if f.Lookback == 0 {
		f.Lookback = sconfig.Duration(DefaultLookback)
	}
	if f.UniqueKey == "" && known {
		f.UniqueKey = t.UniqueKey
	}
}

// validateBlock checks feed f's type and its keys beyond the common ones:
// the block of its type, which that type decodes and validates, and no
// other. Problems of the entry go to p; the block's are returned.
func (c *Config) validateBlock(key string, f *Feed, p *sconfig.Problems) error {
	t, known := c.types.Lookup(f.Type)
	switch {
	case f.Type == "":
		p.Addf(key+"type", "required (one of: %s)", c.types)
	case !known:
		p.Addf(key+"type", "unknown feed type %q (one of: %s)", f.Type, c.types)
	}
	others := make([]string, 0, len(f.Blocks))
	for k := range f.Blocks {
		if !known || k != t.Key {
			others = append(others, k)
		}
	}
	sort.Strings(others)
	for _, k := range others {
		if o, ok := c.types.ByKey(k); ok {
			p.Addf(key+k, "only for type %s", o.Key)
		} else {
			p.Addf(key+k, "field %s not found: not a key of a feed nor the block of a feed type (%s)", k, c.types)
		}
	}
	if !known {
		return nil
	}
	switch {
	case t.Query == feed.QueryRequired && strings.TrimSpace(f.Query) == "":
		p.Addf(key+"query", "required")
	case t.Query == feed.QueryRefused && f.Query != "":
		p.Addf(key+"query", "not for type %s: %s", t.Key, t.QueryHint)
	}
	n, ok := f.Blocks[t.Key]
	if !ok {
		p.Addf(key+t.Key, "required for type %s", t.Key)
		return nil
	}
	b, err := t.Decode(key, f.Settings(), &n)
	f.Block = b
	return err
}

// Interval returns how often feed f polls.
func (c *Config) Interval(f Feed) time.Duration {
	if f.LoopInterval > 0 {
		return f.LoopInterval.D()
	}
	return c.LoopInterval.D()
}
