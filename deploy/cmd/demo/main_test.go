package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
)

// syncBuffer is a bytes.Buffer safe for the demo's writers (the mirrored
// service logs come from the processes' reader goroutines).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var tokenLine = regexp.MustCompile(`(?m)^    token +([0-9a-f]{32,}) `)

func TestDemoTellsTheStoryAndEndsWithAToken(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline: skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := run(ctx, &out, options{dir: dir, tick: time.Second, timeout: 90 * time.Second}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"==> building poller (1/3)…", "==> building classifier (2/3)…", "==> building actionhandler (3/3)…",
		"received   the poller found it in feed \"incoming\"",
		"matched    rule duplicator_gc_restart",
		"ran        on 127.0.0.2:",
		"→ success, exit 0",
		"noted      on the ticket: Alexis rule duplicator_gc_restart: restart_service on 127.0.0.2:",
		"→ output: ",
		"unmatched  no rule matched (1 rule checked)",
		"routed     to team queue_needsinvestigation",
		"duplicator restarted on",
		"console    http://127.0.0.1:",
		"ALEXIS_URL=http://127.0.0.1:",
		"ALEXIS_TOKEN_FILE=" + filepath.Join(dir, "secrets", "viewer_token"),
		"make demo-keep",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The raw logs go to files, not here.
	if strings.Contains(got, "level=info") {
		t.Errorf("service log lines mirrored without -logs:\n%s", got)
	}
	for _, svc := range buildOrder {
		b, err := os.ReadFile(filepath.Join(dir, "logs", svc+".log"))
		if err != nil || !bytes.Contains(b, []byte("event=service_started")) {
			t.Errorf("logs/%s.log: %v, no service_started line", svc, err)
		}
	}
	// The token is printed once and is the one in the token file.
	m := tokenLine.FindAllStringSubmatch(got, -1)
	if len(m) != 1 {
		t.Fatalf("want one token line, got %d:\n%s", len(m), got)
	}
	tok := m[0][1]
	if n := strings.Count(got, tok); n != 1 {
		t.Errorf("token printed %d times, want once", n)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "secrets", "viewer_token")); err != nil || strings.TrimSpace(string(b)) != tok {
		t.Errorf("secrets/viewer_token does not hold the printed token (%v)", err)
	}
	// Both services write back through the documented tickets: block,
	// not the older top-level opsgenie: spelling.
	for _, svc := range []string{"actionhandler", "classifier"} {
		b, err := os.ReadFile(filepath.Join(dir, svc+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var top map[string]any
		if err := yaml.Unmarshal(b, &top); err != nil {
			t.Fatalf("%s.yaml: %v", svc, err)
		}
		if _, ok := top["opsgenie"]; ok {
			t.Errorf("%s.yaml uses the older top-level opsgenie: key", svc)
		}
		if tk, _ := top["tickets"].(map[string]any); tk["opsgenie"] == nil {
			t.Errorf("%s.yaml has no tickets.opsgenie block", svc)
		}
	}
}

// With -keep the demo stays up (the printed token reads the action
// handler's API, and may not post actions) until its context ends; -logs
// mirrors the services' log lines.
func TestDemoKeepRunsUntilInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline: skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &out, options{dir: dir, logs: true, keep: true, tick: time.Second, timeout: 90 * time.Second})
	}()
	deadline := time.Now().Add(4 * time.Minute)
	for !strings.Contains(out.String(), "==> running until Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("demo ended before waiting: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not get to waiting:\n%s", out.String())
		}
	}
	got := out.String()
	if !strings.Contains(got, "actionhandler | time=") || !strings.Contains(got, "event=service_started") {
		t.Errorf("-logs did not mirror the services' log lines:\n%s", got)
	}
	url := regexp.MustCompile(`ALEXIS_URL=(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(got)
	tok := tokenLine.FindStringSubmatch(got)
	if url == nil || tok == nil {
		t.Fatalf("no ALEXIS_URL or token in:\n%s", got)
	}
	do := func(method, path string) int {
		req, _ := http.NewRequest(method, url[1]+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+tok[1])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do(http.MethodGet, "/console/login"); code != http.StatusOK {
		t.Errorf("GET /console/login: %d, want 200 (the console is served)", code)
	}
	if code := do(http.MethodGet, "/v1/decisions"); code != http.StatusOK {
		t.Errorf("GET /v1/decisions with the demo token: %d, want 200", code)
	}
	if code := do(http.MethodGet, "/v1/executions"); code != http.StatusOK {
		t.Errorf("GET /v1/executions with the demo token: %d, want 200", code)
	}
	if code := do(http.MethodPost, "/v1/action"); code != http.StatusForbidden {
		t.Errorf("POST /v1/action with the read-only demo token: %d, want 403", code)
	}
	// alexisctl works with the environment the demo prints.
	env := regexp.MustCompile(`export (ALEXIS_URL=\S+) (ALEXIS_CLASSIFIER_URL=\S+) (ALEXIS_TOKEN_FILE=\S+)`).FindStringSubmatch(got)
	if env == nil {
		t.Fatalf("no alexisctl export line in:\n%s", got)
	}
	ctl := filepath.Join(t.TempDir(), "alexisctl")
	root, err := stack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", ctl, "./actionhandler/cmd/alexisctl")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build alexisctl: %v\n%s", err, b)
	}
	for _, args := range [][]string{{"executions", "list"}, {"alerts", "list"}, {"rules", "list"}} {
		cmd := exec.Command(ctl, args...)
		cmd.Env = append(os.Environ(), env[1:]...)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), stack.DemoRule) {
			t.Errorf("alexisctl %s with the demo's environment: %v\n%s", strings.Join(args, " "), err, b)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo -keep after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo -keep did not stop after its context ended")
	}
}

func TestLogfmt(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       map[string]string
	}{
		{"plain", `level=info event=rule_matched rule_name=r1`, map[string]string{"level": "info", "event": "rule_matched", "rule_name": "r1"}},
		{"quoted", `msg="no rule matched; routing" count=1`, map[string]string{"msg": "no rule matched; routing", "count": "1"}},
		{"escaped quote", `msg="a \"b\" c" x=y`, map[string]string{"msg": `a "b" c`, "x": "y"}},
		{"unterminated", `msg="abc`, map[string]string{"msg": "ab"}},
		{"bare word", `hello k=v`, map[string]string{"k": "v"}},
		{"empty value", `k= x=1`, map[string]string{"k": "", "x": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := logfmt(tc.line)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q (all: %q)", k, got[k], v, got)
				}
			}
		})
	}
}

// Alert text, notes and command lines reach a terminal: no escape
// sequences or line breaks pass.
func TestCleanDropsControlCharacters(t *testing.T) {
	in := "ok \x1b[2J\x1b]0;title\x07 next\nline\r\u202e"
	got := clean(in)
	if strings.ContainsAny(got, "\x1b\x07\n\r\u202e") {
		t.Errorf("clean(%q) = %q still has control characters", in, got)
	}
	if !strings.HasPrefix(got, "ok ") {
		t.Errorf("clean(%q) = %q lost the text", in, got)
	}
}

// -dir wipes only what an earlier run made.
func TestDemoRefusesToWipeAForeignDir(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	err := run(context.Background(), &out, options{dir: dir, tick: time.Second, timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "refusing to wipe") {
		t.Fatalf("run with a foreign -dir: %v, want a refusal", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the foreign directory's file is gone: %v", err)
	}
	// An earlier run's directory (with the marker) is wiped.
	if err := os.WriteFile(filepath.Join(dir, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := wipe(dir, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keep); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an earlier run's directory was not wiped: %v", err)
	}
}
