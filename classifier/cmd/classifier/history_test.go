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
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/record/recordtest"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

const historyToken = "classifier-history-token-0123456789abcdef"

// startForHistory runs the service with extra configuration appended, one
// rule and an action handler accepting everything; stop cancels it and
// waits for run to return.
func startForHistory(t *testing.T, extra string) (base string, logs *logtest.Buffer, stop func()) {
	t.Helper()
	ah := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(api.ActionAccepted{ExecutionID: "exec-hist", Status: api.ExecQueued})
	}))
	t.Cleanup(ah.Close)
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
log: {format: logfmt, level: info}
rules_dir: %s
action_handlers: {linux: %s/v1/action}
action_handler_token_file: %s
default_investigation_queue: ops_investigation
%s`, writeFile(t, filepath.Join(dir, "tokens"), "poller:"+clientToken+"\n"), rulesDir, ah.URL,
		writeFile(t, filepath.Join(dir, "ah_token"), ahToken+"\n"),
		strings.ReplaceAll(extra, "DIR", dir)))
	writeFile(t, filepath.Join(dir, "history_token"), historyToken+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	logs = &logtest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg}, io.Discard, logs) }()
	base = "http://" + waitListening(t, logs, done)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return base, logs, stop
}

func postAlert(t *testing.T, base string) {
	t.Helper()
	envelope, err := os.ReadFile("../../testdata/alerts/gc_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/classifier", bytes.NewReader(envelope))
	req.Header.Set("Authorization", "Bearer "+clientToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("classify: %d %s", resp.StatusCode, answer)
	}
}

// With a history block the service records each decision; what is still
// buffered when it stops is sent before run returns (flush_interval is
// longer than the test). The token is in no log line.
func TestRunRecordsDecisions(t *testing.T) {
	hist := recordtest.New(t, historyToken)
	base, logs, stop := startForHistory(t, "history: {url: '"+hist.URL+"', token_file: DIR/history_token, flush_interval: 1m}\n")
	postAlert(t, base)
	if n := len(hist.Batches()); n != 0 {
		t.Fatalf("%d batches before the flush interval", n)
	}
	stop()
	got := hist.Recorded()
	if len(got) != 1 || got[0].Result != api.ResultMatched || len(got[0].Matched) != 1 ||
		got[0].Matched[0].ExecutionID != "exec-hist" || got[0].RequestedBy != "poller" || len(got[0].Rules) != 1 {
		t.Fatalf("recorded %+v", got)
	}
	out := logs.String()
	for _, want := range []string{"event=history_enabled", `msg=starting`, "version=dev"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "event=history_disabled") || strings.Contains(out, historyToken) {
		t.Errorf("logs:\n%s", out)
	}
}

// Without a history block nothing is recorded, and the start says so once.
func TestRunHistoryDisabled(t *testing.T) {
	_, logs, stop := startForHistory(t, "")
	stop()
	if n := strings.Count(logs.String(), "event=history_disabled"); n != 1 {
		t.Errorf("%d history_disabled lines:\n%s", n, logs)
	}
}
