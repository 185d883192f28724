package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Logs go to stderr, as the poller's and the classifier's do; stdout is
// for what a subcommand prints (version, report).
func TestLogsGoToStderr(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A token file others can read is logged (a warning), then the
	// world-readable key refuses the start: one log line, then an error.
	cfg := write("actionhandler.yaml", "listen: 127.0.0.1:0\ntokens_file: "+write("tokens", "oncall:"+token+"\n", 0o644)+
		"\ninvestigation_queue: q\ndevelopment: true\nstore: {sqlite_path: "+filepath.Join(dir, "ah.db")+"}\n"+
		"ssh: {key_file: "+write("id_key", "not a key\n", 0o644)+"}\n", 0o600)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-config", cfg}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "ssh.key_file") {
		t.Fatalf("err %v, want the world-readable ssh.key_file refused", err)
	}
	if !strings.Contains(stderr.String(), "event=insecure_file_mode") || !strings.Contains(stderr.String(), "service=actionhandler") {
		t.Errorf("stderr %q lacks the insecure_file_mode log line", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing (logs go to stderr)", stdout.String())
	}
}
