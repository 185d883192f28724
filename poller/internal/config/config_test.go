package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dtfeed "github.com/alexis-ops/alexis/poller/internal/feed/dynatrace"
	"github.com/alexis-ops/alexis/poller/internal/feeds"
	"github.com/alexis-ops/alexis/shared/alert"
	sconfig "github.com/alexis-ops/alexis/shared/config"
)

// fixture creates the files a valid config names and returns a YAML
// prefix naming them.
func fixture(t *testing.T) (dir, head string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"tokens", "classifier_token", "og_key", "pg_dsn"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	head = "state_file: " + filepath.Join(dir, "state.json") + "\n" +
		"classifier:\n  url: http://127.0.0.1:8081/v1/classifier\n  token_file: " + filepath.Join(dir, "classifier_token") + "\n"
	return dir, head
}

func feedYAML(dir, extra string) string {
	return "feeds:\n  - name: incoming\n    type: opsgenie\n    query: 'status: open'\n" + extra +
		"    opsgenie: {api_url: '127.0.0.1:9000', api_key_file: " + filepath.Join(dir, "og_key") + "}\n"
}

func TestLoad(t *testing.T) {
	dir, head := fixture(t)
	tests := []struct {
		name     string
		yaml     string
		check    func(t *testing.T, c *Config)
		wantErrs []string
	}{
		{
			name: "minimal with defaults",
			yaml: head + feedYAML(dir, ""),
			check: func(t *testing.T, c *Config) {
				f := c.Feeds[0]
				if c.Listen != "" || c.LoopInterval.D() != DefaultLoopInterval || c.Classifier.Timeout.D() != 10*time.Second ||
					c.BodyLimit != 1<<20 || c.Log.Format != "logfmt" {
					t.Errorf("top-level defaults not applied: %+v", c)
				}
				if f.Lookback.D() != 24*time.Hour || f.UniqueKey != "tinyId" || f.Type != alert.FeedTypeOpsGenie || c.Interval(f) != DefaultLoopInterval {
					t.Errorf("feed defaults not applied: %+v", f)
				}
				if c.State.Postgres() || c.StateFile != filepath.Join(dir, "state.json") {
					t.Errorf("state is not the file by default: %+v %q", c.State, c.StateFile)
				}
			},
		},
		{
			name: "state in postgresql with defaults",
			yaml: "state:\n  postgres_dsn_file: " + filepath.Join(dir, "pg_dsn") + "\nstate_file: /nonexistent/dir/state.json\n" +
				"classifier:\n  url: http://127.0.0.1:8081/v1/classifier\n  token_file: " + filepath.Join(dir, "classifier_token") + "\n" + feedYAML(dir, ""),
			check: func(t *testing.T, c *Config) {
				if !c.State.Postgres() || c.State.Lease.D() != 3*time.Second || c.State.RenewInterval.D() != time.Second {
					t.Errorf("state: %+v", c.State)
				}
			},
		},
		{
			name:     "state problems",
			yaml:     head + "state: {postgres_dsn_file: " + filepath.Join(dir, "nope") + ", lease: 500ms, renew_interval: 0s}\n" + feedYAML(dir, ""),
			wantErrs: []string{"state.postgres_dsn_file: open ", "state.lease: must be at least 1s", "state.renew_interval: must be positive"},
		},
		{
			name:     "renew interval over half the lease",
			yaml:     head + "state: {postgres_dsn_file: " + filepath.Join(dir, "pg_dsn") + ", lease: 4s, renew_interval: 3s}\n" + feedYAML(dir, ""),
			wantErrs: []string{"state.renew_interval: must be at most half of state.lease (4s)"},
		},
		{
			name:     "unknown state key",
			yaml:     head + "state: {dsn: x}\n" + feedYAML(dir, ""),
			wantErrs: []string{"field dsn not found"},
		},
		{
			name: "everything set",
			yaml: "listen: 127.0.0.1:0\ntokens_file: " + filepath.Join(dir, "tokens") + "\nloop_interval: 5s\nlog: {format: json, level: debug}\n" +
				head + feedYAML(dir, "    lookback: 2h\n    unique_key: alias\n    loop_interval: 1s\n"),
			check: func(t *testing.T, c *Config) {
				f := c.Feeds[0]
				if f.Lookback.D() != 2*time.Hour || f.UniqueKey != "alias" || c.Interval(f) != time.Second || c.LoopInterval.D() != 5*time.Second {
					t.Errorf("values not taken: %+v", f)
				}
			},
		},
		{
			name: "type is case-insensitive",
			yaml: head + strings.Replace(feedYAML(dir, ""), "type: opsgenie", "type: OpsGenie", 1),
			check: func(t *testing.T, c *Config) {
				if c.Feeds[0].Type != alert.FeedTypeOpsGenie {
					t.Errorf("type %q", c.Feeds[0].Type)
				}
			},
		},
		{
			name:     "unknown key",
			yaml:     head + feedYAML(dir, "    colour: red\n"),
			wantErrs: []string{"field colour not found"},
		},
		{
			name:     "no feeds",
			yaml:     head,
			wantErrs: []string{"feeds: required"},
		},
		{
			name: "every feed problem at once",
			yaml: head + "feeds:\n" +
				"  - {name: a, type: opsgenie, opsgenie: {api_key_file: " + filepath.Join(dir, "og_key") + "}}\n" +
				"  - {name: a, type: opsgenie, query: x, lookback: -1h, loop_interval: -1s, opsgenie: {api_url: 'https://api.opsgenie.com/v2', retries: 20}}\n" +
				"  - {name: 'bad name', type: jira, query: x, opsgenie: {api_key_file: /k}}\n" +
				"  - {query: x, type: opsgenie}\n" +
				"  - {name: e, query: x}\n",
			wantErrs: []string{
				"feeds[0].query: required",
				`feeds[1].name: "a" is already the name of feeds[0]`,
				"feeds[1].lookback: must not be negative",
				"feeds[1].loop_interval: must not be negative",
				"feeds[1].opsgenie.api_key_file: required",
				"feeds[1].opsgenie.api_url: want scheme://host[:port] without path",
				"feeds[1].opsgenie.retries: must be 0..10",
				"feeds[2].name: use letters",
				`feeds[2].type: unknown feed type "jira"`,
				"feeds[2].opsgenie: only for type opsgenie",
				"feeds[3].name: required",
				"feeds[3].opsgenie: required for type opsgenie",
				"feeds[4].type: required",
			},
		},
		{
			name: "top-level problems",
			yaml: "listen: nope\nloop_interval: 0s\nbody_limit: 0\nlog: {format: xml}\nstate_file: /nonexistent/dir/state.json\n" +
				"classifier: {url: 'ftp://x', timeout: 0s, ca_file: /nonexistent.pem}\n" + feedYAML(dir, ""),
			wantErrs: []string{
				`listen: want host:port, got "nope"`,
				"tokens_file: required",
				"body_limit: must be a positive",
				"loop_interval: must be positive",
				"state_file: directory:",
				"classifier.url: URL must be http:// or https://",
				"classifier.token_file: required",
				"classifier.timeout: must be positive",
				"classifier.ca_file:",
				"log.format: must be logfmt or json",
			},
		},
		{
			name:     "classifier url with credentials",
			yaml:     strings.Replace(head, "http://127.0.0.1", "http://u:p@127.0.0.1", 1) + feedYAML(dir, ""),
			wantErrs: []string{"classifier.url: URL must not carry credentials"},
		},
		{
			name:     "missing classifier url",
			yaml:     strings.Replace(head, "  url: http://127.0.0.1:8081/v1/classifier\n", "", 1) + feedYAML(dir, ""),
			wantErrs: []string{"classifier.url: required"},
		},
		{
			name: "dynatrace feed with defaults",
			yaml: head + "feeds:\n  - name: problems\n    type: Dynatrace\n" +
				"    dynatrace: {api_url: 'https://abc.live.dynatrace.com', api_token_file: " + filepath.Join(dir, "og_key") + "}\n",
			check: func(t *testing.T, c *Config) {
				f := c.Feeds[0]
				d, ok := f.Block.(*dtfeed.Config)
				if !ok {
					t.Fatalf("block %T, want the dynatrace feed's", f.Block)
				}
				if f.Type != alert.FeedTypeDynatrace || f.UniqueKey != "problemId" || d.ProblemSelector != `status("open")` ||
					d.PageSize != 100 || d.APIURL != "https://abc.live.dynatrace.com" || c.MaxBackoff.D() != DefaultMaxBackoff {
					t.Errorf("dynatrace defaults: %+v %+v", f, d)
				}
			},
		},
		{
			name: "dynatrace feed problems",
			yaml: head + "max_backoff: 0s\nfeeds:\n  - name: problems\n    type: dynatrace\n    query: 'status: open'\n" +
				"    dynatrace: {api_url: 'abc.live.dynatrace.com', page_size: 501, problem_selector: x, colour: red}\n" +
				"  - name: p2\n    type: dynatrace\n  - name: p3\n    type: opsgenie\n    query: x\n    opsgenie: {api_key_file: /k}\n" +
				"    dynatrace: {api_url: 'https://x'}\n",
			wantErrs: []string{"field colour not found"},
		},
		{
			name: "dynatrace feed values",
			yaml: head + "max_backoff: 0s\nfeeds:\n  - name: problems\n    type: dynatrace\n    query: 'status: open'\n" +
				"    dynatrace: {api_url: 'abc.live.dynatrace.com', page_size: 501}\n" +
				"  - name: p2\n    type: dynatrace\n  - name: p3\n    type: opsgenie\n    query: x\n    opsgenie: {api_key_file: /k}\n" +
				"    dynatrace: {api_url: 'https://x'}\n",
			wantErrs: []string{
				"max_backoff: must be positive",
				"feeds[0].query: not for type dynatrace: use dynatrace.problem_selector",
				"feeds[0].dynatrace.api_url: URL must be http:// or https://",
				"feeds[0].dynatrace.api_token_file: required",
				"feeds[0].dynatrace.page_size: must be 1..500",
				"feeds[1].dynatrace: required for type dynatrace",
				"feeds[2].dynatrace: only for type dynatrace",
			},
		},
		{
			name:     "bad duration",
			yaml:     "loop_interval: soon\n" + head + feedYAML(dir, ""),
			wantErrs: []string{`bad duration "soon"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "poller.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p, feeds.Types())
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want errors %q", tc.wantErrs)
			}
			for _, w := range tc.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), feeds.Types())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err %v, want not-exist", err)
	}
}

// FuzzConfig checks decoding arbitrary YAML never panics.
func FuzzConfig(f *testing.F) {
	f.Add("feeds: [{name: a, type: opsgenie, query: x, opsgenie: {api_key_file: /k}}]\n")
	f.Add("loop_interval: 1s\nclassifier: {url: 'http://x'}\n")
	f.Add("feeds: [{}, {type: OPSGENIE}]")
	f.Add("feeds: [{name: a, type: dynatrace, dynatrace: &d {api_url: 'https://x', page_size: 7}}, {name: b, type: dynatrace, dynatrace: *d, x: [1]}]\n")
	f.Add("feeds: [{name: a, type: opsgenie, opsgenie: [1, 2], dynatrace: !!binary aGk=}]\n")
	f.Fuzz(func(t *testing.T, data string) {
		c := Default(feeds.Types())
		_ = sconfig.Decode([]byte(data), "fuzz", c)
	})
}

// TestFeedBlockAliases checks a feed's block may be a YAML alias (one
// account shared by two feeds), and hold aliases and merge keys.
func TestFeedBlockAliases(t *testing.T) {
	dir, head := fixture(t)
	key := filepath.Join(dir, "og_key")
	yaml := head + "feeds:\n" +
		"  - {name: a, type: opsgenie, query: x, opsgenie: &og {api_url: '127.0.0.1:9000', api_key_file: " + key + "}}\n" +
		"  - {name: b, type: opsgenie, query: y, opsgenie: *og}\n" +
		"  - {name: c, type: opsgenie, query: z, opsgenie: {<<: *og, retries: 5}}\n"
	p := filepath.Join(t.TempDir(), "poller.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, feeds.Types())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for i, f := range c.Feeds {
		if len(f.Block.SecretFiles("")) != 1 || f.Block.SecretFiles("")[0].Path != key {
			t.Errorf("feeds[%d] block %+v", i, f.Block)
		}
	}
}
