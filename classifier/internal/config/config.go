// Package config is the classifier's YAML configuration.
//
//	listen: 127.0.0.1:8081
//	tokens_file: /run/secrets/classifier_tokens
//	body_limit: 1048576
//	max_in_flight: 128              # requests served at once; more are answered 503 + Retry-After
//	log: {format: logfmt, level: info}
//	rules_dir: /etc/alexis/rules
//	rules_watch: inotify
//	action_handlers:
//	  linux: http://127.0.0.1:8082/v1/action
//	action_handler_token_file: /run/secrets/classifier_ah_token
//	signing_key_file: /run/secrets/alexis_signing_key  # signs what is forwarded; "": unsigned (needs adhoc)
//	action_handler_timeout: 10s
//	action_handler_ca_file: ""
//	default_investigation_queue: ops_investigation
//	autoremediation_queue: queue_autoremediation
//	tls: {cert_file: /etc/alexis/tls/cert.pem, key_file: /etc/alexis/tls/key.pem}
//	tickets:                        # write-back systems by feed type (shared/ticket/registry)
//	  opsgenie: {api_url: api.opsgenie.com, api_key_file: /run/secrets/opsgenie_key}
//	history:                        # record every decision (absent or url "": none)
//	  url: http://127.0.0.1:8082/v1/decisions
//	  token_file: /run/secrets/classifier_history_token   # a token with scope record
//	  buffer: 10000                 # decisions held while the store is away; more are dropped
//	  flush_interval: 1s
//	alertmanager: {feed_name: ""}   # POST /v1/alertmanager; "": the payload's receiver
//	webhooks:                       # POST /v1/webhook/{name}
//	  - {name: grafana, feed_type: Grafana, id_path: fingerprint, items_path: alerts}
//
// The top-level "opsgenie" block of earlier versions still works: it is
// tickets.opsgenie when that is not set (setting both is an error).
package config

import (
	"errors"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/intake"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
)

// DefaultPath is where the classifier looks for its configuration.
const DefaultPath = "/etc/alexis/classifier.yaml"

// Defaults.
const (
	DefaultListen               = "127.0.0.1:8081"
	DefaultActionHandlerTimeout = 10 * time.Second
	DefaultAutoremediationQueue = "queue_autoremediation"
	// DefaultMaxInFlight is max_in_flight's default: well above what keeps
	// two cores busy on the matched path (README "Performance"), small
	// enough that admitted requests stay fast and memory bounded.
	DefaultMaxInFlight = 128
)

// Config is the classifier configuration.
type Config struct {
	// Config is listen, tokens_file (name:token per line), body_limit,
	// log and tls.
	server.Config `yaml:",inline"`
	// MaxInFlight is how many requests are served at once; past it a
	// request is answered 503 with Retry-After at once (GET /v1/ping and
	// /metrics excepted).
	MaxInFlight int `yaml:"max_in_flight"`

	RulesDir string `yaml:"rules_dir"` // *.json rule files, re-checked on every request

	// RulesWatch is how rule file changes are seen: "inotify" (default;
	// polling where inotify is unavailable or the directory is on a network
	// file system) or "poll" (stat every file on every request).
	RulesWatch string `yaml:"rules_watch"`

	// ActionHandlers maps a rule's os_type (case-insensitive) to the URL of
	// the action handler that runs it.
	ActionHandlers         map[string]string `yaml:"action_handlers"`
	ActionHandlerTokenFile string            `yaml:"action_handler_token_file"` // our outbound token
	// SigningKeyFile holds the key forwarded actions are signed with, the
	// action handler's signing_key_file; "": unsigned.
	SigningKeyFile       string           `yaml:"signing_key_file"`
	ActionHandlerTimeout sconfig.Duration `yaml:"action_handler_timeout"`
	ActionHandlerCAFile  string           `yaml:"action_handler_ca_file"` // PEM bundle for https URLs

	// DefaultInvestigationQueue is the team an alert is routed to when no
	// rule matched or a matched rule could not be pushed.
	DefaultInvestigationQueue string `yaml:"default_investigation_queue"`

	// AutoremediationQueue is the team an alert is added to once a matched
	// rule was pushed to an action handler, so it leaves the poller's query
	// ("... AND NOT teams:queue_autoremediation ..."). Empty disables it.
	AutoremediationQueue string `yaml:"autoremediation_queue"`

	// Tickets are the systems notes, teams and the rules' operations are
	// written back to, by the alerts' feed type (and feed name).
	Tickets registry.Config `yaml:"tickets"`

	// OpsGenie is the earlier spelling of tickets.opsgenie; Load moves it
	// there.
	OpsGenie *opsgenie.Config `yaml:"opsgenie"`

	// History is where each decision is recorded (the action handler's
	// POST /v1/decisions); URL "" records none.
	History History `yaml:"history"`

	// Feeds are the push feeds' blocks (alertmanager, webhooks), which
	// package intake owns.
	intake.Feeds `yaml:",inline"`
}

