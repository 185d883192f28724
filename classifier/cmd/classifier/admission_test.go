package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

// binDir holds the binary buildClassifier built, removed by TestMain.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildClassifier builds the classifier binary once per test binary.
var buildClassifier = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "classifier-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "classifier")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// classifierProc starts the classifier binary with cfg and returns its
// base URL; it is stopped (SIGTERM) when the test ends.
func classifierProc(t testing.TB, cfg string, logs *logtest.Buffer) string {
	_, base := startClassifier(t, cfg, logs)
	return base
}

// startClassifier is classifierProc, also returning the process id.
func startClassifier(t testing.TB, cfg string, logs *logtest.Buffer) (int, string) {
	t.Helper()
	bin, err := buildClassifier()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("classifier did not stop after SIGTERM")
		}
	})
	return cmd.Process.Pid, "http://" + waitListening(t, logs, done)
}

// TestAdmissionLimit runs the classifier binary with max_in_flight 4 and
// an action handler that holds every push until released: 4 alerts are
// admitted and wait; every further alert is answered 503 with Retry-After
// while they still wait (at once, not queued behind them), ping and
// metrics still answer, and once the action handler answers, the admitted
// alerts are classified and the classifier takes alerts again.
func TestAdmissionLimit(t *testing.T) {
	const limit, excess = 4, 12
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	var arrived atomic.Int64
	ah := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"execution_id":"exec-slow","status":"queued","entities":["app01.example.com"]}`)
	}))
	defer ah.Close()
	defer unblock() // runs before ah.Close
	og := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("X-RateLimit-State", "OK")
		w.Header().Set("X-Response-Time", "0.001")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"result":"Request will be processed","took":0.001,"requestId":"req-1"}`)
	}))
	defer og.Close()

	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rule, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "gc_restart.json"), string(rule))
	cfg := writeFile(t, filepath.Join(dir, "classifier.yaml"), fmt.Sprintf(`
listen: 127.0.0.1:0
tokens_file: %s
max_in_flight: %d
rules_dir: %s
action_handlers: {linux: %s/v1/action}
action_handler_token_file: %s
action_handler_timeout: 60s
default_investigation_queue: ops_investigation
tickets:
  opsgenie: {api_url: %s, api_key_file: %s, timeout: 10s, retries: 1}
`,
		writeFile(t, filepath.Join(dir, "tokens"), "poller:"+clientToken+" scopes=classify,metrics\n"),
		limit, rulesDir, ah.URL,
		writeFile(t, filepath.Join(dir, "ah_token"), ahToken+"\n"),
		strings.TrimPrefix(og.URL, "http://"),
		writeFile(t, filepath.Join(dir, "genie_key"), genieKey+"\n"),
	))
	var logs logtest.Buffer
	base := classifierProc(t, cfg, &logs)

	envelope, err := os.ReadFile("../../testdata/alerts/gc_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 120 * time.Second}
	type answer struct {
		code       int
		retryAfter string
		body       string
		err        error
	}
	post := func() answer {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/classifier", bytes.NewReader(envelope))
		req.Header.Set("Authorization", "Bearer "+clientToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return answer{err: err}
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
	}
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+clientToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Fill the limit: these wait in the action handler.
	admitted := make(chan answer, limit)
	for range limit {
		go func() { admitted <- post() }()
	}
	for deadline := time.Now().Add(60 * time.Second); arrived.Load() < limit; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pushes reached the action handler\n%s", arrived.Load(), limit, logs.String())
		}
	}

	// More than the limit, at once: each is refused while the admitted
	// ones still wait (the action handler has not been released).
	refused := make(chan answer, excess)
	for range excess {
		go func() { refused <- post() }()
	}
	for range excess {
		var a answer
		select {
		case a = <-refused:
		case <-time.After(60 * time.Second):
			t.Fatal("alerts over the limit not answered while the admitted ones wait: queued, not refused")
		}
		if a.err != nil || a.code != http.StatusServiceUnavailable || a.retryAfter != "1" ||
			!strings.Contains(a.body, `"error":"too many requests in flight (max_in_flight 4)`) {
			t.Errorf("over the limit: %+v", a)
		}
	}
	if n := arrived.Load(); n != limit {
		t.Errorf("%d pushes reached the action handler, want %d (refused alerts must not be pushed)", n, limit)
	}
	if code := get("/v1/ping"); code != http.StatusOK {
		t.Errorf("ping while full: %d", code)
	}
	if code := get("/metrics"); code != http.StatusOK {
		t.Errorf("metrics while full: %d", code)
	}

	unblock()
	for range limit {
		if a := <-admitted; a.err != nil || a.code != http.StatusOK || !strings.Contains(a.body, `"result":"matched"`) {
			t.Errorf("admitted alert: %+v", a)
		}
	}
	// Healthy after the storm.
	if a := post(); a.err != nil || a.code != http.StatusOK {
		t.Errorf("after the storm: %+v", a)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+clientToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), fmt.Sprintf("classifier_http_requests_refused_total %d\n", excess)) {
		t.Errorf("metrics lack classifier_http_requests_refused_total %d", excess)
	}
	text := logs.String()
	if n := strings.Count(text, "event=requests_refused"); n < 1 || n > 2 {
		t.Errorf("%d requests_refused lines for %d refusals, want one (at most one per %s)\n%s", n, excess, "5s", text)
	}
}
