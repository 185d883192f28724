package main

import (
	"database/sql"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	_ "modernc.org/sqlite" // to read the store while the service runs
)

// silentHost accepts TCP connections and never sends a byte (no SSH
// banner); it holds them until the test ends.
func silentHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// closedPort is an address where nothing listens (connection refused).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readInt(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// TestSSHHostFaults: a host that accepts TCP but never speaks SSH, one
// that refuses the connection, and one whose SSH connection drops while
// the command runs (its sshd session process is killed). Each step fails
// with an error naming what happened, ended by the configured timeouts or
// the drop itself (not by the 30s command timeout), the execution finishes
// and is written back, nothing runs twice, and the service goes on running
// commands afterwards.
func TestSSHHostFaults(t *testing.T) {
	s := start(t, false) // ssh.connect_timeout 5s, command_timeout 30s
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	ppid := filepath.Join(dir, "ppid")
	shell := filepath.Join(dir, "shell")
	t.Cleanup(func() {
		if pid := readInt(shell); pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	for _, tc := range []struct {
		name    string
		entity  string
		cmd     string
		during  func(t *testing.T, id string) // while execution id runs
		wantErr string
		wantRan int
		// the command outlived the connection and was killed afterwards
		wantKill bool
	}{
		{name: "no banner", entity: silentHost(t), cmd: "echo run >> " + count, wantErr: "connect timeout"},
		{name: "connection refused", entity: closedPort(t), cmd: "echo run >> " + count, wantErr: "connection refused"},
		{
			name:   "connection drops mid-command",
			entity: s.ssh.Addr,
			cmd:    "echo $$ > " + shell + "; echo $PPID > " + ppid + "; echo run >> " + count + "; sleep 30",
			during: func(t *testing.T, id string) {
				waitFor(t, "the command to start", func() bool { return readInt(ppid) > 1 && countLines(count) == 1 })
				// Drop the connection once the host's report of the
				// command's pid has been recorded (what the action handler
				// needs to find it again), not before.
				db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "actionhandler.db")+"?mode=ro&_pragma=busy_timeout(5000)")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				waitFor(t, "the remote pid recorded", func() bool {
					var pid int
					err := db.QueryRow(`SELECT remote_pid FROM steps WHERE execution_id = ?`, id).Scan(&pid)
					return err == nil && pid == readInt(shell)
				})
				// The shell's parent is the sshd process holding this
				// connection: killing it drops the connection.
				if err := syscall.Kill(readInt(ppid), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			},
			wantErr:  "no exit status",
			wantRan:  1,
			wantKill: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(count)
			a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: tc.name, Teams: []string{"incoming"}})
			code, acc := s.postJSON(t, a, nil, map[string]any{"rule_name": "fault", "entities": []string{tc.entity},
				"task_list": ssh(tc.cmd)})
			if code != http.StatusAccepted {
				t.Fatalf("post: %d", code)
			}
			if tc.during != nil {
				tc.during(t, acc.ExecutionID)
			}
			x := s.reported(t, acc.ExecutionID)
			if x.Status != api.ExecFailure || len(x.Steps) != 1 {
				t.Fatalf("execution %s with %d steps: %+v", x.Status, len(x.Steps), x)
			}
			st := x.Steps[0]
			if st.Status != api.ExecFailure || !strings.Contains(st.Error, tc.wantErr) || st.ExitCode != nil {
				t.Errorf("step %s exit %v error %q, want failure with %q", st.Status, st.ExitCode, st.Error, tc.wantErr)
			}
			if strings.Contains(st.Error, "still running after") {
				t.Errorf("ended by the command timeout, not by the fault: %q", st.Error)
			}
			if tc.wantKill {
				// Without a pty the host does not stop a command whose
				// connection dropped: it must not go on running after the
				// step was reported failed.
				if pid := readInt(shell); pid <= 1 || alive(pid) {
					t.Errorf("the dropped command (pid %d) still runs on the host", pid)
				}
				if !strings.Contains(st.Error, "was still running and was killed") {
					t.Errorf("step error %q does not say the command was killed", st.Error)
				}
			}
			if n := countLines(count); n != tc.wantRan {
				t.Errorf("the command ran %d times, want %d", n, tc.wantRan)
			}
			// Not run again: one execution, one step, and the alert got
			// its failure note once.
			var l api.ExecutionList
			s.get(t, "/v1/executions?alert_id="+a.ID, &l)
			if len(l.Executions) != 1 {
				t.Errorf("executions for the alert: %d", len(l.Executions))
			}
			waitFor(t, "the failure note", func() bool { return len(s.og.Notes(a.ID)) > 0 })
			if notes := s.og.Notes(a.ID); len(notes) != 1 || !strings.Contains(notes[0], tc.wantErr) {
				t.Errorf("notes %q", notes)
			}
			// The service still runs commands on the real host.
			b := s.og.CreateAlert(opsgenietest.AlertSpec{Message: tc.name + " after", Teams: []string{"incoming"}})
			_, ok := s.postJSON(t, b, nil, map[string]any{"rule_name": "after", "task_list": ssh("echo fine")})
			if x := s.reported(t, ok.ExecutionID); x.Status != api.ExecSuccess {
				t.Errorf("after the fault: %+v", x)
			}
			if n := countLines(count); n != tc.wantRan {
				t.Errorf("the command ran %d times by the end, want %d", n, tc.wantRan)
			}
		})
	}
}

