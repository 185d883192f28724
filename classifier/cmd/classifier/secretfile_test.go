package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/tlstest"
)

// The classifier checks its secret files when it starts: those group or
// others can read are named in an insecure_file_mode warning (path and
// mode, never the content); a world-readable TLS key refuses the start.
func TestRunChecksSecretFileModes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // explicit: the umask cuts WriteFile's mode
			t.Fatal(err)
		}
		return p
	}
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := func(extra string) string {
		return write("classifier.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
rules_dir: %s
action_handlers: {linux: http://127.0.0.1:1/v1/action}
action_handler_token_file: %s
default_investigation_queue: ops_investigation
%s`, write("tokens", "poller:"+clientToken+"\n", 0o644), rulesDir, write("ah_token", ahToken+"\n", 0o600), extra), 0o600)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr logtest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", config("")}, &stdout, &stderr) }()
	waitListening(t, &stderr, done)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs := stderr.String()
	if !regexp.MustCompile(`event=insecure_file_mode field=tokens_file mode=0644 path=` + regexp.QuoteMeta(filepath.Join(dir, "tokens"))).MatchString(logs) {
		t.Errorf("no warning about the 0644 tokens file:\n%s", logs)
	}
	if strings.Contains(logs, "field=action_handler_token_file") {
		t.Errorf("the 0600 token file was warned about:\n%s", logs)
	}
	if strings.Contains(logs, clientToken) || strings.Contains(logs, ahToken) {
		t.Error("a token reached the log")
	}

	// A TLS key every user can read: the service does not start.
	files, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(files.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := make(chan error, 1)
	go func() {
		done2 <- run(ctx2, []string{"-config", config(fmt.Sprintf("tls: {cert_file: %s, key_file: %s}\n", files.CertFile, files.KeyFile))}, &stdout, &stderr)
	}()
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case err = <-done2:
			break wait
		case <-deadline:
			t.Fatalf("run neither refused nor started:\n%s", stderr.String())
		case <-time.After(10 * time.Millisecond):
			if listenRE.MatchString(stderr.String()) {
				cancel2()
				<-done2
				t.Fatalf("started with a world-readable TLS key:\n%s", stderr.String())
			}
		}
	}
	if err == nil || !strings.Contains(err.Error(), "tls.key_file") || !strings.Contains(err.Error(), "readable by every user") {
		t.Fatalf("run = %v, want a refusal naming tls.key_file", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(stderr.String(), "PRIVATE KEY") {
		t.Error("the key's content reached the error or the log")
	}
}
