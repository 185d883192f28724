package main

// Fault tests: the real poller (run, or the built binary) against the
// local OpsGenie server and a classifier that counts, per alert, how often
// it took it (answered 200). Every test asserts that no alert is lost and
// none is taken twice, except where a delivery was in flight when the
// poller died (at-least-once, by design).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/pgtest"
)

// counter is a classifier on a fixed address that can be up, answer 503,
// or be down (connection refused), and counts what it took per alert.
type counter struct {
	addr string

	mu       sync.Mutex
	srv      *http.Server
	mode     string // "up", "503" or "down"
	attempts int
	taken    map[string]int // unique value → times answered 200
	// hook, if set, runs before an envelope is answered; it returns false
	// to drop the request without taking the alert.
	hook func(uv string) bool
}

func newCounter(t *testing.T) *counter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{addr: ln.Addr().String(), mode: "up", taken: map[string]int{}}
	c.serve(ln)
	t.Cleanup(func() { c.setMode(t, "down") })
	return c
}

func (c *counter) URL() string { return "http://" + c.addr }

func (c *counter) serve(ln net.Listener) {
	c.srv = &http.Server{Handler: http.HandlerFunc(c.handle), ReadHeaderTimeout: 5 * time.Second}
	go c.srv.Serve(ln)
}

// setMode switches between up, 503 and down (listener closed).
func (c *counter) setMode(t *testing.T, mode string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case mode == "down" && c.srv != nil:
		c.srv.Close()
		c.srv = nil
	case mode != "down" && c.srv == nil:
		ln, err := net.Listen("tcp", c.addr)
		if err != nil {
			t.Fatalf("reopen classifier on %s: %v", c.addr, err)
		}
		c.serve(ln)
	}
	c.mode = mode
}

func (c *counter) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	env, err := alert.Decode(body)
	if err != nil {
		http.Error(w, `{"error":"bad envelope"}`, http.StatusBadRequest)
		return
	}
	uv := env.Meta.UniqueValue
	c.mu.Lock()
	c.attempts++
	mode, hook := c.mode, c.hook
	c.mu.Unlock()
	if mode == "503" {
		http.Error(w, `{"error":"starting"}`, http.StatusServiceUnavailable)
		return
	}
	if hook != nil && !hook(uv) {
		return
	}
	c.mu.Lock()
	c.taken[uv]++
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(api.Classification{Result: api.ResultMatched, UniqueValue: uv})
}

func (c *counter) counts() (attempts int, taken map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	taken = map[string]int{}
	for k, v := range c.taken {
		taken[k] = v
	}
	return c.attempts, taken
}

// takenAll reports whether every alert was taken at least once.
func (c *counter) takenAll(alerts []opsgenietest.Alert) bool {
	_, taken := c.counts()
	for _, a := range alerts {
		if taken[a.TinyID] == 0 {
			return false
		}
	}
	return true
}

// config writes a poller configuration for og and the classifier at url.
func faultConfig(t *testing.T, og *opsgenietest.Server, url, loop string) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := "loop_interval: " + loop + "\nmax_backoff: 400ms\n" +
		"state_file: " + filepath.Join(dir, "state.json") + "\n" +
		"classifier:\n  url: " + url + "/v1/classifier\n  token_file: " + write("classifier_token", outToken) + "\n  timeout: 10s\n" +
		"feeds:\n  - name: incoming\n    type: opsgenie\n    query: 'status:open AND teams:incoming'\n    lookback: 1h\n" +
		"    opsgenie: {api_url: '" + og.Host() + "', api_key_file: " + write("opsgenie_key", og.APIKey()) + ", timeout: 5s, retries: 1}\n"
	return write("poller.yaml", cfg), dir
}

func createAlerts(og *opsgenietest.Server, n int, prefix string) []opsgenietest.Alert {
	var out []opsgenietest.Alert
	for i := range n {
		out = append(out, og.CreateAlert(opsgenietest.AlertSpec{
			Message: prefix + " " + strconv.Itoa(i), Teams: []string{"incoming"},
			CreatedAt: time.Now().Add(-time.Duration(30-i) * time.Second),
		}))
	}
	return out
}

