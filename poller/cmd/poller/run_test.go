package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/httpapi"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

const (
	userToken = "oncall-token-0123456789abcdef"
	outToken  = "poller-to-classifier-fedcba9876543210"
)

// classifier records the envelopes it is sent and answers "matched".
type classifier struct {
	*httptest.Server
	mu   sync.Mutex
	envs []*alert.Envelope
	auth []string
}

func newClassifier(t *testing.T) *classifier {
	c := &classifier{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := alert.Decode(body)
		c.mu.Lock()
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		if err == nil {
			c.envs = append(c.envs, env)
		}
		c.mu.Unlock()
		if err != nil {
			http.Error(w, `{"error":"bad envelope"}`, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(api.Classification{Result: api.ResultMatched, UniqueValue: env.Meta.UniqueValue})
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *classifier) received() []*alert.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*alert.Envelope(nil), c.envs...)
}

// setup writes a poller configuration in a temp dir and returns its path.
func setup(t *testing.T, og *opsgenietest.Server, cl *classifier, genieKey, extra string) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens", "oncall:"+userToken+" scopes=read,metrics\n")
	out := write("classifier_token", outToken+"\n")
	key := write("opsgenie_key", genieKey+"\n")
	cfg := "listen: 127.0.0.1:0\n" +
		"tokens_file: " + tokens + "\n" +
		"loop_interval: 50ms\n" +
		"state_file: " + filepath.Join(dir, "state.json") + "\n" +
		"classifier:\n  url: " + cl.URL + "/v1/classifier\n  token_file: " + out + "\n  timeout: 5s\n" +
		"feeds:\n" +
		"  - name: incoming\n    type: opsgenie\n    query: 'status:open AND teams:incoming'\n    lookback: 1h\n" +
		"    opsgenie: {api_url: '" + og.Host() + "', api_key_file: " + key + ", timeout: 5s, retries: 1}\n" + extra
	return write("poller.yaml", cfg), dir
}

var listenRE = regexp.MustCompile(`event=service_started.* listen=(\S+)`)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second) // a hang guard, not a speed check
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url, tok string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestRunServesAndDelivers(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newClassifier(t)
	a := og.CreateAlert(opsgenietest.AlertSpec{
		Message: "duplicator: Long garbage-collection time", Teams: []string{"incoming"},
		Details: map[string]string{"host": "app01"}, CreatedAt: time.Now().Add(-time.Minute),
	})
	og.CreateAlert(opsgenietest.AlertSpec{Message: "too old", Teams: []string{"incoming"}, CreatedAt: time.Now().Add(-2 * time.Hour)})
	cfg, dir := setup(t, og, cl, og.APIKey(), "")

	logs := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg}, io.Discard, logs) }()

	var base string
	waitFor(t, "service_started", func() bool {
		m := listenRE.FindStringSubmatch(logs.String())
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	})
	if status, _ := get(t, base+"/v1/ping", ""); status != http.StatusOK {
		t.Errorf("ping: %d", status)
	}
	if status, _ := get(t, base+"/v1/feeds", ""); status != http.StatusUnauthorized {
		t.Errorf("feeds without token: %d, want 401", status)
	}
	waitFor(t, "the alert to reach the classifier", func() bool { return len(cl.received()) > 0 })
	var feeds httpapi.Feeds
	waitFor(t, "a second poll", func() bool {
		status, body := get(t, base+"/v1/feeds", userToken)
		if status != http.StatusOK {
			t.Fatalf("feeds: %d %s", status, body)
		}
		if err := json.Unmarshal(body, &feeds); err != nil {
			t.Fatal(err)
		}
		return len(feeds.Feeds) == 1 && feeds.Feeds[0].Polls >= 2
	})
	f := feeds.Feeds[0]
	if f.Name != "incoming" || f.Type != "OpsGenie" || f.AlertsSeen != 1 || f.AlertsDelivered != 1 || f.Remembered != 1 || f.LastError != "" {
		t.Errorf("feed status %+v", f)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}

	envs := cl.received()
	if len(envs) != 1 {
		t.Fatalf("classifier got %d envelopes, want 1 (delivered once, old alert outside lookback)", len(envs))
	}
	want := alert.Meta{UniqueKey: "tinyId", UniqueValue: a.TinyID, FeedType: "OpsGenie", FeedName: "incoming"}
	if envs[0].Meta != want || envs[0].ID() != a.ID || envs[0].Get("details.host").String() != "app01" {
		t.Errorf("envelope %s", envs[0].Raw)
	}
	for _, h := range cl.auth {
		if h != "Bearer "+outToken {
			t.Errorf("classifier saw Authorization %q", h)
		}
	}
	stateData, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil || !strings.Contains(string(stateData), a.ID) {
		t.Errorf("state file lacks the delivered alert: %v\n%s", err, stateData)
	}
	out := logs.String()
	for _, ev := range []string{"event=state_loaded", "event=service_started", "event=poll_started", "event=poll_finished",
		"event=alert_delivered", "feed_name=incoming", "result=matched", "event=service_stopped"} {
		if !strings.Contains(out, ev) {
			t.Errorf("logs lack %q", ev)
		}
	}
	for _, secret := range []string{og.APIKey(), userToken, outToken} {
		if strings.Contains(out, secret) {
			t.Errorf("logs reveal a secret")
		}
	}
	// The state file is the default: no database, no lease.
	if strings.Contains(out, "event=lease_") || strings.Contains(out, "event=state_opened") {
		t.Errorf("a poller with a state file took part in a lease:\n%s", out)
	}

	// A restart on the same state file delivers nothing again.
	logs2 := &logtest.Buffer{}
	if err := run(context.Background(), []string{"once", "-config", cfg}, io.Discard, logs2); err != nil {
		t.Fatalf("once after restart: %v\n%s", err, logs2)
	}
	if n := len(cl.received()); n != 1 {
		t.Errorf("restart delivered again: %d envelopes", n)
	}
}

