package sshexec

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/sshdtest"
)

func TestStepKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		id       string
		index    int
		entity   string
		otherID  string
		otherIdx int
	}{
		{name: "plain", id: "x1", index: 0, entity: "web01", otherID: "x2", otherIdx: 0},
		{name: "hostile entity", id: "x1", index: 3, entity: "../../etc/passwd; $(reboot)\n", otherID: "x1", otherIdx: 4},
		{name: "separator spoof", id: "x1\x001", index: 0, entity: "web01", otherID: "x1", otherIdx: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := StepKey(tc.id, tc.index, tc.entity)
			if !validKey(k) || k != StepKey(tc.id, tc.index, tc.entity) {
				t.Fatalf("key %q: not a stable 32-digit hex name", k)
			}
			if k == StepKey(tc.otherID, tc.otherIdx, tc.entity) {
				t.Errorf("%q: same key for another step", k)
			}
		})
	}
	for _, bad := range []string{"", "../x", strings.Repeat("A", 32), strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("a", 31) + "/"} {
		if validKey(bad) {
			t.Errorf("validKey(%q)", bad)
		}
	}
}

// A command run with a step key records "PID START" in its step file under
// the login user's home while it runs (directory 0700), its output and exit
// status unchanged, and the file is gone once it ended: exited, failed or
// killed at its timeout.
func TestStepFileWhileRunning(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, func(o *Options) { o.CommandTimeout = 20 * time.Second })
	exists := func(t *testing.T, key string) bool {
		t.Helper()
		r := e.Run(context.Background(), srv.Addr, "test -e "+stepFile(key)+" && echo yes; exit 0")
		if r.Err != nil {
			t.Fatalf("look for the step file: %v", r.Err)
		}
		return strings.TrimSpace(r.Stdout.Text) == "yes"
	}
	for i, tc := range []struct {
		name    string
		cmd     string
		timeout time.Duration
		exit    int
		stderr  string
	}{
		{name: "success", cmd: `cat "$HOME/.alexis-steps/KEY"; stat -c %a "$HOME/.alexis-steps"; echo $$`, exit: 0},
		{name: "exit status kept", cmd: `echo oops >&2; exit 3`, exit: 3, stderr: "oops\n"},
		{name: "last command fails", cmd: `false`, exit: 1},
		{name: "killed at timeout", cmd: `sleep 600`, timeout: time.Second, exit: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := StepKey("step-file-"+filepath.Base(t.TempDir()), i, srv.Addr)
			var started Process
			r := e.Exec(context.Background(), Request{Entity: srv.Addr, Key: key, Timeout: tc.timeout,
				Command: strings.ReplaceAll(tc.cmd, "KEY", key), Started: func(p Process) { started = p }})
			if r.ExitCode != tc.exit || r.Stderr.Text != tc.stderr {
				t.Fatalf("exit %d stderr %q, want %d %q (%v)", r.ExitCode, r.Stderr.Text, tc.exit, tc.stderr, r.Err)
			}
			if tc.timeout > 0 && !errors.Is(r.Err, ErrTimeout) {
				t.Fatalf("err %v, want a timeout", r.Err)
			}
			if tc.name == "success" {
				want := strconv.Itoa(started.PID) + " " + started.Start + "\n700\n" + strconv.Itoa(started.PID) + "\n"
				if started.PID <= 1 || r.Stdout.Text != want {
					t.Errorf("while running the step file and directory mode said %q, want %q", r.Stdout.Text, want)
				}
			}
			if exists(t, key) {
				t.Errorf("the step file is left after the command ended")
			}
		})
	}
	// Without a key, nothing is recorded: no step file names the running
	// command's shell.
	r := e.Run(context.Background(), srv.Addr, `grep -ls "^$$ " "$HOME/.alexis-steps"/* 2>/dev/null; echo done`)
	if r.Err != nil || r.Stdout.Text != "done\n" {
		t.Errorf("a command without key has a step file: %q (%v)", r.Stdout.Text, r.Err)
	}
}