// exactlyOnce reports every alert not taken exactly once, except that
// inFlight (if set) must be taken exactly twice.
func exactlyOnce(t *testing.T, c *counter, alerts []opsgenietest.Alert, inFlight string) {
	t.Helper()
	_, taken := c.counts()
	for _, a := range alerts {
		want := 1
		if a.TinyID == inFlight {
			want = 2
		}
		if n := taken[a.TinyID]; n != want {
			t.Errorf("alert %s taken %d times, want %d", a.TinyID, n, want)
		}
	}
}

// startRun runs the poller in-process until the returned stop is called.
func startRun(t *testing.T, cfg string) (logs *logtest.Buffer, stop func()) {
	logs = &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg}, io.Discard, logs) }()
	return logs, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

func TestFaultOpsGenieRateLimitedThenFailing(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newCounter(t)
	alerts := createAlerts(og, 6, "storm")
	cfg, _ := faultConfig(t, og, cl.URL(), "50ms")

	// A storm of 429s (with OpsGenie's rate-limit headers), then of 500s,
	// before anything got through; the SDK retries each call once.
	og.FailNext(6, http.StatusTooManyRequests)
	logs, stop := startRun(t, cfg)
	waitFor(t, "the 429s to be answered", func() bool { return countStatus(og, 429) == 6 })
	og.FailNext(6, http.StatusInternalServerError)
	waitFor(t, "the 500s to be answered", func() bool { return countStatus(og, 500) == 6 })
	waitFor(t, "every alert to be taken", func() bool { return cl.takenAll(alerts) })
	waitFor(t, "the feed to recover", func() bool { return strings.Contains(logs.String(), "event=feed_recovered") })
	// A few more loops: nothing is delivered again.
	polls := strings.Count(logs.String(), "event=poll_finished")
	waitFor(t, "more polls", func() bool { return strings.Count(logs.String(), "event=poll_finished") >= polls+3 })
	stop()

	exactlyOnce(t, cl, alerts, "")
	out := logs.String()
	if !strings.Contains(out, "event=feed_backoff") || !strings.Contains(out, "rate_limited=true") {
		t.Errorf("no rate-limited feed_backoff logged:\n%s", out)
	}
	// The back-off grows while the source keeps failing (50ms doubled,
	// capped at max_backoff 400ms).
	prev := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "event=feed_backoff") {
			continue
		}
		d := fieldInt(line, "delay_ms")
		if d < prev || d > 400 {
			t.Errorf("back-off delays not growing to the cap: %d after %d", d, prev)
		}
		prev = d
		if strings.Contains(line, "count=1 ") && d != 100 {
			t.Errorf("first back-off %dms, want 100", d)
		}
	}
}

func countStatus(og *opsgenietest.Server, status int) int {
	n := 0
	for _, r := range og.Requests() {
		if r.Status == status {
			n++
		}
	}
	return n
}

