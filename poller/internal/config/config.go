// Package config is the poller's YAML configuration.
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
//	    type: opsgenie
//	    query: "status: open AND teams: incoming"
//	    lookback: 24h                 # only alerts created this recently
//	    unique_key: tinyId            # field of the alert record identifying it
//	    loop_interval: 30s            # optional override
//	    opsgenie: {api_url: api.opsgenie.com, api_key_file: /run/secrets/opsgenie_key, timeout: 15s, retries: 2}
//	  - name: eu-incoming             # another account: its own key and host
//	    type: opsgenie
//	    query: "status: open"
//	    opsgenie: {api_url: api.eu.opsgenie.com, api_key_file: /run/secrets/opsgenie_eu_key}
//	  - name: problems
//	    type: dynatrace               # no query: the problem selector says what to poll
//	    lookback: 24h                 # from=now-24h: problems that started (or ended) since
//	    unique_key: problemId         # the default for dynatrace; displayId also works
//	    dynatrace:
//	      api_url: https://abc12345.live.dynatrace.com
//	      api_token_file: /run/secrets/dynatrace_token
//	      timeout: 15s
//	      retries: 2
//	      problem_selector: 'status("open"),entityTags("team:db")'   # default status("open")
//	      entity_selector: ""         # optional
//	      page_size: 100              # 1..500
//	max_backoff: 5m                   # longest wait after repeated failures of a feed's source
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/dynatrace"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/server"
)

// DefaultPath is where the poller looks for its configuration.
const DefaultPath = "/etc/alexis/poller.yaml"

// Defaults.
const (
	DefaultLoopInterval      = 30 * time.Second
	DefaultStateFile         = "/var/lib/alexis/poller-state.json"
	DefaultClassifierTimeout = 10 * time.Second
	DefaultLookback          = 24 * time.Hour
	DefaultUniqueKey         = "tinyId"    // opsgenie
	DefaultDynatraceKey      = "problemId" // dynatrace
	DefaultProblemSelector   = `status("open")`
	DefaultMaxBackoff        = 5 * time.Minute
	DefaultLease             = 3 * time.Second
	DefaultRenewInterval     = 1 * time.Second
)

// Feed types (values of feeds[].type, case-insensitive).
const (
	TypeOpsGenie  = "opsgenie"
	TypeDynatrace = "dynatrace"
)

// types lists the feed types for messages.
const types = TypeOpsGenie + ", " + TypeDynatrace

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
	Type         string           `yaml:"type"`
	Query        string           `yaml:"query"`
	Lookback     sconfig.Duration `yaml:"lookback"`
	UniqueKey    string           `yaml:"unique_key"`
	LoopInterval sconfig.Duration `yaml:"loop_interval"` // 0: the top-level loop_interval

	OpsGenie  *opsgenie.Config `yaml:"opsgenie"`  // type opsgenie
	Dynatrace *Dynatrace       `yaml:"dynatrace"` // type dynatrace
}

// Dynatrace is the dynatrace block of a feed: the client's configuration
// and what to poll.
type Dynatrace struct {
	dynatrace.Config `yaml:",inline"`
	ProblemSelector  string `yaml:"problem_selector"` // default status("open")
	EntitySelector   string `yaml:"entity_selector"`  // optional
	PageSize         int    `yaml:"page_size"`        // default 100, at most 500
}

// Default returns a configuration holding every top-level default. Feed
// defaults (lookback, unique_key, loop_interval) are filled in by Validate,
// since list entries cannot be pre-filled before decoding.
func Default() *Config {
	return &Config{
		Config:       server.Defaults(""),
		LoopInterval: sconfig.Duration(DefaultLoopInterval),
		MaxBackoff:   sconfig.Duration(DefaultMaxBackoff),
		StateFile:    DefaultStateFile,
		State:        State{Lease: sconfig.Duration(DefaultLease), RenewInterval: sconfig.Duration(DefaultRenewInterval)},
		Classifier:   Classifier{Timeout: sconfig.Duration(DefaultClassifierTimeout)},
	}
}

// Load reads the configuration at path over the defaults and validates it.
func Load(path string) (*Config, error) {
	c := Default()
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
		f.setDefaults()
		switch prev, dup := names[f.Name]; {
		case f.Name == "":
			p.Addf(key+"name", "required")
		case !feedName.MatchString(f.Name):
			p.Addf(key+"name", "use letters, digits, '.', '_' or '-' (starting with a letter or digit), got %q", f.Name)
		case dup:
			p.Addf(key+"name", "%q is already the name of feeds[%d]", f.Name, prev)
		}
		names[f.Name] = i
		if f.Type == TypeOpsGenie && strings.TrimSpace(f.Query) == "" {
			p.Addf(key+"query", "required")
		}
		if f.Type == TypeDynatrace && f.Query != "" {
			p.Addf(key+"query", "not for type dynatrace: use dynatrace.problem_selector")
		}
		if f.Lookback < 0 {
			p.Addf(key+"lookback", "must not be negative")
		}
		if strings.TrimSpace(f.UniqueKey) == "" {
			p.Addf(key+"unique_key", "must not be blank")
		}
		if f.LoopInterval < 0 {
			p.Addf(key+"loop_interval", "must not be negative")
		}
		switch f.Type {
		case "":
			p.Addf(key+"type", "required (one of: %s)", types)
		case TypeOpsGenie:
			if f.OpsGenie == nil {
				p.Addf(key+"opsgenie", "required for type opsgenie")
			} else {
				errs = append(errs, f.OpsGenie.Validate(key+"opsgenie."))
			}
		case TypeDynatrace:
			if f.Dynatrace == nil {
				p.Addf(key+"dynatrace", "required for type dynatrace")
			} else {
				errs = append(errs, f.Dynatrace.Validate(key+"dynatrace."))
				if f.Dynatrace.PageSize < 0 || f.Dynatrace.PageSize > dynatrace.MaxPageSize {
					p.Addf(key+"dynatrace.page_size", "must be 1..%d", dynatrace.MaxPageSize)
				}
			}
		default:
			p.Addf(key+"type", "unknown feed type %q (one of: %s)", f.Type, types)
		}
		if f.Type != TypeOpsGenie && f.OpsGenie != nil {
			p.Addf(key+"opsgenie", "only for type opsgenie")
		}
		if f.Type != TypeDynatrace && f.Dynatrace != nil {
			p.Addf(key+"dynatrace", "only for type dynatrace")
		}
	}
	return errors.Join(append([]error{p.Err()}, errs...)...)
}

// setDefaults fills in what the feed left out.
func (f *Feed) setDefaults() {
	f.Type = strings.ToLower(strings.TrimSpace(f.Type))
	if f.Lookback == 0 {
		f.Lookback = sconfig.Duration(DefaultLookback)
	}
	if f.UniqueKey == "" {
		f.UniqueKey = DefaultUniqueKey
		if f.Type == TypeDynatrace {
			f.UniqueKey = DefaultDynatraceKey
		}
	}
	if d := f.Dynatrace; d != nil {
		if strings.TrimSpace(d.ProblemSelector) == "" {
			d.ProblemSelector = DefaultProblemSelector
		}
		if d.PageSize == 0 {
			d.PageSize = dynatrace.DefaultPageSize
		}
	}
}

// Interval returns how often feed f polls.
func (c *Config) Interval(f Feed) time.Duration {
	if f.LoopInterval > 0 {
		return f.LoopInterval.D()
	}
	return c.LoopInterval.D()
}
