package feeds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/config"
	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/poller/internal/feeds"
	"github.com/alexis-ops/alexis/poller/internal/poller"
	"github.com/alexis-ops/alexis/poller/internal/state"
	"github.com/alexis-ops/alexis/shared/alert"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/rs/zerolog"
)

// The toy feed is a feed type built only in this test, added through the
// public seam alone (feed.Define and one entry in the types given to
// config.Load, as package feeds' Types does for the real ones). Its
// source is the list of alerts in its own block.

const toyFeedType = "Toy"

type toyAlert struct {
	Serial string `yaml:"serial"`
	Text   string `yaml:"text"`
}

type toyConfig struct {
	TokenFile string     `yaml:"token_file"` // a secret, to prove SecretFiles is asked
	Prefix    string     `yaml:"prefix"`     // default "toy-", set before decoding
	Alerts    []toyAlert `yaml:"alerts"`
}

func toyType() feed.Type {
	return feed.Define(feed.Spec[*toyConfig]{Name: toyFeedType, Key: "toy", UniqueKey: "serial",
		Zero: func() *toyConfig { return &toyConfig{Prefix: "toy-"} }})
}

func (c *toyConfig) Validate(key string, _ feed.Settings) error {
	var p sconfig.Problems
	p.File(key+"toy.token_file", c.TokenFile)
	if len(c.Alerts) == 0 {
		p.Addf(key+"toy.alerts", "required")
	}
	for i, a := range c.Alerts {
		if a.Serial == "" {
			p.Addf(fmt.Sprintf("%stoy.alerts[%d].serial", key, i), "required")
		}
	}
	return p.Err()
}

func (c *toyConfig) SecretFiles(key string) []secretfile.File {
	return []secretfile.File{{Field: key + "toy.token_file", Path: c.TokenFile}}
}

func (c *toyConfig) New(s feed.Settings, _ zerolog.Logger) (feed.Feed, error) {
	return &toyFeed{s: s, c: *c}, nil
}

type toyFeed struct {
	s feed.Settings
	c toyConfig
}

func (f *toyFeed) Name() string { return f.s.Name }
func (f *toyFeed) Type() string { return toyFeedType }

func (f *toyFeed) List(context.Context) ([]string, error) {
	ids := make([]string, len(f.c.Alerts))
	for i, a := range f.c.Alerts {
		ids[i] = f.c.Prefix + a.Serial
	}
	return ids, nil
}

func (f *toyFeed) Fetch(_ context.Context, id string) (*alert.Envelope, error) {
	for _, a := range f.c.Alerts {
		if f.c.Prefix+a.Serial == id {
			rec, _ := json.Marshal(map[string]string{"id": id, "serial": a.Serial, "text": a.Text})
			return feed.Envelope(rec, id, f.s.UniqueKey, toyFeedType, f.s.Name)
		}
	}
	return nil, feed.ErrGone
}

