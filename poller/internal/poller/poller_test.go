package poller

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	ogfeed "github.com/alexis-ops/alexis/poller/internal/feed/opsgenie"
	"github.com/alexis-ops/alexis/poller/internal/state"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

const token = "poller-outbound-token-0123456789"

// classifier is a test classifier: it records what it is sent and answers
// with respond (default: matched).
type classifier struct {
	*httptest.Server
	mu      sync.Mutex
	got     []string // unique values, in arrival order
	respond func(env *alert.Envelope, n int) (int, any)
}

func newClassifier(t *testing.T) *classifier {
	c := &classifier{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.URL.Path != "/v1/classifier" || r.Method != http.MethodPost {
			http.Error(w, `{"error":"bad request line or token"}`, http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		env, err := alert.Decode(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
			return
		}
		c.mu.Lock()
		c.got = append(c.got, env.Meta.UniqueValue)
		n := 0
		for _, v := range c.got {
			if v == env.Meta.UniqueValue {
				n++
			}
		}
		respond := c.respond
		c.mu.Unlock()
		status, ans := http.StatusOK, any(api.Classification{Result: api.ResultMatched, UniqueValue: env.Meta.UniqueValue})
		if respond != nil {
			status, ans = respond(env, n)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if s, ok := ans.(string); ok {
			io.WriteString(w, s)
			return
		}
		json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *classifier) setRespond(f func(env *alert.Envelope, n int) (int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.respond = f
}

// received returns the unique values posted so far.
func (c *classifier) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func (c *classifier) countOf(uv string) int {
	n := 0
	for _, v := range c.received() {
		if v == uv {
			n++
		}
	}
	return n
}

// answer builds a classification answer.
func answer(result string) (int, any) {
	return http.StatusOK, api.Classification{Result: result}
}

// env is one test setup: a local OpsGenie, a classifier and a state file.
type env struct {
	t     *testing.T
	og    *opsgenietest.Server
	cl    *classifier
	state string
	logs  *logtest.Buffer
}

func newEnv(t *testing.T) *env {
	return &env{
		t:     t,
		og:    opsgenietest.NewT(t),
		cl:    newClassifier(t),
		state: filepath.Join(t.TempDir(), "state.json"),
		logs:  &logtest.Buffer{},
	}
}

// opsgenieFeed is the real OpsGenie feed, through the SDK, on e.og.
func (e *env) opsgenieFeed(name, query, key string) feed.Feed {
	e.t.Helper()
	if key == "" {
		key = e.og.APIKey()
	}
	keyFile := filepath.Join(e.t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		e.t.Fatal(err)
	}
	f, err := ogfeed.New(feed.Settings{Name: name, Query: query, UniqueKey: "tinyId", Lookback: 24 * time.Hour},
		ogfeed.Config{Config: opsgenie.Config{APIURL: e.og.Host(), APIKeyFile: keyFile, Retries: 1, Timeout: sconfig.Duration(5 * time.Second)}},
		logging.New(io.Discard, "poller", logging.Options{}))
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// poller builds a poller (a fresh instance, as after a restart) over the
// state file, delivering to url (default: the test classifier).
func (e *env) poller(url string, feeds ...feed.Feed) (*Poller, *state.Store) {
	e.t.Helper()
	st, err := state.Open(e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	if url == "" {
		url = e.cl.URL + "/v1/classifier"
	}
	client, err := httpclient.New(httpclient.Options{Token: sconfig.NewSecret(token), Timeout: 5 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	var sources []Source
	for _, f := range feeds {
		sources = append(sources, Source{Feed: f, Interval: 10 * time.Millisecond})
	}
	return New(Options{
		Sources:    sources,
		Classifier: &HTTPClassifier{URL: url, Client: client},
		State:      FileState(st),
		Log:        logging.New(e.logs, "poller", logging.Options{Level: "debug"}),
	}), st
}

func (e *env) alert(message string) opsgenietest.Alert {
	return e.og.CreateAlert(opsgenietest.AlertSpec{Message: message, Teams: []string{"incoming"}, CreatedAt: time.Now().Add(-time.Minute)})
}

const query = "status: open AND teams: incoming"

func mustPoll(t *testing.T, p *Poller, src Source) Result {
	t.Helper()
	res, err := p.Poll(context.Background(), src)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return res
}

func TestDeliversOnceAcrossLoops(t *testing.T) {
	e := newEnv(t)
	a1, a2, a3 := e.alert("one"), e.alert("two"), e.alert("three")
	e.og.CreateAlert(opsgenietest.AlertSpec{Message: "other team", Teams: []string{"web"}})
	f := e.opsgenieFeed("incoming", query, "")
	p, st := e.poller("", f)
	src := p.o.Sources[0]

	res := mustPoll(t, p, src)
	if res.Seen != 3 || res.New != 3 || res.Delivered != 3 {
		t.Errorf("first poll %+v", res)
	}
	if got := e.cl.received(); strings.Join(got, ",") != strings.Join([]string{a1.TinyID, a2.TinyID, a3.TinyID}, ",") {
		t.Errorf("classifier got %v, want oldest first", got)
	}
	res = mustPoll(t, p, src)
	if res.Seen != 3 || res.New != 0 || res.Delivered != 0 {
		t.Errorf("second poll %+v", res)
	}
	if n := len(e.cl.received()); n != 3 {
		t.Errorf("classifier got %d posts, want 3", n)
	}
	if e, _ := st.Get("incoming", a1.ID); e.Result != api.ResultMatched || e.UniqueValue != a1.TinyID {
		t.Errorf("state entry %+v", e)
	}
	gets := 0
	for _, r := range e.og.Requests() {
		if r.Method == "GET" && r.Path != "/v2/alerts" {
			gets++
		}
	}
	if gets != 3 {
		t.Errorf("%d Get Alert calls, want 3: delivered alerts are not fetched again", gets)
	}
	for _, ev := range []string{"event=poll_started", "event=poll_finished", "event=alert_delivered", "result=matched", "unique_value=" + a1.TinyID} {
		if !strings.Contains(e.logs.String(), ev) {
			t.Errorf("logs lack %q", ev)
		}
	}
}

func TestDeferredIsOfferedAgain(t *testing.T) {
	e := newEnv(t)
	young := e.alert("young")
	old := e.alert("old")
	e.cl.setRespond(func(env *alert.Envelope, n int) (int, any) {
		if env.Meta.UniqueValue == young.TinyID && n == 1 {
			return answer(api.ResultDeferred)
		}
		return answer(api.ResultUnmatched)
	})
	p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
	src := p.o.Sources[0]
	if res := mustPoll(t, p, src); res.Deferred != 1 || res.Delivered != 1 {
		t.Errorf("first poll %+v", res)
	}
	if st.Delivered("incoming", young.ID) || !st.Delivered("incoming", old.ID) {
		t.Error("deferred alert remembered, or delivered one not")
	}
	if res := mustPoll(t, p, src); res.New != 1 || res.Delivered != 1 {
		t.Errorf("second poll %+v", res)
	}
	mustPoll(t, p, src)
	if e.cl.countOf(young.TinyID) != 2 || e.cl.countOf(old.TinyID) != 1 {
		t.Errorf("classifier got %v", e.cl.received())
	}
	if !strings.Contains(e.logs.String(), "event=alert_deferred") {
		t.Error("no alert_deferred log")
	}
}

func TestUnavailableClassifierStopsThePollAndRetries(t *testing.T) {
	cases := []struct {
		name   string
		status int
	}{
		{name: "503", status: http.StatusServiceUnavailable},
		{name: "429", status: http.StatusTooManyRequests},
		{name: "502", status: http.StatusBadGateway},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a1, a2 := e.alert("one"), e.alert("two")
			fail := true
			var mu sync.Mutex
			e.cl.setRespond(func(env *alert.Envelope, n int) (int, any) {
				mu.Lock()
				defer mu.Unlock()
				if fail {
					return tc.status, `{"error":"busy"}`
				}
				return answer(api.ResultMatched)
			})
			p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
			src := p.o.Sources[0]
			res, err := p.Poll(context.Background(), src)
			if err == nil || res.Failed != 1 || res.Delivered != 0 {
				t.Fatalf("poll during outage: %+v, %v", res, err)
			}
			if n := len(e.cl.received()); n != 1 {
				t.Errorf("%d posts during the outage, want 1: the poll stops at the first", n)
			}
			if st.Count("incoming") != 0 {
				t.Error("undelivered alert remembered")
			}
			mu.Lock()
			fail = false
			mu.Unlock()
			if res := mustPoll(t, p, src); res.Delivered != 2 {
				t.Errorf("poll after outage %+v", res)
			}
			if e.cl.countOf(a1.TinyID) != 2 || e.cl.countOf(a2.TinyID) != 1 {
				t.Errorf("classifier got %v", e.cl.received())
			}
			if !strings.Contains(e.logs.String(), "event=delivery_failed") || !strings.Contains(e.logs.String(), "event=poll_failed") {
				t.Errorf("logs lack delivery_failed/poll_failed:\n%s", e.logs)
			}
		})
	}
}

func TestServerErrorOnOneAlertDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t)
	bad, good := e.alert("poison"), e.alert("fine")
	e.cl.setRespond(func(env *alert.Envelope, n int) (int, any) {
		if env.Meta.UniqueValue == bad.TinyID && n == 1 {
			return http.StatusInternalServerError, `{"error":"boom"}`
		}
		return answer(api.ResultMatched)
	})
	p, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	src := p.o.Sources[0]
	res, err := p.Poll(context.Background(), src)
	if err == nil || res.Failed != 1 || res.Delivered != 1 {
		t.Fatalf("poll %+v, %v", res, err)
	}
	if res := mustPoll(t, p, src); res.Delivered != 1 {
		t.Errorf("retry poll %+v", res)
	}
	if e.cl.countOf(bad.TinyID) != 2 || e.cl.countOf(good.TinyID) != 1 {
		t.Errorf("classifier got %v", e.cl.received())
	}
}

func TestClassifierDownThenUp(t *testing.T) {
	e := newEnv(t)
	a := e.alert("one")
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/v1/classifier"
	down.Close() // nothing listens there now

	p, st := e.poller(downURL, e.opsgenieFeed("incoming", query, ""))
	res, err := p.Poll(context.Background(), p.o.Sources[0])
	if err == nil || res.Failed != 1 || st.Count("incoming") != 0 {
		t.Fatalf("poll with classifier down: %+v, %v", res, err)
	}

	// Restart with the classifier back: the alert is delivered.
	p2, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	if res := mustPoll(t, p2, p2.o.Sources[0]); res.Delivered != 1 {
		t.Errorf("poll with classifier up: %+v", res)
	}
	if e.cl.countOf(a.TinyID) != 1 {
		t.Errorf("classifier got %v", e.cl.received())
	}
}

func TestRejectedIsNotResent(t *testing.T) {
	e := newEnv(t)
	a := e.alert("bad")
	e.cl.setRespond(func(*alert.Envelope, int) (int, any) {
		return http.StatusBadRequest, `{"error":"alexis.unique_value: required"}`
	})
	p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
	src := p.o.Sources[0]
	if res := mustPoll(t, p, src); res.Rejected != 1 {
		t.Errorf("poll %+v", res)
	}
	mustPoll(t, p, src)
	if n := e.cl.countOf(a.TinyID); n != 1 {
		t.Errorf("rejected alert sent %d times, want 1", n)
	}
	got, _ := st.Get("incoming", a.ID)
	if got.Result != ResultRejected || !strings.Contains(got.Error, "alexis.unique_value: required") {
		t.Errorf("state entry %+v", got)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "event=delivery_rejected") || !strings.Contains(logs, "status=400") {
		t.Errorf("logs lack delivery_rejected:\n%s", logs)
	}
}

func TestBadAnswerCountsAsDelivered(t *testing.T) {
	e := newEnv(t)
	a := e.alert("one")
	e.cl.setRespond(func(*alert.Envelope, int) (int, any) { return http.StatusOK, "not json" })
	p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
	mustPoll(t, p, p.o.Sources[0])
	mustPoll(t, p, p.o.Sources[0])
	if got, _ := st.Get("incoming", a.ID); got.Result != ResultUnknown || e.cl.countOf(a.TinyID) != 1 {
		t.Errorf("entry %+v, sent %d times", got, e.cl.countOf(a.TinyID))
	}
}

func TestForgottenAfterLeavingTheQuery(t *testing.T) {
	e := newEnv(t)
	a := e.alert("one")
	p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
	src := p.o.Sources[0]
	mustPoll(t, p, src)

	e.og.Modify(a.ID, func(x *opsgenietest.Alert) { x.Teams = []string{"incoming", "queue_done"}; x.Status = "closed" })
	if res := mustPoll(t, p, src); res.Forgotten != 1 || res.Seen != 0 {
		t.Errorf("poll after close %+v", res)
	}
	if st.Count("incoming") != 0 {
		t.Error("alert still remembered after leaving the query")
	}
	// Back in the query (reopened): it is a new event and is delivered again.
	e.og.Modify(a.ID, func(x *opsgenietest.Alert) { x.Status = "open" })
	if res := mustPoll(t, p, src); res.Delivered != 1 {
		t.Errorf("poll after reopen %+v", res)
	}
	if e.cl.countOf(a.TinyID) != 2 {
		t.Errorf("classifier got %v", e.cl.received())
	}
}

func TestListFailureForgetsNothing(t *testing.T) {
	e := newEnv(t)
	e.alert("one")
	p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
	src := p.o.Sources[0]
	mustPoll(t, p, src)
	e.og.FailNext(4, http.StatusInternalServerError)
	if _, err := p.Poll(context.Background(), src); err == nil {
		t.Fatal("poll succeeded during an OpsGenie outage")
	}
	if st.Count("incoming") != 1 {
		t.Error("a failed listing made the poller forget delivered alerts")
	}
	if logs := e.logs.String(); !strings.Contains(logs, "event=poll_failed") || !strings.Contains(logs, "list alerts") {
		t.Errorf("logs lack poll_failed:\n%s", logs)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	a1, a2 := e.alert("one"), e.alert("two")
	p, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	mustPoll(t, p, p.o.Sources[0])

	// A new poller on the same state file, as after a restart.
	p2, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	if res := mustPoll(t, p2, p2.o.Sources[0]); res.Delivered != 0 || res.New != 0 {
		t.Errorf("restarted poller delivered again: %+v", res)
	}
	a3 := e.alert("three")
	p3, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	if res := mustPoll(t, p3, p3.o.Sources[0]); res.Delivered != 1 {
		t.Errorf("restarted poller, one new alert: %+v", res)
	}
	for _, a := range []opsgenietest.Alert{a1, a2, a3} {
		if n := e.cl.countOf(a.TinyID); n != 1 {
			t.Errorf("alert %s delivered %d times", a.TinyID, n)
		}
	}
}

func TestRateLimitStormLosesNothing(t *testing.T) {
	e := newEnv(t)
	var alerts []opsgenietest.Alert
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		alerts = append(alerts, e.alert(m))
	}
	p, st := e.poller("", e.opsgenieFeed("incoming", query, ""))
	src := p.o.Sources[0]
	// Listing, then the first Get each hit a wall of 429s (with one SDK
	// retry per call, a call fails after two).
	e.og.FailNext(3, http.StatusTooManyRequests)
	failures := 0
	for range 10 {
		if _, err := p.Poll(context.Background(), src); err != nil {
			failures++
			continue
		}
		if st.Count("incoming") == len(alerts) {
			break
		}
	}
	if failures == 0 {
		t.Error("the 429 storm caused no failed poll: the test injected nothing")
	}
	for _, a := range alerts {
		if n := e.cl.countOf(a.TinyID); n != 1 {
			t.Errorf("alert %s delivered %d times, want 1", a.TinyID, n)
		}
	}
}

func TestInvalidAlertDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(e.og.APIKey()), 0o600)
	f, err := ogfeed.New(feed.Settings{Name: "incoming", Query: query, UniqueKey: "details.host", Lookback: time.Hour},
		ogfeed.Config{Config: opsgenie.Config{APIURL: e.og.Host(), APIKeyFile: keyFile, Retries: 1}},
		logging.New(io.Discard, "poller", logging.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	e.og.CreateAlert(opsgenietest.AlertSpec{Message: "no host", Teams: []string{"incoming"}})
	e.og.CreateAlert(opsgenietest.AlertSpec{Message: "host", Teams: []string{"incoming"}, Details: map[string]string{"host": "db01"}})
	p, _ := e.poller("", f)
	res, err := p.Poll(context.Background(), p.o.Sources[0])
	if err == nil || res.Delivered != 1 || res.Failed != 1 {
		t.Errorf("poll %+v, %v", res, err)
	}
	if got := e.cl.received(); len(got) != 1 || got[0] != "db01" {
		t.Errorf("classifier got %v", got)
	}
	if !strings.Contains(e.logs.String(), "event=alert_invalid") {
		t.Error("no alert_invalid log")
	}
}

// blockedFeed is a feed whose listing hangs until released or cancelled.
type blockedFeed struct{ release chan struct{} }

func (b *blockedFeed) Name() string { return "stuck" }
func (b *blockedFeed) Type() string { return "Test" }
func (b *blockedFeed) List(ctx context.Context) ([]string, error) {
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (b *blockedFeed) Fetch(context.Context, string) (*alert.Envelope, error) {
	return nil, errors.New("unused")
}

func TestSlowFeedDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t)
	a := e.alert("one")
	stuck := &blockedFeed{release: make(chan struct{})}
	p, _ := e.poller("", stuck, e.opsgenieFeed("incoming", query, ""))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a speed check
	for (e.cl.countOf(a.TinyID) == 0 || p.Status()[1].Polls == 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.cl.countOf(a.TinyID) != 1 {
		t.Errorf("the healthy feed delivered nothing while the other feed hung")
	}
	st := p.Status()
	if st[0].Name != "stuck" || st[0].Polls != 0 || st[1].Polls == 0 {
		t.Errorf("status %+v", st)
	}
	cancel()
	<-done
}

func TestOnceAndStatus(t *testing.T) {
	e := newEnv(t)
	a := e.alert("one")
	good := e.opsgenieFeed("incoming", query, "")
	bad := e.opsgenieFeed("wrongkey", query, "not-the-key")
	p, _ := e.poller("", good, bad)
	err := p.Once(context.Background())
	if err == nil || !strings.Contains(err.Error(), "feed wrongkey") || strings.Contains(err.Error(), "feed incoming") {
		t.Errorf("Once: %v, want an error for feed wrongkey only", err)
	}
	if strings.Contains(err.Error(), "not-the-key") || strings.Contains(e.logs.String(), "not-the-key") {
		t.Error("the API key leaked into an error or a log")
	}
	if e.cl.countOf(a.TinyID) != 1 {
		t.Errorf("classifier got %v", e.cl.received())
	}
	st := p.Status()
	if len(st) != 2 {
		t.Fatalf("status %+v", st)
	}
	g, b := st[0], st[1]
	if g.Name != "incoming" || g.Type != "OpsGenie" || g.Polls != 1 || g.AlertsSeen != 1 || g.AlertsDelivered != 1 ||
		g.Remembered != 1 || g.LastError != "" || g.LastSuccess.IsZero() || g.LoopInterval != "10ms" {
		t.Errorf("good feed status %+v", g)
	}
	if b.Polls != 1 || !strings.Contains(b.LastError, "401") || !b.LastSuccess.IsZero() || b.LastPoll.IsZero() {
		t.Errorf("bad feed status %+v", b)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	p, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Run(ctx) // returns at once
	if strings.Contains(e.logs.String(), "event=poll_failed") {
		t.Error("a cancelled poll was logged as failed")
	}
}

func TestBackoff(t *testing.T) {
	const iv = 30 * time.Second
	cases := []struct {
		name       string
		failures   int
		retryAfter time.Duration
		limit      time.Duration
		want       time.Duration
	}{
		{name: "first failure doubles", failures: 1, limit: 5 * time.Minute, want: time.Minute},
		{name: "third failure", failures: 3, limit: 5 * time.Minute, want: 4 * time.Minute},
		{name: "capped", failures: 4, limit: 5 * time.Minute, want: 5 * time.Minute},
		{name: "huge count does not overflow", failures: 90, limit: 5 * time.Minute, want: 5 * time.Minute},
		{name: "retry-after longer", failures: 1, retryAfter: 2 * time.Minute, limit: 5 * time.Minute, want: 2 * time.Minute},
		{name: "retry-after shorter", failures: 2, retryAfter: time.Second, limit: 5 * time.Minute, want: 2 * time.Minute},
		{name: "retry-after capped", failures: 1, retryAfter: time.Hour, limit: 5 * time.Minute, want: 5 * time.Minute},
		{name: "limit below interval", failures: 1, limit: time.Second, want: iv},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(iv, tc.limit, tc.failures, tc.retryAfter); got != tc.want {
				t.Errorf("Backoff = %v, want %v", got, tc.want)
			}
		})
	}
}

// flakyFeed fails its listing fails times (rate limited), then lists nothing.
type flakyFeed struct {
	mu    sync.Mutex
	fails int
	lists int
}

func (f *flakyFeed) Name() string { return "flaky" }
func (f *flakyFeed) Type() string { return "Test" }
func (f *flakyFeed) List(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.lists <= f.fails {
		return nil, &feed.RateLimitError{Err: errors.New("status 429")}
	}
	return nil, nil
}
func (f *flakyFeed) Fetch(context.Context, string) (*alert.Envelope, error) {
	return nil, errors.New("unused")
}

func (f *flakyFeed) listed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func TestRunBacksOffAFailingSource(t *testing.T) {
	e := newEnv(t)
	fl := &flakyFeed{fails: 4}
	p, _ := e.poller("", fl)
	p.o.MaxBackoff = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a speed check
	for !strings.Contains(e.logs.String(), "event=feed_recovered") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	var delays []string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "event=feed_backoff") {
			if !strings.Contains(line, "rate_limited=true") || !strings.Contains(line, "feed_name=flaky") {
				t.Errorf("backoff line %q", line)
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "delay_ms="); ok {
					delays = append(delays, v)
				}
			}
		}
	}
	// interval 10ms: 20, 40, 80, then capped at 100.
	if want := []string{"20", "40", "80", "100"}; !slices.Equal(delays, want) {
		t.Errorf("back-off delays %v, want %v", delays, want)
	}
	if !strings.Contains(e.logs.String(), "event=feed_recovered") {
		t.Error("no feed_recovered")
	}
	if st := p.Status()[0]; st.SourceFailures != 0 || st.NextPoll.IsZero() {
		t.Errorf("status after recovery %+v", st)
	}
}

func TestDeliveryIsCommittedBeforeTheNext(t *testing.T) {
	e := newEnv(t)
	a, b := e.alert("first"), e.alert("second")
	p, _ := e.poller("", e.opsgenieFeed("incoming", query, ""))
	var sawFirst bool
	e.cl.setRespond(func(env *alert.Envelope, n int) (int, any) {
		if env.Meta.UniqueValue == b.TinyID {
			// What a poller restarted right now would read.
			st, err := state.Open(e.state)
			sawFirst = err == nil && st.Delivered("incoming", a.ID)
		}
		return answer(api.ResultMatched)
	})
	mustPoll(t, p, p.o.Sources[0])
	if !sawFirst {
		t.Error("the first delivery was not durable when the second was sent")
	}
}
