package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
)

// files creates the files a valid config names and returns their paths.
func files(t *testing.T) (dir, tokens, ahToken string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "rules")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tokens = filepath.Join(base, "tokens")
	ahToken = filepath.Join(base, "ah_token")
	for _, p := range []string{tokens, ahToken} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, tokens, ahToken
}

func write(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "classifier.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir, tokens, ahToken := files(t)
	base := "tokens_file: " + tokens + "\nrules_dir: " + dir + "\naction_handler_token_file: " + ahToken +
		"\ndefault_investigation_queue: ops\n"
	minimal := base + "action_handlers: {linux: 'http://127.0.0.1:8082/v1/action'}\n"
	tests := []struct {
		name     string
		yaml     string
		want     func(*Config) string // "" when fine
		wantErrs []string
	}{
		{
			name: "minimal with defaults",
			yaml: minimal,
			want: func(c *Config) string {
				if c.Listen != "127.0.0.1:8081" || c.BodyLimit != 1<<20 || c.MaxInFlight != DefaultMaxInFlight || c.ActionHandlerTimeout.D() != 10*time.Second ||
					c.Log.Format != "logfmt" || c.OpsGenie != nil || c.AutoremediationQueue != "queue_autoremediation" || c.RulesWatch != "inotify" {
					return "defaults not applied"
				}
				if c.ActionHandlerURLs()["linux"] != "http://127.0.0.1:8082/v1/action" {
					return "action handler URL"
				}
				return ""
			},
		},
		{
			name: "everything set",
			yaml: base + "listen: 0.0.0.0:9000\nbody_limit: 2048\nmax_in_flight: 16\nlog: {format: json, level: debug}\n" +
				"action_handler_timeout: 3s\naction_handlers: {Linux: 'https://ah:8082/v1/action', aix: 'http://aix:8082/v1/action'}\n" +
				"opsgenie: {api_url: 127.0.0.1:9999, api_key_file: " + tokens + ", timeout: 5s, retries: 1}\n",
			want: func(c *Config) string {
				u := c.ActionHandlerURLs()
				if c.Listen != "0.0.0.0:9000" || c.BodyLimit != 2048 || c.MaxInFlight != 16 || c.ActionHandlerTimeout.D() != 3*time.Second ||
					u["linux"] != "https://ah:8082/v1/action" || u["aix"] == "" || opsgenieBlock(c.Tickets.Systems) == nil || opsgenieBlock(c.Tickets.Systems).APIURL != "127.0.0.1:9999" {
					return "values not read"
				}
				return ""
			},
		},
		{
			name:     "unknown key",
			yaml:     minimal + "rule_dir: /tmp\n",
			wantErrs: []string{"rule_dir"},
		},
		{
			name: "every problem at once",
			yaml: "listen: nowhere\nbody_limit: -1\nmax_in_flight: 0\nlog: {format: xml}\nrules_dir: /does/not/exist\n" +
				"action_handlers: {linux: 'ftp://x/', Linux: 'http://x/', win: 'http:///path'}\n" +
				"action_handler_timeout: 0s\naction_handler_ca_file: /no/ca.pem\n" +
				"opsgenie: {api_url: 'https://api.opsgenie.com'}\n",
			wantErrs: []string{
				"listen: want host:port",
				"tokens_file: required",
				"body_limit: must be a positive",
				"max_in_flight: must be 1..100000",
				"log.format: must be logfmt or json",
				"rules_dir: stat /does/not/exist",
				"action_handlers.linux: URL must be http:// or https://",
				"action_handlers.linux: same os_type as \"Linux\"",
				"action_handlers.win: URL has no host",
				"action_handler_token_file: required",
				"action_handler_timeout: must be positive",
				"action_handler_ca_file: open /no/ca.pem",
				"default_investigation_queue: required",
				"opsgenie.api_key_file: required",
			},
		},
		{
			name: "autoremediation queue disabled",
			yaml: minimal + "autoremediation_queue: ''\n",
			want: func(c *Config) string {
				if c.AutoremediationQueue != "" {
					return "autoremediation_queue not emptied"
				}
				return ""
			},
		},
		{
			name: "rules_watch poll",
			yaml: minimal + "rules_watch: poll\n",
			want: func(c *Config) string {
				if c.RulesWatch != "poll" {
					return "rules_watch not read"
				}
				return ""
			},
		},
		{
			name: "signing key file",
			yaml: minimal + "signing_key_file: " + ahToken + "\n",
			want: func(c *Config) string {
				if c.SigningKeyFile != ahToken {
					return "signing_key_file not read"
				}
				return ""
			},
		},
		{
			name:     "signing key file missing",
			yaml:     minimal + "signing_key_file: /no/key\n",
			wantErrs: []string{"signing_key_file: open /no/key"},
		},
		{
			name:     "rules_watch unknown",
			yaml:     minimal + "rules_watch: fsnotify\n",
			wantErrs: []string{`rules_watch: want inotify or poll, got "fsnotify"`},
		},
		{
			name:     "autoremediation queue with spaces",
			yaml:     minimal + "autoremediation_queue: ' q '\n",
			wantErrs: []string{"autoremediation_queue: leading or trailing space"},
		},
		{
			name:     "no action handlers",
			yaml:     strings.Replace(minimal, "action_handlers: {linux: 'http://127.0.0.1:8082/v1/action'}", "action_handlers: {}", 1),
			wantErrs: []string{"action_handlers: required"},
		},
		{
			name:     "rules_dir is a file",
			yaml:     strings.Replace(minimal, "rules_dir: "+dir, "rules_dir: "+tokens, 1),
			wantErrs: []string{"rules_dir: " + tokens + " is not a directory"},
		},
		{
			name: "earlier opsgenie block becomes tickets.opsgenie",
			yaml: minimal + "opsgenie: {api_url: 127.0.0.1:9999, api_key_file: " + tokens + "}\n",
			want: func(c *Config) string {
				if c.OpsGenie != nil || opsgenieBlock(c.Tickets.Systems) == nil || opsgenieBlock(c.Tickets.Systems).APIURL != "127.0.0.1:9999" {
					return "opsgenie not moved to tickets.opsgenie"
				}
				return ""
			},
		},
		{
			name: "tickets, intake and tls",
			yaml: minimal + "tickets:\n  opsgenie: {api_key_file: " + tokens + "}\n  webhooks: [{name: chat, url: 'http://127.0.0.1:1/hook', feed_types: ['*']}]\n" +
				"alertmanager: {feed_name: prometheus}\n" +
				"webhooks:\n  - {name: grafana, feed_type: Grafana, id_path: fingerprint, items_path: alerts}\n  - {name: custom-1, feed_type: Custom, id_path: event.id}\n",
			want: func(c *Config) string {
				g, ok := c.Webhook("grafana")
				if !ok || g.FeedType != "Grafana" || g.IDPath != "fingerprint" || g.ItemsPath != "alerts" {
					return "webhooks not read"
				}
				if _, ok := c.Webhook("nope"); ok {
					return "unknown webhook found"
				}
				if opsgenieBlock(c.Tickets.Systems) == nil || len(c.Tickets.Webhooks) != 1 || c.Alertmanager.FeedName != "prometheus" || c.TLS.Enabled() {
					return "tickets or alertmanager not read"
				}
				return ""
			},
		},
		{
			name:     "opsgenie twice",
			yaml:     minimal + "opsgenie: {api_key_file: " + tokens + "}\ntickets: {opsgenie: {api_key_file: " + tokens + "}}\n",
			wantErrs: []string{"opsgenie: set either opsgenie or tickets.opsgenie, not both"},
		},
		{
			name: "bad intake and tickets",
			yaml: minimal + "tickets: {dynatrace: {}}\ntls: {cert_file: /no/cert.pem}\nalertmanager: {feed_name: ' x'}\nwebhooks:\n" +
				"  - {name: '', feed_type: '', id_path: ''}\n  - {name: 'a/b', feed_type: 'a/b', id_path: x}\n" +
				"  - {name: g, feed_type: alertmanager, id_path: x}\n  - {name: g, feed_type: G, id_path: x}\n",
			wantErrs: []string{
				"tickets.dynatrace.",
				"tls.key_file: required with tls.cert_file",
				"alertmanager.feed_name: leading or trailing space",
				"webhooks[0].name: required", "webhooks[0].feed_type: required", "webhooks[0].id_path: required",
				`webhooks[1].name: "a/b"`, `webhooks[1].feed_type: "a/b"`,
				`webhooks[2].feed_type: "alertmanager" is the feed type of POST /v1/alertmanager`,
				`webhooks[3].name: "g" is already the name of webhooks[2]`,
			},
		},
		{
			name: "control characters in feed names",
			yaml: minimal + "alertmanager: {feed_name: \"am\\x1b[2J\"}\nwebhooks:\n  - {name: g, feed_type: \"Graf\\u2028ana\", id_path: x}\n" +
				"  - {name: h, feed_type: " + strings.Repeat("T", 129) + ", id_path: x}\n",
			wantErrs: []string{
				`alertmanager.feed_name: feed name "am\x1b[2J": control character U+001B`,
				`webhooks[0].feed_type: feed type "Graf\u2028ana": control character U+2028`,
				`webhooks[1].feed_type: feed type`, "longer than 128 bytes",
			},
		},
		{
			name: "no history block: nothing recorded",
			yaml: minimal,
			want: func(c *Config) string {
				if c.History.Enabled() || c.History.Buffer != DefaultHistoryBuffer || c.History.FlushInterval.D() != time.Second {
					return "history defaults"
				}
				return ""
			},
		},
		{
			name: "history block",
			yaml: minimal + "history: {url: 'http://ah:8082/v1/decisions', token_file: " + ahToken + ", buffer: 500, flush_interval: 250ms}\n",
			want: func(c *Config) string {
				h := c.History
				if !h.Enabled() || h.URL != "http://ah:8082/v1/decisions" || h.TokenFile != ahToken || h.Buffer != 500 ||
					h.FlushInterval.D() != 250*time.Millisecond || h.Timeout.D() != 10*time.Second {
					return "history not read"
				}
				return ""
			},
		},
		{
			name: "bad history block",
			yaml: minimal + "history: {url: 'http://ah:8082', buffer: 0, flush_interval: 1ms, timeout: 0s, ca_file: /no/ca.pem}\n",
			wantErrs: []string{
				`history.url: want the full URL of the action handler's /v1/decisions (e.g. http://actionhandler:8082/v1/decisions), got path ""`,
				"history.token_file: required",
				"history.ca_file: open /no/ca.pem",
				"history.buffer: must be 1..1000000 decisions",
				"history.flush_interval: must be 10ms..1m, got 1ms",
				"history.timeout: must be positive",
			},
		},
		{
			name:     "history token without url",
			yaml:     minimal + "history: {token_file: " + ahToken + "}\n",
			wantErrs: []string{"history.url: required when history.token_file is set"},
		},
		{
			name:     "history url with credentials",
			yaml:     minimal + "history: {url: 'https://u:p@ah/v1/decisions', token_file: " + ahToken + "}\n",
			wantErrs: []string{"history.url: URL must carry no credentials or query"},
		},
		{
			name:     "history unknown key",
			yaml:     minimal + "history: {url: 'http://ah/v1/decisions', token_file: " + ahToken + ", buffer_size: 3}\n",
			wantErrs: []string{"buffer_size"},
		},
		{
			name:     "credentials in a URL",
			yaml:     base + "action_handlers: {linux: 'http://u:p@127.0.0.1:8082/v1/action', aix: 'http://ah/v1/action?token=abc'}\n",
			wantErrs: []string{"action_handlers.linux: URL must not carry credentials", "action_handlers.aix: URL must not carry credentials"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(write(t, tc.yaml))
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatal("loaded; want errors")
				}
				for _, w := range tc.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.want(c); msg != "" {
				t.Errorf("%s: %+v", msg, c)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("loaded a missing file")
	}
}

// opsgenieBlock is the opsgenie block of s, nil when there is none.
func opsgenieBlock(s registry.Systems) *opsgenie.Config {
	c, _ := s[opsgenie.System].(*opsgenie.Config)
	return c
}