// The process taking over finds a command whose pid never reached it by
// the step file, kills it only if pid and start time still match, and
// removes the file.
func TestKillLeftoverFromStepFile(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	dying, _ := newExecutor(t, srv, nil)
	other, _ := newExecutor(t, srv, nil)
	dir := t.TempDir()
	key := StepKey("from-file-"+filepath.Base(dir), 0, srv.Addr)
	pidFile := filepath.Join(dir, "pid")
	done := make(chan *Result, 1)
	go func() {
		// No Started: the pid is known only on the host.
		done <- dying.Exec(context.Background(), Request{Entity: srv.Addr, Key: key, Command: "echo $$ > " + pidFile + "; sleep 600"})
	}()
	pid := pidIn(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	l, err := other.KillLeftover(context.Background(), srv.Addr, key, Process{})
	if err != nil || !l.Killed || l.Process.PID != pid || !digits(l.Process.Start) {
		t.Fatalf("kill by step file: %+v %v, the command's shell is %d", l, err, pid)
	}
	waitGone(t, pid)
	if r := <-done; r.Err == nil {
		t.Errorf("the killed command's result: %+v", r)
	}
	// The file is gone: nothing more is known, nothing is killed.
	if l, err := other.KillLeftover(context.Background(), srv.Addr, key, Process{}); err != nil || l != (Leftover{}) {
		t.Errorf("after the kill: %+v %v", l, err)
	}

	// A step file naming a live process with another start time (the pid
	// reused since): left alone, file removed.
	victim := exec.Command("sleep", "600")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { victim.Process.Kill(); victim.Wait() }()
	stale := StepKey("stale-"+filepath.Base(dir), 0, srv.Addr)
	vp := strconv.Itoa(victim.Process.Pid)
	if r := other.Run(context.Background(), srv.Addr, `mkdir -p -m 700 "$HOME/.alexis-steps" && echo `+vp+` 1 > `+stepFile(stale)); r.Err != nil {
		t.Fatal(r.Err)
	}
	l, err = other.KillLeftover(context.Background(), srv.Addr, stale, Process{})
	if err != nil || l.Killed || l.Process.PID != victim.Process.Pid {
		t.Errorf("stale step file: %+v %v", l, err)
	}
	if !alive(victim.Process.Pid) {
		t.Fatal("a process with another start time was killed")
	}
	if r := other.Run(context.Background(), srv.Addr, "test -e "+stepFile(stale)+" && echo left; exit 0"); r.Stdout.Text != "" {
		t.Error("the stale step file was not removed")
	}

	// A step file that does not hold a pid: an error, nothing killed.
	junk := StepKey("junk-"+filepath.Base(dir), 0, srv.Addr)
	other.Run(context.Background(), srv.Addr, `echo 'x; reboot' > `+stepFile(junk))
	defer other.Run(context.Background(), srv.Addr, "rm -f "+stepFile(junk))
	if l, err := other.KillLeftover(context.Background(), srv.Addr, junk, Process{}); err == nil || l.Killed {
		t.Errorf("junk step file: %+v %v", l, err)
	}
}

// The prefix writes the step file only into a directory of its own: not
// through a symbolic link, not into one another user owns, and never stops
// the command when it cannot record. Run with each POSIX shell installed.
func TestStepFilePrefixPlaces(t *testing.T) {
	key := StepKey("prefix", 0, "h")
	var shells []string
	for _, sh := range []string{"sh", "dash", "bash", "busybox"} {
		if _, err := exec.LookPath(sh); err == nil {
			shells = append(shells, sh)
		}
	}
	for _, sh := range shells {
		for _, tc := range []struct {
			name    string
			setup   func(t *testing.T, home, elsewhere string)
			written bool // the step file exists while the command runs
		}{
			{name: "created", written: true},
			{name: "existing private directory", written: true, setup: func(t *testing.T, home, _ string) {
				if err := os.Mkdir(filepath.Join(home, StepDir), 0o700); err != nil {
					t.Fatal(err)
				}
			}},
			{name: "symbolic link", setup: func(t *testing.T, home, elsewhere string) {
				if err := os.Symlink(elsewhere, filepath.Join(home, StepDir)); err != nil {
					t.Fatal(err)
				}
			}},
			{name: "a file in the way", setup: func(t *testing.T, home, _ string) {
				if err := os.WriteFile(filepath.Join(home, StepDir), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}},
			{name: "owned by another user", setup: func(t *testing.T, home, _ string) {
				if os.Geteuid() != 0 {
					t.Skip("needs root to give a directory away")
				}
				d := filepath.Join(home, StepDir)
				if err := os.Mkdir(d, 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(d, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}},
			{name: "no home"},
		} {
			t.Run(sh+"/"+tc.name, func(t *testing.T) {
				home, elsewhere := t.TempDir(), t.TempDir()
				if tc.setup != nil {
					tc.setup(t, home, elsewhere)
				}
				file := filepath.Join(home, StepDir, key)
				script := prefix(key, "0123abcd") + `if [ -e "` + file + `" ]; then echo written; fi; echo ran; exit 4`
				args := []string{"-c", script}
				if sh == "busybox" {
					args = append([]string{"sh"}, args...)
				}
				cmd := exec.Command(sh, args...)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
				if tc.name == "no home" {
					cmd.Env = cmd.Env[:1]
				}
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 4 {
					t.Fatalf("exit: %v, want 4", err)
				}
				want := "ran\n"
				if tc.written {
					want = "written\nran\n"
				}
				if stdout.String() != want {
					t.Errorf("stdout %q, want %q", stdout.String(), want)
				}
				if !strings.HasPrefix(stderr.String(), pidMarker+"0123abcd ") || strings.Count(stderr.String(), "\n") != 1 {
					t.Errorf("stderr %q: want only the pid line", stderr.String())
				}
				if _, err := os.Stat(file); err == nil {
					t.Error("the step file is left after the command ended")
				}
				if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
					t.Errorf("written through the link: %v", ents)
				}
				if tc.written {
					if fi, err := os.Stat(filepath.Join(home, StepDir)); err != nil || fi.Mode().Perm() != 0o700 {
						t.Errorf("step directory: %v %v", fi, err)
					}
				}
			})
		}
	}
}

// TestTimeoutBeforeThePidKilledByStepFile: the host's pid line never
// arrives (a forced command sends the session's stderr nowhere), so when
// the command's time is up only its step file names it. It is killed all
// the same, and its step file removed.
func TestTimeoutBeforeThePidKilledByStepFile(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{ExtraConfig: []string{
		`ForceCommand exec 2>/dev/null; eval "$SSH_ORIGINAL_COMMAND"`}})
	e, _ := newExecutor(t, srv, func(o *Options) { o.CommandTimeout = 3 * time.Second })
	marker := uniqueMarker(t)
	key := StepKey("timeout-before-pid", 0, srv.Addr)
	file := filepath.Join(srv.Home, StepDir, key) // the sessions' HOME
	r := e.Exec(context.Background(), Request{Entity: srv.Addr, Command: "sleep " + marker, Key: key})
	if !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("err %v, want a timeout", r.Err)
	}
	eventually(t, "the command's processes gone", func() bool { return len(processesOf(marker)) == 0 })
	eventually(t, "the step file removed", func() bool { _, err := os.Stat(file); return os.IsNotExist(err) })
}

// A host whose login files print to stderr before the command prefix runs
// (a noisy ~/.bashrc, a pyenv rehash racing another login) still reports
// the pid: the lines before the pid line are passed on as the command's
// stderr, and the command is killed at its timeout by that pid.
func TestPidLineAfterLoginNoise(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{ExtraConfig: []string{
		`ForceCommand printf 'login noise\n` + pidMarker + `1234 5\n' >&2; eval "$SSH_ORIGINAL_COMMAND"`}})
	e, _ := newExecutor(t, srv, func(o *Options) { o.CommandTimeout = 20 * time.Second })
	var started Process
	r := e.Exec(context.Background(), Request{Entity: srv.Addr, Command: `echo $$; echo own >&2`,
		Started: func(p Process) { started = p }})
	if r.Err != nil || r.Stderr.Text != "login noise\n"+pidMarker+"1234 5\nown\n" {
		t.Fatalf("stderr %q (%v), want the login noise and the command's own", r.Stderr.Text, r.Err)
	}
	if started.PID <= 1 || r.Stdout.Text != strconv.Itoa(started.PID)+"\n" {
		t.Fatalf("started %+v, the command's shell said %q", started, r.Stdout.Text)
	}

	marker := uniqueMarker(t)
	r = e.Exec(context.Background(), Request{Entity: srv.Addr, Command: "sleep " + marker, Timeout: time.Second,
		Started: func(p Process) { started = p }})
	if !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("err %v, want a timeout", r.Err)
	}
	eventually(t, "the command's processes gone", func() bool { return len(processesOf(marker)) == 0 })
}

