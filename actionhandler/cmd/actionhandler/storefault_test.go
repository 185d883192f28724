package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

// smallDisk mounts a tmpfs of size on a new directory for the test (root
// only; the test is skipped otherwise) and unmounts it at the end.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root: run as root to test a full or read-only store disk")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): needs CAP_SYS_ADMIN", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// fill writes a file on dir until the disk is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

// postRaw posts an action and returns the status, the Retry-After header
// and the body.
func (s *instance) postRaw(t *testing.T, a opsgenietest.Alert, details map[string]any, r map[string]any) (int, string, []byte) {
	t.Helper()
	base := map[string]any{"enabled": true, "os_type": "linux", "alert_feed": "OpsGenie",
		"when": map[string]any{"path": "tags", "op": "tags_include", "value": []string{"t"}}, "route_to_team": "ops_unix",
		"entity_type": "explicit", "entities": []string{s.ssh.Addr}}
	for k, v := range r {
		base[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "message": a.Message, "tags": []string{"t"}, "details": details,
		"alexis": map[string]string{"unique_key": "tinyId", "unique_value": a.TinyID, "feed_type": "OpsGenie", "feed_name": "incoming"},
		"rule":   base,
	})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/action", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), b
}

// TestStoreDiskFull puts the SQLite store on a 4 MiB tmpfs and fills it
// up: a new action is answered 503 with Retry-After and a clear error, the
// store_error log line says the disk is full, nothing of it is recorded
// (the same request is accepted as new once there is room again, not
// answered as a duplicate), and the service recovers without a restart;
// every command ran exactly once.
func TestStoreDiskFull(t *testing.T) {
	disk := smallDisk(t, "4m")
	s := startDB(t, false, "5s", "", nil, "sqlite_path: "+filepath.Join(disk, "actionhandler.db"))
	marker := filepath.Join(s.dir, "ran")
	rule := func(name string) map[string]any {
		return map[string]any{"rule_name": name, "task_list": ssh("echo " + name + " >> " + marker)}
	}
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "before", Teams: []string{"incoming"}})
	code, _, body := s.postRaw(t, a, nil, rule("before"))
	if code != http.StatusAccepted {
		t.Fatalf("before: %d %s", code, body)
	}
	var first api.ActionAccepted
	_ = json.Unmarshal(body, &first)
	s.reported(t, first.ExecutionID)

	fill(t, disk)
	// Big enough to need new pages in the database and its log.
	details := map[string]any{"blob": strings.Repeat("x", 600<<10)}
	b := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "during", Teams: []string{"incoming"}})
	code, retry, body := s.postRaw(t, b, details, rule("during"))
	if code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(string(body), "execution store unavailable") {
		t.Errorf("disk full: %d Retry-After %q %s", code, retry, body)
	}
	var storeErr string
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, "event=store_error") && strings.Contains(l, "alert_id="+b.ID) {
			storeErr = l
		}
	}
	if !strings.Contains(storeErr, "disk is full") {
		t.Errorf("store_error line %q does not say the disk is full", storeErr)
	}

	os.Remove(filepath.Join(disk, "filler"))
	code, _, body = s.postRaw(t, b, details, rule("during"))
	if code != http.StatusAccepted {
		t.Fatalf("after the fault: %d %s (want 202: the refused request left nothing behind)", code, body)
	}
	var acc api.ActionAccepted
	_ = json.Unmarshal(body, &acc)
	if x := s.reported(t, acc.ExecutionID); x.Status != api.ExecSuccess {
		t.Errorf("after the fault: %+v", x)
	}
	var l api.ExecutionList
	s.get(t, "/v1/executions?alert_id="+b.ID, &l)
	if len(l.Executions) != 1 {
		t.Errorf("executions for the alert posted during the fault: %d, want 1", len(l.Executions))
	}
	if got, _ := os.ReadFile(marker); string(got) != "before\nduring\n" {
		t.Errorf("commands ran: %q, want each once", got)
	}
	if err := s.stop(); err != nil {
		t.Errorf("service: %v", err)
	}
}

