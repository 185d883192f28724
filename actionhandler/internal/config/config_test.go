package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
)

func files(t *testing.T) (dir, tokens, key, known string) {
	t.Helper()
	dir = t.TempDir()
	for _, n := range []string{"tokens", "key", "known_hosts"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "tokens"), filepath.Join(dir, "key"), filepath.Join(dir, "known_hosts")
}

func load(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "actionhandler.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func TestDefaults(t *testing.T) {
	_, tokens, key, known := files(t)
	c, err := load(t, "tokens_file: "+tokens+"\ninvestigation_queue: q\nssh: {user: alexis, key_file: "+key+", known_hosts_file: "+known+"}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8082" || c.MaxConcurrentExecutions != 16 || c.MaxQueuedExecutions != 256 ||
		c.ShutdownGrace.D() != 30*time.Second || c.BodyLimit != 1<<20 || c.Development {
		t.Errorf("defaults: %+v", c)
	}
	s := c.SSH
	if s.Port != 22 || s.ConnectTimeout.D() != 10*time.Second || s.CommandTimeout.D() != 5*time.Minute ||
		s.Concurrency != 32 || s.OutputLimit != 65536 || s.InsecureIgnoreHostKey {
		t.Errorf("ssh defaults: %+v", s)
	}
	if c.OpsGenie != nil || !c.Tickets.Empty() {
		t.Errorf("opsgenie set without a block")
	}
}

func TestFull(t *testing.T) {
	_, tokens, key, known := files(t)
	c, err := load(t, `listen: 0.0.0.0:9000
tokens_file: `+tokens+`
body_limit: 2048
log: {format: json, level: debug}
development: false
investigation_queue: queue_needsinvestigation
max_concurrent_executions: 4
max_queued_executions: 10
shutdown_grace: 1m
ssh:
  user: alexis
  key_file: `+key+`
  known_hosts_file: `+known+`
  port: 2222
  connect_timeout: 3s
  command_timeout: 1m
  concurrency: 8
  output_limit: 1024
opsgenie:
  api_url: api.eu.opsgenie.com
  api_key_file: `+key+`
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.SSH.Port != 2222 || c.SSH.ConnectTimeout.D() != 3*time.Second ||
		c.OpsGenie != nil || opsgenieBlock(c.Tickets.Systems) == nil || opsgenieBlock(c.Tickets.Systems).APIURL != "api.eu.opsgenie.com" || c.Log.Format != "json" {
		t.Errorf("%+v", c)
	}
}

func TestInvalid(t *testing.T) {
	dir, tokens, key, known := files(t)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{name: "everything missing", yaml: "{}\n",
			want: []string{"tokens_file: required", "investigation_queue: required", "ssh.user: required",
				"ssh.key_file: required", "ssh.known_hosts_file: required"}},
		{name: "unreadable files",
			yaml: "tokens_file: " + missing + "\ninvestigation_queue: q\nssh: {user: u, key_file: " + missing + ", known_hosts_file: " + dir + "}\n",
			want: []string{"tokens_file: open", "ssh.key_file: open", "ssh.known_hosts_file: " + dir + " is a directory"}},
		{name: "provenance files",
			yaml: "tokens_file: " + tokens + "\ninvestigation_queue: q\nsigning_key_file: " + missing + "\nrules_dir: " + tokens +
				"\nssh: {user: u, key_file: " + key + ", known_hosts_file: " + known + "}\n",
			want: []string{"signing_key_file: open", "rules_dir: " + tokens + " is not a directory"}},
		{name: "bad numbers",
			yaml: "tokens_file: " + tokens + "\ninvestigation_queue: q\nlisten: nope\nbody_limit: 0\nmax_concurrent_executions: 0\n" +
				"max_queued_executions: -1\nssh: {user: u, key_file: " + key + ", known_hosts_file: " + known +
				", port: 0, concurrency: 0, output_limit: 0, connect_timeout: 0s, command_timeout: 0s}\n",
			want: []string{"listen: want host:port", "body_limit:", "max_concurrent_executions:", "max_queued_executions:",
				"ssh.port:", "ssh.concurrency:", "ssh.output_limit:", "ssh.connect_timeout:", "ssh.command_timeout:"}},
		{name: "insecure and known_hosts",
			yaml: "tokens_file: " + tokens + "\ninvestigation_queue: q\nssh: {user: u, key_file: " + key +
				", known_hosts_file: " + known + ", insecure_ignore_host_key: true}\n",
			want: []string{"ssh.known_hosts_file: set together with ssh.insecure_ignore_host_key"}},
		{name: "unknown key", yaml: "tokens_file: " + tokens + "\nssh: {usr: u}\n", want: []string{"field usr not found"}},
		{name: "bad duration", yaml: "ssh: {command_timeout: forever}\n", want: []string{"bad duration"}},
		{name: "bad log and opsgenie",
			yaml: "tokens_file: " + tokens + "\ninvestigation_queue: q\nlog: {format: xml}\nssh: {user: u, key_file: " + key +
				", known_hosts_file: " + known + "}\nopsgenie: {retries: 99}\n",
			want: []string{"log.format:", "opsgenie.api_key_file: required", "opsgenie.retries:"}},
		{name: "opsgenie twice",
			yaml: "tokens_file: " + tokens + "\ninvestigation_queue: q\nssh: {user: u, key_file: " + key +
				", known_hosts_file: " + known + "}\nopsgenie: {api_key_file: " + key + "}\ntickets: {opsgenie: {api_key_file: " + key + "}}\n",
			want: []string{"opsgenie: set either opsgenie or tickets.opsgenie"}},
		{name: "bad tickets and tls",
			yaml: "tokens_file: " + tokens + "\ninvestigation_queue: q\nssh: {user: u, key_file: " + key +
				", known_hosts_file: " + known + "}\ntickets: {opsgenie: {retries: 99}}\ntls: {cert_file: " + missing + "}\n",
			want: []string{"tickets.opsgenie.api_key_file: required", "tls."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTickets(t *testing.T) {
	_, tokens, key, known := files(t)
	c, err := load(t, "tokens_file: "+tokens+"\ninvestigation_queue: q\nssh: {user: u, key_file: "+key+", known_hosts_file: "+known+
		"}\ntickets:\n  opsgenie: {api_url: api.eu.opsgenie.com, api_key_file: "+key+"}\n  feeds:\n    eu: {opsgenie: {api_key_file: "+key+"}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if opsgenieBlock(c.Tickets.Systems) == nil || opsgenieBlock(c.Tickets.Systems).APIURL != "api.eu.opsgenie.com" || opsgenieBlock(c.Tickets.Feeds["eu"]) == nil {
		t.Errorf("tickets: %+v", c.Tickets)
	}
}

func TestDevelopmentNeedsNoSSHFiles(t *testing.T) {
	_, tokens, _, _ := files(t)
	if _, err := load(t, "tokens_file: "+tokens+"\ninvestigation_queue: q\ndevelopment: true\n"); err != nil {
		t.Fatal(err)
	}
}

func TestInsecureNeedsNoKnownHosts(t *testing.T) {
	_, tokens, key, _ := files(t)
	if _, err := load(t, "tokens_file: "+tokens+"\ninvestigation_queue: q\nssh: {user: u, key_file: "+key+", insecure_ignore_host_key: true}\n"); err != nil {
		t.Fatal(err)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8082\nssh: {user: u, port: 22}\n"))
	f.Add([]byte("ssh: {command_timeout: 5m}\nopsgenie: {api_url: x}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		_ = sconfig.Decode(data, "fuzz", c) // must not panic
	})
}

func TestExecutionKeys(t *testing.T) {
	dir, tokens, key, known := files(t)
	base := "tokens_file: " + tokens + "\ninvestigation_queue: q\nssh: {user: u, key_file: " + key + ", known_hosts_file: " + known + "}\n"
	c, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if c.DedupWindow.D() != 24*time.Hour || c.ExecutionTimeout.D() != time.Hour || c.Store.SQLitePath != DefaultSQLitePath ||
		c.Store.Lease.D() != 30*time.Second || c.Store.PollInterval.D() != time.Second || c.Store.Retention.D() != 90*24*time.Hour ||
		c.Governor.DefaultWindow.D() != time.Hour || c.Governor.MaxHostsPerMinute != 0 || c.Governor.Defaults != nil ||
		c.SSH.IdleTimeout.D() != 30*time.Second || c.Local.Timeout.D() != 5*time.Minute || c.Plugins.Timeout.D() != 5*time.Minute ||
		c.HTTP.Timeout.D() != 30*time.Second || len(c.Local.Allowed) != 0 || c.Plugins.Dir != "" {
		t.Errorf("defaults: %+v", c)
	}
	full := base + `dedup_window: 1h
execution_timeout: 0s
replica_id: ah-1
store: {postgres_dsn_file: ` + key + `, lease: 10s, poll_interval: 500ms, retention: 0s}
governor:
  max_hosts_per_minute: 50
  default_window: 2h
  pause_after: 5
  defaults: {max_executions_per_entity: 3, cooldown: 10m}
local: {allowed: [ansible-playbook, /usr/bin/kubectl], path: /usr/bin, dir: ` + dir + `, timeout: 10m}
plugins: {dir: ` + dir + `, timeout: 1m}
http: {allowed_hosts: [lb.example.com, "lb2.example.com:8443", 127.0.0.1, "127.0.0.1:9000", "::1", "[::1]", "[fd00:ec2::254]:80"], timeout: 5s}
secrets: {lb: ` + key + `}
`
	full = strings.Replace(full, "ssh: {user: u,", "ssh: {idle_timeout: 0s, hosts: {db01: {user: postgres, port: 2222}}, user: u,", 1)
	c, err = load(t, full)
	if err != nil {
		t.Fatal(err)
	}
	g := c.Governor.Defaults.Rule()
	if c.ReplicaID != "ah-1" || c.Store.PostgresDSNFile != key || g.MaxExecutionsPerEntity != 3 || g.Cooldown != "10m" ||
		c.SSH.Hosts["db01"].Port != 2222 || c.SSH.IdleTimeout != 0 || c.Local.Allowed[1] != "/usr/bin/kubectl" ||
		c.Secrets["lb"] != key || c.HTTP.AllowedHosts[0] != "lb.example.com" || c.Governor.PauseAfter != 5 {
		t.Errorf("full: %+v", c)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"dedup_window: 0s\n", "dedup_window: must be positive"},
		{"execution_timeout: -1s\n", "execution_timeout:"},
		{"writeback_retry: {attempts: 0}\n", "writeback_retry.attempts: must be 1..100"},
		{"writeback_retry: {delay: 0s}\n", "writeback_retry.delay: must be positive"},
		{"store: {sqlite_path: ''}\n", "store.sqlite_path: required"},
		{"store: {postgres_dsn_file: " + dir + "/none}\n", "store.postgres_dsn_file:"},
		{"store: {lease: 100ms}\n", "store.lease:"},
		{"governor: {max_hosts_per_minute: -1, default_window: 0s}\n", "governor.default_window:"},
		{"governor: {defaults: {max_executions: -1, window: soon}}\n", "governor.defaults.window:"},
		{"governor: {pause_after: -1}\n", "governor.pause_after: must not be negative"},
		{"local: {allowed: [bin/x]}\n", "local.allowed[0]:"},
		{"local: {dir: " + dir + "/none}\n", "local.dir:"},
		{"plugins: {dir: " + key + "}\n", "plugins.dir:"},
		{"secrets: {x: " + dir + "/none}\n", "secrets.x:"},
		{"http: {timeout: 0s}\n", "http.timeout:"},
		{"http: {allowed_hosts: ['http://lb.example.com']}\n", "http.allowed_hosts[0]:"},
		{"http: {allowed_hosts: [lb.example.com, 'lb/x']}\n", "http.allowed_hosts[1]:"},
		{"http: {allowed_hosts: ['lb.example.com:0']}\n", "http.allowed_hosts[0]:"},
		{"http: {allowed_hosts: ['::1]']}\n", "http.allowed_hosts[0]:"},
		{"http: {allowed_hosts: ['']}\n", "http.allowed_hosts[0]:"},
		{"http: {allowed_hosts: ['fe80::1%eth0']}\n", "http.allowed_hosts[0]:"},
	} {
		if _, err := load(t, base+tc.yaml); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// opsgenieBlock is the opsgenie block of s, nil when there is none.
func opsgenieBlock(s registry.Systems) *opsgenie.Config {
	c, _ := s[opsgenie.System].(*opsgenie.Config)
	return c
}
