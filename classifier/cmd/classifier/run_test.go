package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/alexis-ops/alexis/classifier/internal/classify"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

const (
	clientToken = "poller-token-0123456789abcdef"
	ahToken     = "classifier-to-ah-token-fedcba9876543210"
	genieKey    = "genie-key-00000000-1111-2222-3333"
	signingKey  = "signing-key-0123456789abcdef0123456789"
)

// recorder is an HTTP server recording what it is sent.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][]string // path → bodies
	auth   []string
}

func (r *recorder) record(req *http.Request) []byte {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bodies == nil {
		r.bodies = map[string][]string{}
	}
	r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], string(body))
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	return body
}

func (r *recorder) get(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies[path]...)
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRun starts the real service on 127.0.0.1:0 with a fake action handler
// and a fake OpsGenie, classifies one alert over HTTP and stops it.
func TestRun(t *testing.T) {
	ah := &recorder{}
	key, err := auth.NewKey([]byte(signingKey))
	if err != nil {
		t.Fatal(err)
	}
	var sigErrs []error // the action handler's check of each signature
	ahSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := ah.record(r)
		if r.Header.Get("Authorization") != "Bearer "+ahToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ah.mu.Lock()
		sigErrs = append(sigErrs, key.Verify(r.Header.Get(auth.SignatureHeader), body, time.Now(), auth.DefaultMaxAge))
		ah.mu.Unlock()
		if _, err := action.Decode(body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(api.ActionAccepted{ExecutionID: "exec-run", Status: api.ExecQueued})
	}))
	defer ahSrv.Close()

	og := &recorder{}
	ogSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		og.record(r)
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("X-RateLimit-State", "OK")
		w.Header().Set("X-Response-Time", "0.001")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"result":"Request will be processed","took":0.001,"requestId":"req-1"}`)
	}))
	defer ogSrv.Close()

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
body_limit: 65536
log: {format: logfmt, level: info}
rules_dir: %s
action_handlers:
  linux: %s/v1/action
action_handler_token_file: %s
signing_key_file: %s
action_handler_timeout: 5s
default_investigation_queue: ops_investigation
opsgenie:
  api_url: %s
  api_key_file: %s
  timeout: 5s
  retries: 1
`,
		writeFile(t, filepath.Join(dir, "tokens"), "poller:"+clientToken+"\n"),
		rulesDir, ahSrv.URL,
		writeFile(t, filepath.Join(dir, "ah_token"), ahToken+"\n"),
		writeFile(t, filepath.Join(dir, "signing_key"), signingKey+"\n"),
		strings.TrimPrefix(ogSrv.URL, "http://"),
		writeFile(t, filepath.Join(dir, "genie_key"), genieKey+"\n"),
	))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg}, &stdout, &stderr) }()
	base := "http://" + waitListening(t, &stderr, done)
	var hcOut bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck", "-url", base + "/v1/ping"}, &hcOut, io.Discard); err != nil {
		t.Errorf("healthcheck of the running service: %v", err)
	}
	if err := run(context.Background(), []string{"healthcheck", "-url", "http://127.0.0.1:1/v1/ping"}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck of nothing passed")
	}

	// Ping needs no token.
	resp, err := http.Get(base + "/v1/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ping: %d", resp.StatusCode)
	}

	envelope, err := os.ReadFile("../../testdata/alerts/gc_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/classifier", bytes.NewReader(envelope))
	req.Header.Set("Authorization", "Bearer "+clientToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("classify: %d %s\nlogs:\n%s", resp.StatusCode, answer, stderr.String())
	}
	var res classify.Result
	if err := json.Unmarshal(answer, &res); err != nil {
		t.Fatal(err)
	}
	if res.Result != api.ResultMatched || len(res.Matched) != 1 || res.Matched[0].ExecutionID != "exec-run" ||
		len(res.WritebackErrors) != 0 {
		t.Errorf("answer %s", answer)
	}

	if pushed := ah.get("/v1/action"); len(pushed) != 1 || !strings.Contains(pushed[0], `"rule_name":"day_duplicator_gc_restart"`) ||
		!strings.Contains(pushed[0], `"requested_by":"poller"`) {
		t.Errorf("action handler got %v", pushed)
	}
	ah.mu.Lock()
	if len(sigErrs) != 1 || sigErrs[0] != nil {
		t.Errorf("signatures checked: %v, want one valid", sigErrs)
	}
	ah.mu.Unlock()
	notes := og.get("/v2/alerts/70413a06-38d6-4c85-92b8-5ebc900d42e2/notes")
	if len(notes) != 1 || !strings.Contains(notes[0],
		"Autoremediation rule day_duplicator_gc_restart has matched, pushing to Action Handler (execution exec-run)") {
		t.Errorf("OpsGenie notes: %v", notes)
	}
	if teams := og.get("/v2/alerts/70413a06-38d6-4c85-92b8-5ebc900d42e2/teams"); len(teams) != 1 ||
		!strings.Contains(teams[0], `"queue_autoremediation"`) {
		t.Errorf("OpsGenie teams: %v, want the alert added to queue_autoremediation", teams)
	}

	// Unauthenticated and malformed requests.
	for _, tc := range []struct {
		token, body string
		want        int
	}{
		{"", string(envelope), 401},
		{clientToken, `{"alexis":`, 400},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/classifier", strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("token %q body %q: %d, want %d", tc.token, tc.body, resp.StatusCode, tc.want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	logs := stderr.String()
	for _, want := range []string{"event=service_started", "event=rules_loaded", "event=rule_matched", "event=service_stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	// No secret anywhere it could leak.
	og.mu.Lock()
	ogAuth := strings.Join(og.auth, " ")
	og.mu.Unlock()
	if !strings.Contains(ogAuth, genieKey) {
		t.Errorf("OpsGenie was not sent the API key")
	}
	leaks := map[string]string{"logs": logs, "stdout": stdout.String(), "answer": string(answer),
		"notes": strings.Join(notes, "\n")}
	for where, text := range leaks {
		for _, secret := range []string{clientToken, ahToken, genieKey} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %.8s… appears in %s", secret, where)
			}
		}
	}
}

var listenRE = regexp.MustCompile(`event=service_started.* listen=(\S+)`)

// waitListening waits for the service_started line and returns its address.
func waitListening(t testing.TB, stderr *logtest.Buffer, done chan error) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("service did not start:\n%s", stderr.String())
	return ""
}

func TestRunCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantStdout string
	}{
		{name: "version", args: []string{"version"}, wantStdout: "classifier dev\n"},
		{name: "missing config", args: []string{"-config", "/does/not/exist.yaml"}, wantErr: "read config"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "flag provided but not defined"},
		{name: "extra argument", args: []string{"-config", "x.yaml", "lint"}, wantErr: "usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr logtest.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if stdout.String() != tc.wantStdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantStdout)
			}
		})
	}
}