// TestHugeOutputBounded runs a command printing 300 MB on a real sshd
// through the whole service: the heap stays far below the output's size
// (sampled with runtime.MemStats while it runs), the step is stored capped
// at ssh.output_limit (default 64 KiB) and marked truncated in the API, and
// the note is trimmed.
func TestHugeOutputBounded(t *testing.T) {
	const size = 300 << 20
	s := start(t, false)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "huge", Teams: []string{"incoming"}})
	// Generous times: 330 MB through SSH under the race detector on a
	// loaded machine may take minutes.
	task := ssh("yes | head -c " + strconv.Itoa(size) + "; yes e | head -c " + strconv.Itoa(size/10) + " >&2")
	task[0].(map[string]any)["task"].(map[string]any)["timeout"] = "10m"
	_, acc := s.postJSON(t, a, nil, map[string]any{"rule_name": "huge", "task_list": task})
	var x api.Execution
	deadline := time.Now().Add(10 * time.Minute)
	for x.ReportedAt == nil {
		if time.Now().After(deadline) {
			t.Fatalf("execution %s not reported after 10 minutes", acc.ExecutionID)
		}
		time.Sleep(100 * time.Millisecond)
		x = api.Execution{}
		s.get(t, "/v1/executions/"+acc.ExecutionID, &x)
	}
	close(stop)
	<-sampled
	if x.Status != api.ExecSuccess || len(x.Steps) != 1 {
		t.Fatalf("execution: %+v", x)
	}
	st := x.Steps[0]
	const limit = 64 << 10
	if !st.Truncated || len(st.Stdout) == 0 || len(st.Stdout) > limit || len(st.Stderr) == 0 || len(st.Stderr) > limit {
		t.Errorf("step truncated=%v stdout %d bytes stderr %d bytes, want truncated, each at most %d", st.Truncated, len(st.Stdout), len(st.Stderr), limit)
	}
	if strings.Trim(st.Stdout, "y\n") != "" {
		t.Errorf("stdout is not the command's: %.80q", st.Stdout)
	}
	growth := int64(peak) - int64(base.HeapAlloc)
	t.Logf("heap: %d MiB before, peak %d MiB (growth %d MiB) for %d MiB of output", base.HeapAlloc>>20, peak>>20, growth>>20, size>>20)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB for %d MiB of output", growth>>20, size>>20)
	}
	notes := strings.Join(s.og.Notes(a.ID), "\n")
	if !strings.Contains(notes, "[trimmed]") || len(notes) > 25000 {
		t.Errorf("note %d bytes, trimmed marker: %v", len(notes), strings.Contains(notes, "[trimmed]"))
	}
}