// writeConfig writes a poller configuration with feedsYAML as its feeds,
// delivering to url.
func writeConfig(t *testing.T, url, feedsYAML string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"classifier_token", "toy_token"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := "state_file: " + filepath.Join(dir, "state.json") + "\n" +
		"classifier: {url: '" + url + "', token_file: " + filepath.Join(dir, "classifier_token") + "}\n" +
		strings.ReplaceAll(feedsYAML, "DIR", dir)
	path = filepath.Join(dir, "poller.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

const toyFeeds = `feeds:
  - name: playroom
    type: TOY
    toy:
      token_file: DIR/toy_token
      alerts:
        - {serial: "7", text: teddy lost an ear}
`

func TestToyFeedThroughRegistry(t *testing.T) {
	var mu sync.Mutex
	var got []*alert.Envelope
	cl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := alert.Decode(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, env)
		mu.Unlock()
		fmt.Fprintf(w, `{"result": "unmatched", "unique_value": %q}`, env.Meta.UniqueValue)
	}))
	defer cl.Close()
	dir, path := writeConfig(t, cl.URL+"/v1/classifier", toyFeeds)

	cfg, err := config.Load(path, append(feeds.Types(), toyType()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	fc := cfg.Feeds[0]
	if fc.Type != toyFeedType || fc.UniqueKey != "serial" {
		t.Errorf("type %q unique_key %q: want the toy type's spelling and default", fc.Type, fc.UniqueKey)
	}
	if files := fc.Block.SecretFiles("feeds[0]."); len(files) != 1 || files[0].Field != "feeds[0].toy.token_file" {
		t.Errorf("secret files %+v", files)
	}

	f, err := fc.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client, err := httpclient.New(httpclient.Options{Token: sconfig.NewSecret("t"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := poller.New(poller.Options{
		Sources:    []poller.Source{{Feed: f, Interval: cfg.Interval(fc)}},
		Classifier: &poller.HTTPClassifier{URL: cfg.Classifier.URL, Client: client},
		State:      poller.FileState(st),
		Log:        zerolog.Nop(),
	})
	if err := p.Once(context.Background()); err != nil {
		t.Fatalf("Once: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("classifier got %d envelopes, want 1", len(got))
	}
	want := alert.Meta{UniqueKey: "serial", UniqueValue: "7", FeedType: toyFeedType, FeedName: "playroom"}
	if got[0].Meta != want || got[0].Get("text").String() != "teddy lost an ear" {
		t.Errorf("envelope %s, want meta %+v", got[0].Raw, want)
	}
}

func TestToyFeedConfig(t *testing.T) {
	tests := []struct {
		name     string
		types    feed.Types
		feeds    string
		wantErrs []string
	}{
		{
			name:  "not registered",
			types: feeds.Types(),
			feeds: toyFeeds,
			wantErrs: []string{
				`feeds[0].type: unknown feed type "TOY" (one of: opsgenie, dynatrace)`,
				"feeds[0].toy: field toy not found",
			},
		},
		{
			name:  "block decoded strictly and validated by its type",
			types: append(feeds.Types(), toyType()),
			feeds: "feeds:\n  - {name: a, type: toy, toy: {colour: red, alerts: [{text: x}]}}\n" +
				"  - {name: b, type: toy, opsgenie: {}}\n",
			wantErrs: []string{
				"feeds[0].toy: field colour not found",
				"feeds[0].toy.token_file: required",
				"feeds[0].toy.alerts[0].serial: required",
				"feeds[1].toy: required for type toy",
				"feeds[1].opsgenie: only for type opsgenie",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, path := writeConfig(t, "http://127.0.0.1:1/v1/classifier", tc.feeds)
			_, err := config.Load(path, tc.types)
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.wantErrs)
			}
			for _, w := range tc.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTypesAreDefined(t *testing.T) {
	names, keys := map[string]bool{}, map[string]bool{}
	for _, common := range []string{"name", "type", "query", "lookback", "unique_key", "loop_interval"} {
		keys[common] = true // a block key the entry's own keys would shadow
	}
	for _, ty := range feeds.Types() {
		if name := strings.ToLower(ty.Name); names[name] {
			t.Errorf("feed type %s registered twice", ty.Name)
		} else {
			names[name] = true
		}
		if keys[ty.Key] {
			t.Errorf("%s: block key %q is taken", ty.Name, ty.Key)
		}
		keys[ty.Key] = true
		if _, err := ty.Decode("feeds[0].", feed.Settings{}, nil); err != nil && strings.Contains(err.Error(), "feed.Define") {
			t.Errorf("%s: %v", ty.Name, err)
		}
		if got, ok := feeds.Types().Lookup(strings.ToLower(ty.Name)); !ok || got.Name != ty.Name {
			t.Errorf("Lookup(%q) = %q, %v", strings.ToLower(ty.Name), got.Name, ok)
		}
	}
	var zero feed.Type
	if _, err := zero.Decode("feeds[0].", feed.Settings{}, nil); err == nil {
		t.Error("a Type not built with feed.Define decodes")
	}
}