// The pid line is the one with the run's nonce, in whatever pieces it
// arrives; a line in the marker's old shape or another run's nonce is
// stderr like any other, and the search ends after pidSearchLimit bytes.
func TestPidWriter(t *testing.T) {
	const nonce = "00ff00ff00ff00ff"
	for _, tc := range []struct {
		name, in, stderr string
		pid              int
	}{
		{name: "first line", in: pidMarker + nonce + " 77 9\nerr\n", stderr: "err\n", pid: 77},
		{name: "after noise", in: "a\nb\n" + pidMarker + nonce + " 77 9\nerr\n", stderr: "a\nb\nerr\n", pid: 77},
		{name: "old shape", in: pidMarker + "77 9\nerr\n", stderr: pidMarker + "77 9\nerr\n"},
		{name: "other nonce", in: pidMarker + "1111111111111111 77 9\n", stderr: pidMarker + "1111111111111111 77 9\n"},
		{name: "bad pid", in: pidMarker + nonce + " x 9\nerr\n", stderr: "err\n"},
		{name: "no newline", in: "partial", stderr: "partial"},
		{name: "past the limit", in: strings.Repeat("n\n", pidSearchLimit) + pidMarker + nonce + " 77 9\n",
			stderr: strings.Repeat("n\n", pidSearchLimit) + pidMarker + nonce + " 77 9\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int{1, 3, len(tc.in)} {
				w := &pidWriter{next: &capWriter{limit: 1 << 20}, marker: []byte(pidMarker + nonce + " ")}
				for in := tc.in; in != ""; {
					n := min(size, len(in))
					if k, err := w.Write([]byte(in[:n])); k != n || err != nil {
						t.Fatalf("write: %d %v", k, err)
					}
					in = in[n:]
				}
				w.finish()
				if got := w.next.output().Text; got != tc.stderr || w.PID() != tc.pid {
					t.Errorf("pieces of %d: stderr %.200q (%d bytes) pid %d, want %.200q (%d bytes) %d",
						size, got, len(got), w.PID(), tc.stderr, len(tc.stderr), tc.pid)
				}
			}
		})
	}
}