// TestStoreDiskFullWhileRunning fills the store's disk while a command
// runs, so its outcome cannot be recorded when it ends: the engine tries
// again (store_error ... trying again) and, once there is room, records
// the real outcome (success, with its output), not "interrupted"; the
// execution is written back once and its command ran once, without a
// restart.
func TestStoreDiskFullWhileRunning(t *testing.T) {
	disk := smallDisk(t, "4m")
	s := startDB(t, false, "5s", "", nil, "sqlite_path: "+filepath.Join(disk, "actionhandler.db")+", lease: 10s")
	marker := filepath.Join(s.dir, "ran")
	gate := filepath.Join(s.dir, "gate")
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "running", Teams: []string{"incoming"}})
	code, _, body := s.postRaw(t, a, nil, map[string]any{"rule_name": "gated",
		"task_list": ssh("echo ran >> " + marker + "; while [ ! -e " + gate + " ]; do sleep 0.05; done; head -c 200000 /dev/zero | tr '\\0' o")})
	if code != http.StatusAccepted {
		t.Fatalf("post: %d %s", code, body)
	}
	var acc api.ActionAccepted
	_ = json.Unmarshal(body, &acc)
	waitFor(t, "the command to start", func() bool { return countLines(marker) == 1 })
	fill(t, disk)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Let the execution fail to record its outcome on the full disk.
	waitFor(t, "a store error", func() bool { return strings.Contains(s.logs.String(), "event=store_error") })
	os.Remove(filepath.Join(disk, "filler"))
	x := s.reported(t, acc.ExecutionID)
	if x.Status != api.ExecSuccess || len(x.Steps) != 1 || x.Steps[0].Status != api.ExecSuccess ||
		!strings.HasPrefix(x.Steps[0].Stdout, "ooo") {
		t.Errorf("execution %s (%s), want its real outcome: %+v", x.Status, x.Reason, x.Steps)
	}
	if n := countLines(marker); n != 1 {
		t.Errorf("the command ran %d times", n)
	}
	waitFor(t, "the note", func() bool { return len(s.og.Notes(a.ID)) > 0 })
	if notes := s.og.Notes(a.ID); len(notes) != 1 {
		t.Errorf("notes %q, want one", notes)
	}
	var l api.ExecutionList
	s.get(t, "/v1/executions?alert_id="+a.ID, &l)
	if len(l.Executions) != 1 {
		t.Errorf("executions %d, want 1", len(l.Executions))
	}
}

// TestStoreReadOnly starts the action handler on a store whose file system
// is read-only: it refuses to start with an error naming the store, and
// does not crash.
func TestStoreReadOnly(t *testing.T) {
	disk := smallDisk(t, "4m")
	db := filepath.Join(disk, "actionhandler.db")
	s := startDB(t, false, "5s", "", nil, "sqlite_path: "+db)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "before", Teams: []string{"incoming"}})
	_, _, body := s.postRaw(t, a, nil, map[string]any{"rule_name": "before", "task_list": ssh("true")})
	var acc api.ActionAccepted
	_ = json.Unmarshal(body, &acc)
	s.reported(t, acc.ExecutionID)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mount", "-o", "remount,ro", disk)
	defer mustRun(t, "mount", "-o", "remount,rw", disk)

	cfg, err := os.ReadFile(filepath.Join(s.dir, "actionhandler.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	err = run(context.Background(), []string{"-config", filepath.Join(s.dir, "actionhandler.yaml")}, &logs, &logs)
	if err == nil || !strings.Contains(err.Error(), db) || !strings.Contains(strings.ToLower(err.Error()), "read-only") {
		t.Errorf("start on a read-only store: %v, want an error naming %s and saying read-only\n%s\n%s", err, db, logs.String(), cfg)
	}
}
