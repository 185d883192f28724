// Package config is the classifier's YAML configuration.
//
//	listen: 127.0.0.1:8081
//	tokens_file: /run/secrets/classifier_tokens
//	body_limit: 1048576
//	log: {format: logfmt, level: info}
//	rules_dir: /etc/alexis/rules
//	rules_watch: inotify
//	action_handlers:
//	  linux: http://127.0.0.1:8082/v1/action
//	action_handler_token_file: /run/secrets/classifier_ah_token
//	action_handler_timeout: 10s
//	action_handler_ca_file: ""
//	default_investigation_queue: ops_investigation
//	autoremediation_queue: queue_autoremediation
//	opsgenie: {api_url: api.opsgenie.com, api_key_file: /run/secrets/opsgenie_key}
package config

import (
	"errors"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/server"
)

// DefaultPath is where the classifier looks for its configuration.
const DefaultPath = "/etc/alexis/classifier.yaml"

// Defaults.
const (
	DefaultListen               = "127.0.0.1:8081"
	DefaultActionHandlerTimeout = 10 * time.Second
	DefaultAutoremediationQueue = "queue_autoremediation"
)

// Config is the classifier configuration.
type Config struct {
	Listen     string          `yaml:"listen"`
	TokensFile string          `yaml:"tokens_file"` // inbound client tokens (name:token per line)
	BodyLimit  int64           `yaml:"body_limit"`  // bytes
	Log        logging.Options `yaml:"log"`

	RulesDir string `yaml:"rules_dir"` // *.json rule files, re-checked on every request

	// RulesWatch is how rule file changes are seen: "inotify" (default;
	// polling where inotify is unavailable or the directory is on a network
	// file system) or "poll" (stat every file on every request).
	RulesWatch string `yaml:"rules_watch"`

	// ActionHandlers maps a rule's os_type (case-insensitive) to the URL of
	// the action handler that runs it.
	ActionHandlers         map[string]string `yaml:"action_handlers"`
	ActionHandlerTokenFile string            `yaml:"action_handler_token_file"` // our outbound token
	ActionHandlerTimeout   sconfig.Duration  `yaml:"action_handler_timeout"`
	ActionHandlerCAFile    string            `yaml:"action_handler_ca_file"` // PEM bundle for https URLs

	// DefaultInvestigationQueue is the team an alert is routed to when no
	// rule matched or a matched rule could not be pushed.
	DefaultInvestigationQueue string `yaml:"default_investigation_queue"`

	// AutoremediationQueue is the team an alert is added to once a matched
	// rule was pushed to an action handler, so it leaves the poller's query
	// ("... AND NOT teams:queue_autoremediation ..."). Empty disables it.
	AutoremediationQueue string `yaml:"autoremediation_queue"`

	// OpsGenie, when set, writes notes and teams back to OpsGenie alerts.
	OpsGenie *opsgenie.Config `yaml:"opsgenie"`
}

// Default returns a configuration holding every default.
func Default() *Config {
	return &Config{
		Listen:               DefaultListen,
		BodyLimit:            server.DefaultBodyLimit,
		Log:                  logging.Options{Format: "logfmt", Level: "info"},
		ActionHandlerTimeout: sconfig.Duration(DefaultActionHandlerTimeout),
		AutoremediationQueue: DefaultAutoremediationQueue,
		RulesWatch:           "inotify",
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

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var p sconfig.Problems
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.Addf("listen", "want host:port, got %q", c.Listen)
	}
	requireFile(&p, "tokens_file", c.TokensFile, true)
	if c.BodyLimit <= 0 {
		p.Addf("body_limit", "must be a positive number of bytes")
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
	requireFile(&p, "action_handler_token_file", c.ActionHandlerTokenFile, true)
	if c.ActionHandlerTimeout <= 0 {
		p.Addf("action_handler_timeout", "must be positive")
	}
	requireFile(&p, "action_handler_ca_file", c.ActionHandlerCAFile, false)

	if strings.TrimSpace(c.DefaultInvestigationQueue) == "" {
		p.Addf("default_investigation_queue", "required: the team alerts go to when no rule acts on them")
	}
	if c.AutoremediationQueue != strings.TrimSpace(c.AutoremediationQueue) {
		p.Addf("autoremediation_queue", "leading or trailing space in %q", c.AutoremediationQueue)
	}
	errs := []error{p.Err(), c.Log.Validate("log.")}
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

// requireFile checks that path names a readable regular file.
func requireFile(p *sconfig.Problems, key, path string, required bool) {
	if path == "" {
		if required {
			p.Addf(key, "required")
		}
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		p.Addf(key, "%v", err)
	case st.IsDir():
		p.Addf(key, "%s is a directory, want a file", path)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
