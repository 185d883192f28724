// Package config is the action handler's YAML configuration
// (docs/actionhandler.md explains every key).
//
//	listen: 127.0.0.1:8082
//	tokens_file: /run/secrets/actionhandler_tokens
//	signing_key_file: /run/secrets/alexis_signing_key  # verifies what the classifier forwards; "": nothing is verified
//	rules_dir: ""                       # the deployed rule files: an unsigned rule identical to one is verified
//	body_limit: 1048576
//	log: {format: logfmt, level: info}
//	development: false
//	investigation_queue: queue_needsinvestigation
//	max_concurrent_executions: 16      # executions this replica runs at once
//	max_queued_executions: 256         # 503 beyond this many queued (all replicas)
//	shutdown_grace: 30s
//	dedup_window: 24h                  # same alert and rule within it: the first execution answers
//	execution_timeout: 1h              # a whole execution; 0s: none
//	replica_id: ""                     # default host name + random suffix
//	store:
//	  sqlite_path: /var/lib/alexis/actionhandler.db
//	  postgres_dsn_file: ""            # set: PostgreSQL instead of SQLite
//	  lease: 30s
//	  poll_interval: 1s
//	  retention: 2160h
//	governor:
//	  max_hosts_per_minute: 0          # 0: no cap
//	  default_window: 1h
//	  pause_after: 0                   # circuit breaker default (docs/rollout.md); 0: off
//	  defaults: {max_executions: 0, max_executions_per_entity: 0, window: "", cooldown: ""}
//	ssh:
//	  user: alexis
//	  key_file: /run/secrets/alexis_ssh_key
//	  known_hosts_file: /etc/alexis/known_hosts
//	  insecure_ignore_host_key: false
//	  port: 22
//	  connect_timeout: 10s
//	  command_timeout: 5m
//	  idle_timeout: 30s
//	  concurrency: 32
//	  output_limit: 65536
//	  hosts: {db01: {user: postgres, port: 2222}}
//	local: {allowed: [ansible-playbook], path: /usr/local/bin:/usr/bin:/bin, dir: /var/lib/alexis, timeout: 10m}
//	plugins: {dir: /etc/alexis/plugins, timeout: 5m}
//	http: {allowed_hosts: [lb.example.com], timeout: 30s}
//	secrets: {lb_token: /run/secrets/lb_token}
//	tls: {cert_file: /etc/alexis/tls/cert.pem, key_file: /etc/alexis/tls/key.pem}
//	tickets:                           # write-back systems by feed type (shared/ticket/registry)
//	  opsgenie: {api_url: api.opsgenie.com, api_key_file: /run/secrets/opsgenie_key}
//	console:                           # the web console at /console/ (docs/console.md)
//	  enabled: true
//	  classifier_url: http://classifier:8081   # rules and explain; "": not shown
//	  classifier_token_file: /run/secrets/console_classifier_token
//	  classifier_ca_file: ""
//	  ticket_links: {OpsGenie: "https://acme.app.opsgenie.com/alert/detail/{alert_id}/details"}
//	  session_ttl: 12h
//	  session_key_file: ""             # shared by replicas; "": random per process
//
// The top-level "opsgenie" block of earlier versions still works: it is
// tickets.opsgenie when that is not set (setting both is an error).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
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
	DefaultIdleTimeout             = 30 * time.Second
	DefaultDedupWindow             = 24 * time.Hour
	DefaultExecutionTimeout        = time.Hour
	DefaultWritebackAttempts       = 10
	DefaultWritebackRetryDelay     = 30 * time.Second
	DefaultSQLitePath              = "/var/lib/alexis/actionhandler.db"
	DefaultLease                   = 30 * time.Second
	DefaultPollInterval            = time.Second
	DefaultRetention               = 90 * 24 * time.Hour
	DefaultGovernorWindow          = time.Hour
	DefaultLocalTimeout            = 5 * time.Minute
	DefaultPluginTimeout           = 5 * time.Minute
	DefaultHTTPTimeout             = 30 * time.Second
	DefaultSessionTTL              = 12 * time.Hour
)