// Default returns a configuration holding every default.
func Default() *Config {
	return &Config{
		Config:               server.Defaults(DefaultListen),
		MaxInFlight:          DefaultMaxInFlight,
		ActionHandlerTimeout: sconfig.Duration(DefaultActionHandlerTimeout),
		AutoremediationQueue: DefaultAutoremediationQueue,
		RulesWatch:           "inotify",
		History: History{Buffer: DefaultHistoryBuffer, FlushInterval: sconfig.Duration(DefaultHistoryFlush),
			Timeout: sconfig.Duration(DefaultActionHandlerTimeout)},
	}
}

// History defaults and bounds.
const (
	DefaultHistoryBuffer = 10000
	MaxHistoryBuffer     = 1000000
	DefaultHistoryFlush  = time.Second
	// HistoryPath is how history.url must end: the action handler's
	// endpoint for decisions.
	HistoryPath = "/v1/decisions"
)

// History is the history block: where the classifier records what it
// decided for each alert.
type History struct {
	// URL is the full URL of the action handler's POST /v1/decisions.
	URL       string `yaml:"url"`
	TokenFile string `yaml:"token_file"` // a token of the action handler with scope record
	CAFile    string `yaml:"ca_file"`    // PEM bundle for an https URL; "": action_handler_ca_file
	// Buffer is how many decisions are held in memory while they wait to
	// be recorded; when it is full, new decisions are dropped (counted).
	Buffer        int              `yaml:"buffer"`
	FlushInterval sconfig.Duration `yaml:"flush_interval"` // how long a decision waits for a fuller batch
	Timeout       sconfig.Duration `yaml:"timeout"`        // one POST
}

// Enabled reports whether decisions are recorded.
func (h *History) Enabled() bool { return h.URL != "" }