func TestRunOnce(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newClassifier(t)
	og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}, CreatedAt: time.Now().Add(-time.Minute)})

	cfg, _ := setup(t, og, cl, og.APIKey(), "")
	logs := &logtest.Buffer{}
	if err := run(context.Background(), []string{"once", "-config", cfg}, io.Discard, logs); err != nil {
		t.Fatalf("once: %v\n%s", err, logs)
	}
	if len(cl.received()) != 1 {
		t.Errorf("classifier got %d envelopes", len(cl.received()))
	}
	if strings.Contains(logs.String(), "event=service_started") {
		t.Error("once started the HTTP service")
	}

	badCfg, _ := setup(t, og, cl, "wrong-genie-key", "")
	err := run(context.Background(), []string{"once", "-config", badCfg}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "feed incoming") || strings.Contains(err.Error(), "wrong-genie-key") {
		t.Errorf("once with a wrong key: %v", err)
	}
}

func TestRunRejects(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newClassifier(t)
	cfg, dir := setup(t, og, cl, og.APIKey(), "")
	corrupt, corruptDir := setup(t, og, cl, og.APIKey(), "")
	if err := os.WriteFile(filepath.Join(corruptDir, "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("loop_interval: 0s\nfeeds:\n  - {name: x, type: opsgenie}\n"), 0o600)

	cases := []struct {
		name    string
		args    []string
		want    string
		isUsage bool
	}{
		{name: "extra argument", args: []string{"-config", cfg, "now"}, want: "usage", isUsage: true},
		{name: "unknown flag", args: []string{"-colour"}, want: "flag provided but not defined"},
		{name: "missing config", args: []string{"-config", filepath.Join(dir, "nope.yaml")}, want: "read config"},
		{name: "invalid config", args: []string{"-config", invalid}, want: "feeds[0].query: required"},
		{name: "corrupt state", args: []string{"once", "-config", corrupt}, want: "is corrupt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want %q", tc.args, err, tc.want)
			}
			if errors.Is(err, errUsage) != tc.isUsage {
				t.Errorf("errors.Is(err, errUsage) = %v", !tc.isUsage)
			}
		})
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "poller ") {
		t.Errorf("version: %q, %v", out.String(), err)
	}
}