// Config is the action handler configuration.
type Config struct {
	// Config is listen, tokens_file (name:token [scopes=...] per line),
	// body_limit, log and tls.
	server.Config `yaml:",inline"`
	// SigningKeyFile holds the key the classifier signs forwarded actions
	// with (shared/auth); "": no request is verified, every action needs
	// scope adhoc.
	SigningKeyFile string `yaml:"signing_key_file"`
	// RulesDir, when set, is the deployed rules directory (the classifier's
	// rules_dir, mounted read-only): an unsigned request whose rule is
	// identical to the rule of that name there is verified.
	RulesDir string `yaml:"rules_dir"`

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

	// DedupWindow: a second request for the same alert and rule within it
	// returns the first execution instead of running again.
	DedupWindow sconfig.Duration `yaml:"dedup_window"`
	// ExecutionTimeout bounds a whole execution; 0 means none.
	ExecutionTimeout sconfig.Duration `yaml:"execution_timeout"`
	// ReplicaID names this process in the store. Set it (unique per
	// replica, stable across restarts) to have a restarted replica report
	// its interrupted executions at once instead of after the lease.
	ReplicaID string `yaml:"replica_id"`

	// WritebackRetry: how write-back operations that failed for a reason
	// that may pass (no answer, 429, 5xx) are tried again.
	WritebackRetry WritebackRetry `yaml:"writeback_retry"`

	Store    Store    `yaml:"store"`
	Governor Governor `yaml:"governor"`
	SSH      SSH      `yaml:"ssh"`
	Local    Local    `yaml:"local"`
	Plugins  Plugins  `yaml:"plugins"`
	HTTP     HTTP     `yaml:"http"`
	// Secrets are values tasks may use ({{ secret "name" }}, whole, in
	// env, headers and body: shared/task/field/secret.go), each read from a
	// file; they are redacted from everything stored, noted and logged.
	Secrets map[string]string `yaml:"secrets"`

	// Tickets are the systems results and the rules' operations are
	// written back to, by the alerts' feed type (and feed name).
	Tickets registry.Config `yaml:"tickets"`

	// OpsGenie is the earlier spelling of tickets.opsgenie; Load moves it
	// there.
	OpsGenie *opsgenie.Config `yaml:"opsgenie"`

	// Console is the web console served at /console/ on the listener.
	Console Console `yaml:"console"`
}

// Console configures the web console (docs/console.md).
type Console struct {
	// Enabled serves /console/ (default true).
	Enabled bool `yaml:"enabled"`
	// ClassifierURL is the classifier's API, for the rules page and
	// explain; "": those say the classifier is not configured.
	ClassifierURL string `yaml:"classifier_url"`
	// ClassifierTokenFile holds the console's token for the classifier
	// (scope read there); required with classifier_url.
	ClassifierTokenFile string `yaml:"classifier_token_file"`
	// ClassifierCAFile verifies an https classifier_url; "": system roots.
	ClassifierCAFile string `yaml:"classifier_ca_file"`
	// TicketLinks are URL templates by feed type; {alert_id} is replaced by
	// the alert id, percent-encoded. http and https only.
	TicketLinks map[string]string `yaml:"ticket_links"`
	// SessionTTL is how long a login lasts.
	SessionTTL sconfig.Duration `yaml:"session_ttl"`
	// SessionKeyFile holds the key (at least 32 bytes) sessions and CSRF
	// tokens are signed with: give every replica the same file. "": a
	// random key per process (sessions end on restart and work on one
	// replica only).
	SessionKeyFile string `yaml:"session_key_file"`
	// PublicURL is the console's address as people reach it (through a
	// proxy), e.g. https://alexis.example.com/console: approval notes
	// link to PUBLICURL/executions/ID. "": they give the CLI command and
	// the API path only. Read even with the console disabled here (another
	// replica may serve it).
	PublicURL string `yaml:"public_url"`
}

// Store is where executions are kept.
type Store struct {
	// SQLitePath is the embedded database (one action handler per file).
	SQLitePath string `yaml:"sqlite_path"`
	// PostgresDSNFile holds a PostgreSQL DSN; set, PostgreSQL is used and
	// replicas may share it.
	PostgresDSNFile string `yaml:"postgres_dsn_file"`
	// Lease: a running execution's owner renews it every third of this;
	// one not renewed for this long is taken over as interrupted.
	Lease sconfig.Duration `yaml:"lease"`
	// PollInterval: how often queued executions are looked for.
	PollInterval sconfig.Duration `yaml:"poll_interval"`
	// Retention: reported executions older than this are deleted; 0 keeps all.
	Retention sconfig.Duration `yaml:"retention"`
}