func fieldInt(line, key string) int {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

func TestFaultClassifierDown(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newCounter(t)
	before := createAlerts(og, 4, "before")
	cfg, _ := faultConfig(t, og, cl.URL(), "20ms")

	// "A minute" down, scaled: the classifier answers 503 across many poll
	// loops, then refuses connections across many more, while new alerts
	// arrive; then it is back.
	cl.setMode(t, "503")
	logs, stop := startRun(t, cfg)
	waitFor(t, "many loops of 503", func() bool { a, _ := cl.counts(); return a >= 25 })
	cl.setMode(t, "down")
	during := createAlerts(og, 3, "during")
	refused := strings.Count(logs.String(), "event=delivery_failed")
	waitFor(t, "many loops of refused connections", func() bool {
		return strings.Count(logs.String(), "event=delivery_failed") >= refused+25
	})
	if _, taken := cl.counts(); len(taken) != 0 {
		t.Fatalf("taken while down: %v", taken)
	}
	cl.setMode(t, "up")
	all := append(before, during...)
	waitFor(t, "every alert to be taken", func() bool { return cl.takenAll(all) })
	polls := strings.Count(logs.String(), "event=poll_finished")
	waitFor(t, "more polls", func() bool { return strings.Count(logs.String(), "event=poll_finished") >= polls+3 })
	stop()

	exactlyOnce(t, cl, all, "")
	if strings.Contains(logs.String(), "event=feed_backoff") {
		t.Error("a classifier outage backed the feed off: alerts would wait after it returns")
	}
}

// pollerBinDir holds the binary buildPoller built; TestMain removes it.
var pollerBinDir string

func TestMain(m *testing.M) {
	code := pgtest.Run(m) // stops the PostgreSQL cluster, if a test started one
	if pollerBinDir != "" {
		os.RemoveAll(pollerBinDir)
	}
	os.Exit(code)
}

// buildPoller builds the poller binary once per test binary.
var buildPoller = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "poller-bin-")
	if err != nil {
		return "", err
	}
	pollerBinDir = dir
	bin := filepath.Join(dir, "poller")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// proc is a poller process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t *testing.T, bin, cfg string, logs io.Writer) *proc {
	t.Helper()
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func TestFaultPollerKilledAndRestarted(t *testing.T) {
	bin, err := buildPoller()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	og := opsgenietest.NewT(t)
	cl := newCounter(t)
	alerts := createAlerts(og, 10, "kill")
	cfg, dir := faultConfig(t, og, cl.URL(), "20ms")
	logs := &logtest.Buffer{}

	// Deliveries go oldest first, one at a time. The classifier kills the
	// poller with SIGKILL, and waits until it is gone, at two points:
	//  1. when the 4th alert arrives, before taking it: alerts 1-3 were
	//     taken and answered, so the restarted poller must not send them
	//     again, and must send the 4th;
	//  2. after taking the 7th alert, before answering: the poller never
	//     learnt that it was taken, so the restarted poller sends it again.
	//     This is the one repeat at-least-once allows.
	var mu sync.Mutex
	var current *proc
	killed := map[string]bool{}
	once := func(name string) bool { // true the first time only
		mu.Lock()
		defer mu.Unlock()
		first := !killed[name]
		killed[name] = true
		return first
	}
	kill := func() {
		mu.Lock()
		p := current
		mu.Unlock()
		p.kill()
	}
	cl.mu.Lock()
	cl.hook = func(uv string) bool {
		switch uv {
		case alerts[3].TinyID:
			if once("first") {
				kill()
				return false
			}
		case alerts[6].TinyID:
			if once("second") {
				cl.mu.Lock()
				cl.taken[uv]++
				cl.mu.Unlock()
				kill()
				return false
			}
		}
		return true
	}
	cl.mu.Unlock()

	start := func() {
		mu.Lock()
		current = startProc(t, bin, cfg, logs)
		mu.Unlock()
	}
	wait := func() {
		mu.Lock()
		p := current
		mu.Unlock()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second): // a hang guard, not a speed check
			t.Fatal("the poller was not killed")
		}
	}
	start()
	wait() // killed at the 4th alert
	if _, taken := cl.counts(); len(taken) != 3 {
		t.Fatalf("taken before the first kill: %v", taken)
	}
	start()
	wait() // killed during the 7th
	start()
	waitFor(t, "every alert to be taken", func() bool { return cl.takenAll(alerts) })
	polls := strings.Count(logs.String(), "event=poll_finished")
	waitFor(t, "more polls", func() bool { return strings.Count(logs.String(), "event=poll_finished") >= polls+3 })
	mu.Lock()
	last := current
	mu.Unlock()
	last.cmd.Process.Signal(syscall.SIGTERM)
	<-last.done

	exactlyOnce(t, cl, alerts, alerts[6].TinyID)
	if n := strings.Count(logs.String(), "event=service_started"); n != 3 {
		t.Errorf("%d starts, want 3", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json.journal")); !os.IsNotExist(err) {
		t.Errorf("journal left after a clean stop: %v", err)
	}
}