// Validate reports the block's problems under prefix ("history.").
func (h *History) Validate(prefix string) error {
	var p sconfig.Problems
	if !h.Enabled() {
		if h.TokenFile != "" {
			p.Addf(prefix+"url", "required when %stoken_file is set (e.g. http://actionhandler:8082%s)", prefix, HistoryPath)
		}
		return p.Err()
	}
	u, err := url.Parse(h.URL)
	switch {
	case err != nil:
		p.Addf(prefix+"url", "bad URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Addf(prefix+"url", "URL must be http:// or https://, got %q", h.URL)
	case u.Host == "":
		p.Addf(prefix+"url", "URL has no host: %q", h.URL)
	case u.User != nil || u.RawQuery != "":
		p.Addf(prefix+"url", "URL must carry no credentials or query; the token comes from %stoken_file", prefix)
	case !strings.HasSuffix(u.Path, HistoryPath):
		p.Addf(prefix+"url", "want the full URL of the action handler's %s (e.g. http://actionhandler:8082%s), got path %q",
			HistoryPath, HistoryPath, u.Path)
	}
	p.File(prefix+"token_file", h.TokenFile)
	p.OptionalFile(prefix+"ca_file", h.CAFile)
	if h.Buffer < 1 || h.Buffer > MaxHistoryBuffer {
		p.Addf(prefix+"buffer", "must be 1..%d decisions", MaxHistoryBuffer)
	}
	if d := h.FlushInterval.D(); d < 10*time.Millisecond || d > time.Minute {
		p.Addf(prefix+"flush_interval", "must be 10ms..1m, got %s", d)
	}
	if h.Timeout <= 0 {
		p.Addf(prefix+"timeout", "must be positive")
	}
	return p.Err()
}

// Load reads the configuration at path over the defaults and validates it.
func Load(path string) (*Config, error) {
	c := Default()
	if err := sconfig.Load(path, c); err != nil {
		return nil, err
	}
	if c.OpsGenie != nil {
		c.Tickets.SetSystem(opsgenie.System, c.OpsGenie)
		c.OpsGenie = nil
	}
	return c, nil
}

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var p sconfig.Problems
	if c.MaxInFlight < 1 || c.MaxInFlight > 100000 {
		p.Addf("max_in_flight", "must be 1..100000 requests")
	}

	switch st, err := os.Stat(c.RulesDir); {
	case c.RulesDir == "":
		p.Addf("rules_dir", "required")
	case err != nil:
		p.Addf("rules_dir", "%v", err)
	case !st.IsDir():
		p.Addf("rules_dir", "%s is not a directory", c.RulesDir)
	}

	if c.RulesWatch != "inotify" && c.RulesWatch != "poll" {
		p.Addf("rules_watch", "want inotify or poll, got %q", c.RulesWatch)
	}

	if len(c.ActionHandlers) == 0 {
		p.Addf("action_handlers", "required: at least one os_type: URL (e.g. linux: http://127.0.0.1:8082/v1/action)")
	}
	seen := map[string]string{}
	for _, osType := range sortedKeys(c.ActionHandlers) {
		key := "action_handlers." + osType
		if strings.TrimSpace(osType) == "" {
			p.Addf(key, "empty os_type")
		}
		if prev, dup := seen[strings.ToLower(osType)]; dup {
			p.Addf(key, "same os_type as %q (os_type is case-insensitive)", prev)
		}
		seen[strings.ToLower(osType)] = osType
		raw := c.ActionHandlers[osType]
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			p.Addf(key, "bad URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			p.Addf(key, "URL must be http:// or https://, got %q", raw)
		case u.Host == "":
			p.Addf(key, "URL has no host: %q", raw)
		case u.User != nil || u.Query().Has("token"):
			p.Addf(key, "URL must not carry credentials; the token comes from action_handler_token_file")
		}
	}
	p.File("action_handler_token_file", c.ActionHandlerTokenFile)
	p.OptionalFile("signing_key_file", c.SigningKeyFile)
	if c.ActionHandlerTimeout <= 0 {
		p.Addf("action_handler_timeout", "must be positive")
	}
	p.OptionalFile("action_handler_ca_file", c.ActionHandlerCAFile)

	if strings.TrimSpace(c.DefaultInvestigationQueue) == "" {
		p.Addf("default_investigation_queue", "required: the team alerts go to when no rule acts on them")
	}
	if c.AutoremediationQueue != strings.TrimSpace(c.AutoremediationQueue) {
		p.Addf("autoremediation_queue", "leading or trailing space in %q", c.AutoremediationQueue)
	}
	if c.OpsGenie != nil && c.Tickets.Systems[opsgenie.System] != nil {
		p.Addf("opsgenie", "set either opsgenie or tickets.opsgenie, not both (opsgenie is the earlier spelling of tickets.opsgenie)")
	}
	errs := []error{c.Config.Validate(server.ListenRequired), p.Err(),
		c.Feeds.Validate(), c.Tickets.Validate("tickets."), c.History.Validate("history.")}
	if c.OpsGenie != nil {
		errs = append(errs, c.OpsGenie.Validate("opsgenie."))
	}
	return errors.Join(errs...)
}

// ActionHandlerURLs returns action_handlers keyed by lower-case os_type.
func (c *Config) ActionHandlerURLs() map[string]string {
	m := make(map[string]string, len(c.ActionHandlers))
	for osType, u := range c.ActionHandlers {
		m[strings.ToLower(osType)] = u
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