// Governor is the global governor and the defaults for rules without one.
type Governor struct {
	MaxHostsPerMinute int              `yaml:"max_hosts_per_minute"`
	DefaultWindow     sconfig.Duration `yaml:"default_window"`
	Defaults          *RuleGovernor    `yaml:"defaults"`
	// PauseAfter: the circuit breaker's default for rules whose governor
	// sets no pause_after (docs/rollout.md); 0: off.
	PauseAfter int `yaml:"pause_after"`
}

// RuleGovernor is a rule's governor object in YAML.
type RuleGovernor struct {
	MaxExecutions          int    `yaml:"max_executions"`
	MaxExecutionsPerEntity int    `yaml:"max_executions_per_entity"`
	Window                 string `yaml:"window"`
	Cooldown               string `yaml:"cooldown"`
}

// Rule returns g as a rule governor (nil for nil).
func (g *RuleGovernor) Rule() *rule.Governor {
	if g == nil {
		return nil
	}
	return &rule.Governor{MaxExecutions: g.MaxExecutions, MaxExecutionsPerEntity: g.MaxExecutionsPerEntity,
		Window: g.Window, Cooldown: g.Cooldown}
}

// Local configures the local task type.
type Local struct {
	Allowed []string         `yaml:"allowed"` // programs local tasks may run; empty: none
	Path    string           `yaml:"path"`    // their PATH
	Dir     string           `yaml:"dir"`     // their working directory
	Timeout sconfig.Duration `yaml:"timeout"`
}

// Plugins configures the plugin task type.
type Plugins struct {
	Dir     string           `yaml:"dir"` // empty: plugin tasks are refused
	Timeout sconfig.Duration `yaml:"timeout"`
}

// HTTP configures the http task type.
type HTTP struct {
	// AllowedHosts: the only hosts http tasks may call (host, host:port,
	// IP, IP:port). Empty: any host a rule writes out, none taken from the
	// alert. Loopback, link-local and metadata addresses: only when listed
	// as an IP (shared/task/httptask).
	AllowedHosts []string         `yaml:"allowed_hosts"`
	Timeout      sconfig.Duration `yaml:"timeout"`
}

// SSHHost overrides the user and port for one host.
type SSHHost struct {
	User string `yaml:"user"`
	Port int    `yaml:"port"`
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
	OutputLimit           int              `yaml:"output_limit"` // bytes kept of stdout and of stderr (all task types)
	// IdleTimeout: connections are kept this long for the next command to
	// the same host; 0s closes them after each command.
	IdleTimeout sconfig.Duration   `yaml:"idle_timeout"`
	Hosts       map[string]SSHHost `yaml:"hosts"` // by host name (the entity without :port)
}

// WritebackRetry is the writeback_retry section.
type WritebackRetry struct {
	// Attempts is how many times an operation is tried in all (1: never
	// again).
	Attempts int `yaml:"attempts"`
	// Delay is the wait before the first retry; each next one waits twice
	// as long, up to 30m.
	Delay sconfig.Duration `yaml:"delay"`
}

