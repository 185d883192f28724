package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/task"
)

func writePlugin(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	// echo-input keeps what it read in $OUT and answers.
	writePlugin(t, dir, "echo-input", `cat > "$OUT"
printf '{"status": "success", "message": "restarted %s on %s", "output": "done"}' "$NS" "$ALEXIS_ENTITY"
`)
	writePlugin(t, dir, "fails", `echo '{"status": "failure", "message": "pod not found"}'`)
	writePlugin(t, dir, "crashes", `echo '{"status": "success"}'; echo trace >&2; exit 2`)
	writePlugin(t, dir, "garbage", `echo 'not json'`)
	writePlugin(t, dir, "bad-status", `echo '{"status": "ok"}'`)
	os.WriteFile(filepath.Join(dir, "not-exec"), []byte("#!/bin/sh\n"), 0o644)
	outside := t.TempDir()
	writePlugin(t, outside, "evil", `echo '{"status": "success"}'`)

	r := New(Options{Dir: dir})
	input := filepath.Join(t.TempDir(), "input.json")
	req := []byte(`{"id": "a1", "alexis": {"feed_type": "OpsGenie"}, "rule": {"rule_name": "r"}}`)
	for _, tc := range []struct {
		name, plugin string
		stdout       string
		errMsg       string
		err          error
	}{
		{name: "answer", plugin: "echo-input", stdout: "restarted prod on app01\ndone"},
		{name: "reported failure", plugin: "fails", stdout: "pod not found", errMsg: "pod not found"},
		{name: "non-zero exit", plugin: "crashes", errMsg: "exit status 2"},
		{name: "no JSON", plugin: "garbage", stdout: "not json\n", errMsg: "no valid JSON answer"},
		{name: "unknown status", plugin: "bad-status", errMsg: `status "ok"`},
		{name: "not executable", plugin: "not-exec", err: ErrNoPlugin},
		{name: "missing", plugin: "nope", err: ErrNoPlugin},
		{name: "path traversal", plugin: "../" + filepath.Base(outside) + "/evil", err: ErrNoPlugin},
		{name: "absolute path", plugin: filepath.Join(outside, "evil"), err: ErrNoPlugin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.Run(context.Background(), task.Step{ExecutionID: "x1", Entity: "app01", Request: req,
				Task: task.Task{TaskType: Name, Params: &Params{Plugin: tc.plugin, Env: map[string]string{"NS": "prod", "OUT": input}}}})
			if tc.stdout != "" && res.Stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", res.Stdout, tc.stdout)
			}
			switch {
			case tc.err != nil && !errors.Is(res.Err, tc.err),
				tc.errMsg != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errMsg)),
				tc.err == nil && tc.errMsg == "" && res.Err != nil:
				t.Errorf("err %v, want %v %q", res.Err, tc.err, tc.errMsg)
			}
		})
	}
	if res := New(Options{}).Run(context.Background(), task.Step{Task: task.Task{Params: &Params{Plugin: "x"}}}); !errors.Is(res.Err, ErrNoPlugin) ||
		!strings.Contains(res.Err.Error(), "disabled") {
		t.Errorf("no plugins dir: %v", res.Err)
	}
	if b, _ := os.ReadFile(input); string(b) != string(req) {
		t.Errorf("plugin read %q, want the merged request", b)
	}
	var a Answer
	if err := json.Unmarshal([]byte(`{"status":"success","message":"m","output":"o"}`), &a); err != nil || a.Message != "m" {
		t.Error("answer shape")
	}
}
