// Package config is the action handler's YAML configuration.
//
//	listen: 127.0.0.1:8082
//	tokens_file: /run/secrets/actionhandler_tokens
//	body_limit: 1048576
//	log: {format: logfmt, level: info}
//	development: false
//	investigation_queue: queue_needsinvestigation
//	max_concurrent_executions: 16
//	max_queued_executions: 256
//	shutdown_grace: 30s
//	ssh:
//	  user: alexis
//	  key_file: /run/secrets/alexis_ssh_key
//	  known_hosts_file: /etc/alexis/known_hosts
//	  insecure_ignore_host_key: false
//	  port: 22
//	  connect_timeout: 10s
//	  command_timeout: 5m
//	  concurrency: 32
//	  output_limit: 65536
//	opsgenie: {api_url: api.opsgenie.com, api_key_file: /run/secrets/opsgenie_key}
package config

import (
	"errors"
	"net"
	"os"
	"strings"
	"time"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/server"
)

// DefaultPath is where the action handler looks for its configuration.
const DefaultPath = "/etc/alexis/actionhandler.yaml"

// Defaults.
const (
	DefaultListen                  = "127.0.0.1:8082"
	DefaultMaxConcurrentExecutions = 16
	DefaultMaxQueuedExecutions     = 256
	DefaultShutdownGrace           = 30 * time.Second
	DefaultSSHPort                 = 22
	DefaultConnectTimeout          = 10 * time.Second
	DefaultCommandTimeout          = 5 * time.Minute
	DefaultSSHConcurrency          = 32
	DefaultOutputLimit             = 64 << 10
)

// Config is the action handler configuration.
type Config struct {
	Listen     string          `yaml:"listen"`
	TokensFile string          `yaml:"tokens_file"` // inbound client tokens (name:token per line)
	BodyLimit  int64           `yaml:"body_limit"`  // bytes
	Log        logging.Options `yaml:"log"`

	// Development logs and notes what would run and connects to nothing.
	Development bool `yaml:"development"`
	// InvestigationQueue is the team an alert goes to when any host failed.
	InvestigationQueue string `yaml:"investigation_queue"`
	// MaxConcurrentExecutions is how many executions run at once; further
	// ones wait in memory, up to MaxQueuedExecutions, then get 503.
	MaxConcurrentExecutions int `yaml:"max_concurrent_executions"`
	MaxQueuedExecutions     int `yaml:"max_queued_executions"`
	// ShutdownGrace is how long running executions may finish on shutdown
	// before they are cancelled (their remote commands killed).
	ShutdownGrace sconfig.Duration `yaml:"shutdown_grace"`

	SSH SSH `yaml:"ssh"`

	// OpsGenie, when set, writes notes and teams back to OpsGenie alerts.
	OpsGenie *opsgenie.Config `yaml:"opsgenie"`
}

// SSH configures the remote_ssh task type.
type SSH struct {
	User                  string           `yaml:"user"`
	KeyFile               string           `yaml:"key_file"`         // private key (a Docker secret)
	KnownHostsFile        string           `yaml:"known_hosts_file"` // required unless insecure_ignore_host_key
	InsecureIgnoreHostKey bool             `yaml:"insecure_ignore_host_key"`
	Port                  int              `yaml:"port"` // for entities without :port
	ConnectTimeout        sconfig.Duration `yaml:"connect_timeout"`
	CommandTimeout        sconfig.Duration `yaml:"command_timeout"`
	Concurrency           int              `yaml:"concurrency"`  // hosts at once per task of an execution
	OutputLimit           int              `yaml:"output_limit"` // bytes kept of stdout and of stderr
}

// Default returns a configuration holding every default.
func Default() *Config {
	return &Config{
		Listen:                  DefaultListen,
		BodyLimit:               server.DefaultBodyLimit,
		Log:                     logging.Options{Format: "logfmt", Level: "info"},
		MaxConcurrentExecutions: DefaultMaxConcurrentExecutions,
		MaxQueuedExecutions:     DefaultMaxQueuedExecutions,
		ShutdownGrace:           sconfig.Duration(DefaultShutdownGrace),
		SSH: SSH{
			Port:           DefaultSSHPort,
			ConnectTimeout: sconfig.Duration(DefaultConnectTimeout),
			CommandTimeout: sconfig.Duration(DefaultCommandTimeout),
			Concurrency:    DefaultSSHConcurrency,
			OutputLimit:    DefaultOutputLimit,
		},
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
	readable(&p, "tokens_file", c.TokensFile, true)
	if c.BodyLimit <= 0 {
		p.Addf("body_limit", "must be a positive number of bytes")
	}
	if strings.TrimSpace(c.InvestigationQueue) == "" {
		p.Addf("investigation_queue", "required: the team an alert goes to when a remediation failed")
	}
	if c.MaxConcurrentExecutions < 1 {
		p.Addf("max_concurrent_executions", "must be at least 1")
	}
	if c.MaxQueuedExecutions < 0 {
		p.Addf("max_queued_executions", "must not be negative")
	}
	if c.ShutdownGrace < 0 {
		p.Addf("shutdown_grace", "must not be negative")
	}

	s := c.SSH
	// Development mode connects to nothing, so the SSH identity may be absent.
	needed := !c.Development
	if needed && strings.TrimSpace(s.User) == "" {
		p.Addf("ssh.user", "required")
	}
	readable(&p, "ssh.key_file", s.KeyFile, needed)
	if s.InsecureIgnoreHostKey {
		if s.KnownHostsFile != "" {
			p.Addf("ssh.known_hosts_file", "set together with ssh.insecure_ignore_host_key: choose one")
		}
	} else {
		if needed && s.KnownHostsFile == "" {
			p.Addf("ssh.known_hosts_file", "required (host keys are verified); ssh.insecure_ignore_host_key: true disables the check")
		}
		readable(&p, "ssh.known_hosts_file", s.KnownHostsFile, false)
	}
	if s.Port < 1 || s.Port > 65535 {
		p.Addf("ssh.port", "must be 1..65535, got %d", s.Port)
	}
	if s.ConnectTimeout <= 0 {
		p.Addf("ssh.connect_timeout", "must be positive")
	}
	if s.CommandTimeout <= 0 {
		p.Addf("ssh.command_timeout", "must be positive")
	}
	if s.Concurrency < 1 {
		p.Addf("ssh.concurrency", "must be at least 1")
	}
	if s.OutputLimit < 1 {
		p.Addf("ssh.output_limit", "must be a positive number of bytes")
	}
	errs := []error{p.Err(), c.Log.Validate("log.")}
	if c.OpsGenie != nil {
		errs = append(errs, c.OpsGenie.Validate("opsgenie."))
	}
	return errors.Join(errs...)
}

// readable checks that path names a regular file we can read.
func readable(p *sconfig.Problems, key, path string, required bool) {
	if path == "" {
		if required {
			p.Addf(key, "required")
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.Addf(key, "%v", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		p.Addf(key, "%v", err)
	case st.IsDir():
		p.Addf(key, "%s is a directory, want a file", path)
	}
}