// Default returns a configuration holding every default.
func Default() *Config {
	return &Config{
		Config:                  server.Defaults(DefaultListen),
		MaxConcurrentExecutions: DefaultMaxConcurrentExecutions,
		MaxQueuedExecutions:     DefaultMaxQueuedExecutions,
		ShutdownGrace:           sconfig.Duration(DefaultShutdownGrace),
		DedupWindow:             sconfig.Duration(DefaultDedupWindow),
		ExecutionTimeout:        sconfig.Duration(DefaultExecutionTimeout),
		WritebackRetry:          WritebackRetry{Attempts: DefaultWritebackAttempts, Delay: sconfig.Duration(DefaultWritebackRetryDelay)},
		Store: Store{
			SQLitePath:   DefaultSQLitePath,
			Lease:        sconfig.Duration(DefaultLease),
			PollInterval: sconfig.Duration(DefaultPollInterval),
			Retention:    sconfig.Duration(DefaultRetention),
		},
		Governor: Governor{DefaultWindow: sconfig.Duration(DefaultGovernorWindow)},
		Console:  Console{Enabled: true, SessionTTL: sconfig.Duration(DefaultSessionTTL)},
		Local:    Local{Timeout: sconfig.Duration(DefaultLocalTimeout)},
		Plugins:  Plugins{Timeout: sconfig.Duration(DefaultPluginTimeout)},
		HTTP:     HTTP{Timeout: sconfig.Duration(DefaultHTTPTimeout)},
		SSH: SSH{
			IdleTimeout:    sconfig.Duration(DefaultIdleTimeout),
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
	if c.OpsGenie != nil {
		c.Tickets.SetSystem(opsgenie.System, c.OpsGenie)
		c.OpsGenie = nil
	}
	return c, nil
}

// allowedHostName is a host name or IPv4 address in http.allowed_hosts.
var allowedHostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// allowedHost: h is a host, host:port, IP or IP:port (IPv6 bracketed with
// a port, bracketed or not without).
func allowedHost(h string) bool {
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ip.Zone() == "" && (strings.HasPrefix(h, "[") == strings.HasSuffix(h, "]"))
	}
	host, port := h, ""
	if n, p, err := net.SplitHostPort(h); err == nil {
		host, port = n, p
		if pn, err := strconv.Atoi(port); err != nil || pn < 1 || pn > 65535 {
			return false
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return true
		}
	}
	return allowedHostName.MatchString(host)
}

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var p sconfig.Problems
	p.OptionalFile("signing_key_file", c.SigningKeyFile)
	if c.RulesDir != "" {
		if st, err := os.Stat(c.RulesDir); err != nil {
			p.Addf("rules_dir", "%v", err)
		} else if !st.IsDir() {
			p.Addf("rules_dir", "%s is not a directory", c.RulesDir)
		}
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
	if s.IdleTimeout < 0 {
		p.Addf("ssh.idle_timeout", "must not be negative")
	}
	for name, h := range s.Hosts {
		if h.Port < 0 || h.Port > 65535 {
			p.Addf("ssh.hosts."+name+".port", "must be 1..65535, got %d", h.Port)
		}
		if strings.ContainsAny(name, ":[]@ ") || name == "" {
			p.Addf("ssh.hosts."+name, "want a host name without port")
		}
	}
	c.validateExecution(&p)
	c.Console.validate(&p)
	if c.OpsGenie != nil && c.Tickets.Systems[opsgenie.System] != nil {
		p.Addf("opsgenie", "set either opsgenie or tickets.opsgenie, not both (opsgenie is the earlier spelling of tickets.opsgenie)")
	}
	errs := []error{c.Config.Validate(server.ListenRequired), p.Err(), c.Tickets.Validate("tickets.")}
	if c.OpsGenie != nil {
		errs = append(errs, c.OpsGenie.Validate("opsgenie."))
	}
	return errors.Join(errs...)
}

// validate checks the console block's keys.
func (k Console) validate(p *sconfig.Problems) {
	if k.PublicURL != "" {
		u, err := url.Parse(k.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			p.Addf("console.public_url", "want an http or https URL like https://alexis.example.com/console, got %q", k.PublicURL)
		}
	}
	if !k.Enabled {
		return
	}
	if k.ClassifierURL != "" {
		u, err := url.Parse(k.ClassifierURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			p.Addf("console.classifier_url", "want an http or https URL like http://classifier:8081, got %q", k.ClassifierURL)
		}
		p.File("console.classifier_token_file", k.ClassifierTokenFile)
	} else if k.ClassifierTokenFile != "" {
		p.Addf("console.classifier_token_file", "set without console.classifier_url")
	}
	p.OptionalFile("console.classifier_ca_file", k.ClassifierCAFile)
	if k.SessionTTL < sconfig.Duration(time.Minute) || k.SessionTTL > sconfig.Duration(30*24*time.Hour) {
		p.Addf("console.session_ttl", "must be 1m..720h, got %s", k.SessionTTL.D())
	}
	p.OptionalFile("console.session_key_file", k.SessionKeyFile)
	for feed, tpl := range k.TicketLinks {
		key := "console.ticket_links." + feed
		u, err := url.Parse(strings.ReplaceAll(tpl, "{alert_id}", "x"))
		switch {
		case strings.TrimSpace(feed) == "":
			p.Addf("console.ticket_links", "empty feed type")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
			p.Addf(key, "want an absolute http or https URL, got %q", tpl)
		case !strings.Contains(tpl, "{alert_id}"):
			p.Addf(key, "want {alert_id} in the URL, got %q", tpl)
		}
	}
}

// readable is sconfig.Problems.File, or OptionalFile when not required.
func readable(p *sconfig.Problems, key, path string, required bool) {
	if required {
		p.File(key, path)
	} else {
		p.OptionalFile(key, path)
	}
}

// validateExecution checks the store, governor, task type and secrets keys.
func (c *Config) validateExecution(p *sconfig.Problems) {
	if c.DedupWindow <= 0 {
		p.Addf("dedup_window", "must be positive")
	}
	if c.ExecutionTimeout < 0 {
		p.Addf("execution_timeout", "must not be negative (0s: none)")
	}
	if c.WritebackRetry.Attempts < 1 || c.WritebackRetry.Attempts > 100 {
		p.Addf("writeback_retry.attempts", "must be 1..100 (1: never try again)")
	}
	if c.WritebackRetry.Delay <= 0 {
		p.Addf("writeback_retry.delay", "must be positive")
	}
	if strings.ContainsAny(c.ReplicaID, " \t\n") {
		p.Addf("replica_id", "must not contain white space")
	}
	st := c.Store
	if st.PostgresDSNFile != "" {
		readable(p, "store.postgres_dsn_file", st.PostgresDSNFile, true)
	} else if strings.TrimSpace(st.SQLitePath) == "" {
		p.Addf("store.sqlite_path", "required unless store.postgres_dsn_file is set")
	}
	if st.Lease < sconfig.Duration(time.Second) {
		p.Addf("store.lease", "must be at least 1s")
	}
	if st.PollInterval <= 0 {
		p.Addf("store.poll_interval", "must be positive")
	}
	if st.Retention < 0 {
		p.Addf("store.retention", "must not be negative (0s keeps everything)")
	}
	g := c.Governor
	if g.MaxHostsPerMinute < 0 {
		p.Addf("governor.max_hosts_per_minute", "must not be negative (0: no cap)")
	}
	if g.DefaultWindow <= 0 {
		p.Addf("governor.default_window", "must be positive")
	}
	if g.PauseAfter < 0 {
		p.Addf("governor.pause_after", "must not be negative (0: off)")
	}
	if d := g.Defaults; d != nil {
		r := rule.Rule{Name: "x", AlertFeed: "x", OSType: "x", EntityType: rule.EntityExplicit, Entities: []string{"x"},
			Evaluations: []rule.EvaluationItem{{}}, Tasks: []rule.TaskItem{{Task: rule.Task{TaskType: rule.TaskRemoteSSH, RunCommand: "x"}}},
			Governor: d.Rule()}
		for _, e := range r.Validate() {
			if strings.HasPrefix(e.Path, "governor.") {
				p.Addf("governor.defaults."+strings.TrimPrefix(e.Path, "governor."), "%s", e.Msg)
			}
		}
	}
	if c.Local.Timeout <= 0 {
		p.Addf("local.timeout", "must be positive")
	}
	for i, a := range c.Local.Allowed {
		if strings.TrimSpace(a) == "" || (strings.Contains(a, "/") && !strings.HasPrefix(a, "/")) {
			p.Addf(fmt.Sprintf("local.allowed[%d]", i), "want a program name or an absolute path, got %q", a)
		}
	}
	if c.Local.Dir != "" {
		if st, err := os.Stat(c.Local.Dir); err != nil || !st.IsDir() {
			p.Addf("local.dir", "not a directory: %s", c.Local.Dir)
		}
	}
	if c.Plugins.Timeout <= 0 {
		p.Addf("plugins.timeout", "must be positive")
	}
	if c.Plugins.Dir != "" {
		if st, err := os.Stat(c.Plugins.Dir); err != nil || !st.IsDir() {
			p.Addf("plugins.dir", "not a directory: %s", c.Plugins.Dir)
		}
	}
	if c.HTTP.Timeout <= 0 {
		p.Addf("http.timeout", "must be positive")
	}
	for i, h := range c.HTTP.AllowedHosts {
		if !allowedHost(h) {
			p.Addf(fmt.Sprintf("http.allowed_hosts[%d]", i), "want a host, host:port, IP or IP:port ([v6]:port), no scheme or path, got %q", h)
		}
	}
	for name, path := range c.Secrets {
		if name == "" || strings.ContainsAny(name, " \t\n\"") {
			p.Addf("secrets", "bad secret name %q", name)
		}
		readable(p, "secrets."+name, path, true)
	}
}