func TestRunSeveralFeedsAndDynatrace(t *testing.T) {
	us, eu := opsgenietest.NewT(t), opsgenietest.NewT(t)
	dt := dynatracetest.NewT(t)
	cl := newClassifier(t)
	a := us.CreateAlert(opsgenietest.AlertSpec{Message: "us", Teams: []string{"incoming"}, CreatedAt: time.Now().Add(-time.Minute)})
	b := eu.CreateAlert(opsgenietest.AlertSpec{Message: "eu", Tags: []string{"db"}, CreatedAt: time.Now().Add(-time.Minute)})
	eu.CreateAlert(opsgenietest.AlertSpec{Message: "eu, not db", CreatedAt: time.Now().Add(-time.Minute)})
	p := dt.CreateProblem(dynatracetest.ProblemSpec{
		Title: "db01: disk full", ImpactedEntities: []dynatracetest.EntityStub{dynatracetest.Entity("HOST-1", "HOST", "db01")},
		EntityTags: []string{"team:db"}, StartTime: time.Now().Add(-time.Minute),
	})
	dt.CreateProblem(dynatracetest.ProblemSpec{Title: "web", EntityTags: []string{"team:web"}, StartTime: time.Now().Add(-time.Minute)})

	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := write("poller.yaml", "state_file: "+filepath.Join(dir, "state.json")+"\n"+
		"classifier:\n  url: "+cl.URL+"/v1/classifier\n  token_file: "+write("out", outToken)+"\n"+
		"feeds:\n"+
		"  - name: us\n    type: opsgenie\n    query: 'teams: incoming'\n"+
		"    opsgenie: {api_url: '"+us.Host()+"', api_key_file: "+write("us_key", us.APIKey())+", retries: 1}\n"+
		"  - name: eu\n    type: opsgenie\n    query: 'tag: db'\n"+
		"    opsgenie: {api_url: 'http://"+eu.Host()+"', api_key_file: "+write("eu_key", eu.APIKey())+", retries: 1}\n"+
		"  - name: problems\n    type: dynatrace\n    lookback: 1h\n"+
		"    dynatrace: {api_url: '"+dt.URL()+"', api_token_file: "+write("dt_token", dt.Token())+", problem_selector: 'status(\"open\"),entityTags(\"team:db\")'}\n")
	logs := &logtest.Buffer{}
	if err := run(context.Background(), []string{"once", "-config", cfg}, io.Discard, logs); err != nil {
		t.Fatalf("once: %v\n%s", err, logs)
	}
	got := map[string]alert.Meta{}
	for _, env := range cl.received() {
		got[env.Meta.FeedName] = env.Meta
	}
	want := map[string]alert.Meta{
		"us":       {UniqueKey: "tinyId", UniqueValue: a.TinyID, FeedType: "OpsGenie", FeedName: "us"},
		"eu":       {UniqueKey: "tinyId", UniqueValue: b.TinyID, FeedType: "OpsGenie", FeedName: "eu"},
		"problems": {UniqueKey: "problemId", UniqueValue: p.ProblemID, FeedType: "Dynatrace", FeedName: "problems"},
	}
	if len(cl.received()) != 3 || len(got) != 3 {
		t.Fatalf("classifier got %d envelopes: %v", len(cl.received()), got)
	}
	for name, m := range want {
		if got[name] != m {
			t.Errorf("feed %s: meta %+v, want %+v", name, got[name], m)
		}
	}
	for _, env := range cl.received() {
		if env.Meta.FeedType == "Dynatrace" && env.Get("impactedEntities.0.name").String() != "db01" {
			t.Errorf("problem envelope %s", env.Raw)
		}
	}
	if out := logs.String(); strings.Contains(out, dt.Token()) || strings.Contains(out, eu.APIKey()) {
		t.Error("logs reveal a secret")
	}
	if err := run(context.Background(), []string{"once", "-config", cfg}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := len(cl.received()); n != 3 {
		t.Errorf("second run delivered again: %d envelopes", n)
	}
}
