package sshexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
	"golang.org/x/crypto/ssh"
)

func newExecutor(t *testing.T, srv *sshdtest.Server, edit func(*Options)) (*Executor, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	o := Options{
		User:           srv.User,
		KeyFile:        srv.ClientKeyFile,
		KnownHostsFile: srv.KnownHostsFile,
		ConnectTimeout: 10 * time.Second,
		CommandTimeout: time.Minute,
		Log:            logging.New(logs, "test", logging.Options{}),
	}
	if edit != nil {
		edit(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, logs
}

func TestRunEffect(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"})
	e, _ := newExecutor(t, srv, nil)
	file := filepath.Join(t.TempDir(), "effect")
	r := e.Run(context.Background(), srv.Addr, "echo restarted > "+file)
	if r.Err != nil || r.ExitCode != 0 {
		t.Fatalf("run: exit %d, err %v, stderr %q", r.ExitCode, r.Err, r.Stderr.Text)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "restarted\n" {
		t.Fatalf("effect file: %q, %v", b, err)
	}
	if r.Addr != srv.Addr || r.Elapsed <= 0 {
		t.Errorf("addr %q elapsed %v", r.Addr, r.Elapsed)
	}
}

func TestRunExitAndOutput(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, func(o *Options) { o.OutputLimit = 1000 })
	for _, tc := range []struct {
		name, cmd             string
		code                  int
		err                   error
		stdout, stderr        string
		stdoutTrunc, errTrunc bool
		stdoutSize            int64
	}{
		{name: "exit 0", cmd: "true", code: 0},
		{name: "exit 3", cmd: "exit 3", code: 3, err: ErrExitStatus},
		{name: "streams", cmd: "echo out; echo err >&2; echo more >&2", code: 0,
			stdout: "out\n", stderr: "err\nmore\n", stdoutSize: 4},
		{name: "stderr looking like the marker", cmd: "echo " + pidMarker + "x >&2; exit 1", code: 1,
			err: ErrExitStatus, stderr: pidMarker + "x\n"},
		{name: "truncated", cmd: "head -c 100000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero | tr '\\0' b >&2", code: 0,
			stdout: strings.Repeat("a", 1000), stderr: strings.Repeat("b", 1000),
			stdoutTrunc: true, errTrunc: true, stdoutSize: 100000},
		{name: "stdin is empty", cmd: "cat", code: 0},
		{name: "killed by signal", cmd: "kill -TERM $$", code: 128 + 15, err: ErrExitStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Run(context.Background(), srv.Addr, tc.cmd)
			if r.ExitCode != tc.code {
				t.Errorf("exit code %d, want %d (err %v)", r.ExitCode, tc.code, r.Err)
			}
			if tc.err == nil && r.Err != nil || tc.err != nil && !errors.Is(r.Err, tc.err) {
				t.Errorf("err %v, want %v", r.Err, tc.err)
			}
			if r.Stdout.Text != tc.stdout || r.Stderr.Text != tc.stderr {
				t.Errorf("stdout %.40q stderr %.40q, want %.40q %.40q", r.Stdout.Text, r.Stderr.Text, tc.stdout, tc.stderr)
			}
			if r.Stdout.Truncated != tc.stdoutTrunc || r.Stderr.Truncated != tc.errTrunc {
				t.Errorf("truncated %v/%v, want %v/%v", r.Stdout.Truncated, r.Stderr.Truncated, tc.stdoutTrunc, tc.errTrunc)
			}
			if r.Stdout.Size != tc.stdoutSize {
				t.Errorf("stdout size %d, want %d", r.Stdout.Size, tc.stdoutSize)
			}
		})
	}
}

func TestHostKeys(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.3:0"})
	for _, tc := range []struct {
		name     string
		known    string
		insecure bool
		want     error
	}{
		{name: "known", known: srv.HostKeyLine + "\n"},
		{name: "unknown", known: other.HostKeyLine + "\n", want: ErrHostKeyUnknown},
		{name: "empty known_hosts", known: "", want: ErrHostKeyUnknown},
		{name: "changed", known: srv.WrongHostKeyLine() + "\n", want: ErrHostKeyMismatch},
		{name: "revoked", known: "@revoked " + srv.HostKeyLine + "\n", want: ErrHostKeyRevoked},
		{name: "insecure ignores a changed key", known: srv.WrongHostKeyLine() + "\n", insecure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kh := write(strings.ReplaceAll(tc.name, " ", "_"), tc.known)
			e, logs := newExecutor(t, srv, func(o *Options) {
				o.KnownHostsFile = kh
				o.InsecureIgnoreHostKey = tc.insecure
			})
			r := e.Run(context.Background(), srv.Addr, "true")
			if tc.want == nil && r.Err != nil || tc.want != nil && !errors.Is(r.Err, tc.want) {
				t.Fatalf("err %v, want %v", r.Err, tc.want)
			}
			if tc.want != nil && !strings.Contains(r.Err.Error(), srv.Addr) {
				t.Errorf("error %q does not name the host", r.Err)
			}
			warned := strings.Count(logs.String(), "event=host_key_check_disabled")
			if tc.insecure && warned < 2 {
				t.Errorf("want a warning at start and per connection, got %d:\n%s", warned, logs)
			}
			if !tc.insecure && warned != 0 {
				t.Errorf("unexpected warning:\n%s", logs)
			}
		})
	}
}

// alive reports whether pid exists and is not a zombie (which, in a
// container whose init does not reap, lingers after being killed).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

// waitDeadline bounds every wait for a condition: generous, as the test
// machine may be loaded.
const waitDeadline = 60 * time.Second

// eventually polls cond until it holds, failing the test after waitDeadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitDeadline)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// pidIn polls until path holds a pid (the whole line) and returns it.
func pidIn(t *testing.T, path string) int {
	t.Helper()
	var pid int
	eventually(t, "a pid in "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 1
	})
	return pid
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("remote process %d still running after the command was killed", pid)
	}
}

func TestCommandTimeoutKillsRemoteProcess(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, func(o *Options) { o.CommandTimeout = 3 * time.Second })
	for _, tc := range []struct{ name, cmd string }{
		{"sleep", "sleep %s"},
		{"background child", "sleep %s & wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The sleep's unique duration marks the command's processes:
			// on a loaded machine the shell may not have started it when
			// its time is up, and then nothing of it may run either.
			// A step key, as every remote_ssh step has: if the time is up
			// before the host's pid report is read, the step file names it.
			marker := uniqueMarker(t)
			r := e.Exec(context.Background(), Request{Entity: srv.Addr, Command: fmt.Sprintf(tc.cmd, marker),
				Key: StepKey(t.Name(), 0, srv.Addr)})
			if !errors.Is(r.Err, ErrTimeout) || r.ExitCode != -1 {
				t.Fatalf("err %v exit %d, want timeout and -1", r.Err, r.ExitCode)
			}
			eventually(t, "the command's processes gone", func() bool { return len(processesOf(marker)) == 0 })
		})
	}
}

// uniqueMarker is a fresh "600.N": a sleep duration that marks a command's
// processes on this machine (the sshd's host). What a failed test leaves
// is killed.
func uniqueMarker(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	marker := fmt.Sprintf("600.%d", n)
	t.Cleanup(func() {
		for _, pid := range processesOf(marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return marker
}

// processesOf lists the live processes whose command line contains marker.
func processesOf(marker string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(marker)) && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestCancelKillsRemoteProcess(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	// Cancelled once the host has reported the command's pid (the pid file
	// alone may be written before that report is read; a cancel then is
	// TestTimeoutBeforeThePidKilledByStepFile's case).
	started := make(chan struct{})
	go func() {
		select {
		case <-started:
		case <-time.After(waitDeadline):
		}
		deadline := time.Now().Add(waitDeadline)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(pidFile); err == nil {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		cancel()
	}()
	r := e.Exec(ctx, Request{Entity: srv.Addr, Command: "echo $$ > " + pidFile + "; sleep 600",
		Started: func(Process) { close(started) }})
	if !errors.Is(r.Err, ErrCancelled) {
		t.Fatalf("err %v, want cancelled", r.Err)
	}
	waitGone(t, readPID(t, pidFile))
}

// A command left running by an action handler that died: another
// executor (another replica, or the restarted process) kills it by the
// pid and start time reported when it started, and leaves alone a
// process whose start time does not match (a reused pid).
func TestKillLeftover(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	dying, _ := newExecutor(t, srv, nil)
	other, _ := newExecutor(t, srv, nil)
	dir := t.TempDir()
	key := StepKey("x-"+filepath.Base(dir), 0, srv.Addr)
	procs := make(chan Process, 1)
	done := make(chan *Result, 1)
	pidFile := filepath.Join(dir, "pid")
	go func() {
		done <- dying.Exec(context.Background(), Request{Entity: srv.Addr, Command: "echo $$ > " + pidFile + "; sleep 600",
			Key: key, Started: func(p Process) { procs <- p }})
	}()
	var p Process
	select {
	case p = <-procs:
	case r := <-done:
		t.Fatalf("ended: %+v", r)
	case <-time.After(waitDeadline):
		t.Fatal("no process reported")
	}
	pid := pidIn(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if p.PID != pid || !digits(p.Start) {
		t.Fatalf("reported %+v, the command's shell is %d", p, pid)
	}
	// Another process start time: not the same process.
	if l, err := other.KillLeftover(context.Background(), srv.Addr, "", Process{PID: p.PID, Start: p.Start + "1"}); l.Killed || err != nil {
		t.Fatalf("killed a process with another start time: %+v %v", l, err)
	}
	if !alive(pid) {
		t.Fatal("the process with another start time was killed")
	}
	if _, err := other.KillLeftover(context.Background(), srv.Addr, key, Process{PID: p.PID}); err == nil {
		t.Error("a process without start time: want an error, nothing killed")
	}
	if _, err := other.KillLeftover(context.Background(), srv.Addr, "not-a-key", Process{}); err == nil {
		t.Error("no process and no key: want an error")
	}
	l, err := other.KillLeftover(context.Background(), srv.Addr, key, p)
	if !l.Killed || l.Process != p || err != nil {
		t.Fatalf("kill leftover: %+v %v", l, err)
	}
	waitGone(t, pid)
	if r := <-done; r.Err == nil {
		t.Errorf("the killed command's result: %+v", r)
	}
	if l, err := other.KillLeftover(context.Background(), srv.Addr, "", p); l.Killed || err != nil {
		t.Errorf("a process already gone: %+v %v", l, err)
	}
}

func TestParseProcess(t *testing.T) {
	for in, want := range map[string]Process{
		"1234 98765": {PID: 1234, Start: "98765"},
		"1234 ":      {PID: 1234},
		"1234":       {PID: 1234},
		"1234 9;rm":  {PID: 1234},
	} {
		if got, ok := parseProcess(in); !ok || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "x 1", "1 2", "-5 3"} {
		if got, ok := parseProcess(in); ok {
			t.Errorf("%q: %+v, want not ok", in, got)
		}
	}
}

func TestConnectTimeoutBlackhole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // accept and never speak
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	f, err := sshdtest.NewFleet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{User: "nobody", KeyFile: f.ClientKeyFile, KnownHostsFile: f.KnownHostsFile,
		ConnectTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := e.Run(context.Background(), ln.Addr().String(), "true")
	if !errors.Is(r.Err, ErrConnectTimeout) || r.ExitCode != -1 {
		t.Fatalf("err %v exit %d, want connect timeout", r.Err, r.ExitCode)
	}

	// A closed port is a connect failure, not a timeout.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	if r := e.Run(context.Background(), addr, "true"); !errors.Is(r.Err, ErrConnect) {
		t.Fatalf("closed port: err %v, want connect failed", r.Err)
	}
}

func TestAuthFailure(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	other, err := sshdtest.NewFleet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newExecutor(t, srv, func(o *Options) { o.KeyFile = other.ClientKeyFile })
	if r := e.Run(context.Background(), srv.Addr, "true"); !errors.Is(r.Err, ErrAuth) {
		t.Fatalf("err %v, want authentication failed", r.Err)
	}
}

func TestConnReusedForSeveralCommands(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, nil)
	c, err := e.Dial(context.Background(), srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.Run(context.Background(), "echo "+strconv.Itoa(i))
			if r.Err != nil || r.Stdout.Text != strconv.Itoa(i)+"\n" {
				t.Errorf("command %d: %v %q", i, r.Err, r.Stdout.Text)
			}
		}()
	}
	wg.Wait()
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	f, err := sshdtest.NewFleet(dir)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n"), 0o600)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no user", Options{KeyFile: f.ClientKeyFile, KnownHostsFile: f.KnownHostsFile}, "user required"},
		{"missing key", Options{User: "u", KeyFile: filepath.Join(dir, "nope"), KnownHostsFile: f.KnownHostsFile}, "read key file"},
		{"bad key", Options{User: "u", KeyFile: garbage, KnownHostsFile: f.KnownHostsFile}, "key file"},
		{"no known_hosts", Options{User: "u", KeyFile: f.ClientKeyFile}, "known_hosts file required"},
		{"missing known_hosts", Options{User: "u", KeyFile: f.ClientKeyFile, KnownHostsFile: filepath.Join(dir, "nope")}, "known_hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "not really") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	f, err := sshdtest.NewFleet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rk.PublicKey)
	known := sshdtest.KnownHostsLine("app01:22", rsaPub) + "\n" +
		sshdtest.KnownHostsLine("app02:2222", f.Signer.PublicKey()) + "\n" +
		sshdtest.KnownHostsLine("app02:2222", rsaPub) + "\n"
	if err := os.WriteFile(f.KnownHostsFile, []byte(known), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{User: "u", KeyFile: f.ClientKeyFile, KnownHostsFile: f.KnownHostsFile})
	if err != nil {
		t.Fatal(err)
	}
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}
	for _, tc := range []struct {
		addr string
		want string
	}{
		{"app01:22", "rsa-sha2-512 rsa-sha2-256 ssh-rsa"},
		{"app02:2222", "ssh-ed25519 rsa-sha2-512 rsa-sha2-256 ssh-rsa"},
		{"app03:22", ""},
	} {
		if got := strings.Join(e.hostKeyAlgorithms(tc.addr, remote), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestAddress(t *testing.T) {
	for _, tc := range []struct {
		entity, want, err string
	}{
		{entity: "app01.example.com", want: "app01.example.com:22"},
		{entity: " app01 ", want: "app01:22"},
		{entity: "app01:2222", want: "app01:2222"},
		{entity: "10.0.0.5", want: "10.0.0.5:22"},
		{entity: "10.0.0.5:2200", want: "10.0.0.5:2200"},
		{entity: "[::1]:2222", want: "[::1]:2222"},
		{entity: "[::1]", want: "[::1]:22"},
		{entity: "::1", want: "[::1]:22"},
		{entity: "fe80::1:2", want: "[fe80::1:2]:22"},
		{entity: "", err: "empty host"},
		{entity: ":22", err: "empty host"},
		{entity: "app01:", err: "bad port"},
		{entity: "app01:ssh", err: "bad port"},
		{entity: "app01:0", err: "bad port"},
		{entity: "app01:70000", err: "bad port"},
		{entity: "[::1", err: "missing ]"},
		{entity: "[::1]x", err: "after ]"},
		{entity: "[app01]:2200", want: "app01:2200"},
		{entity: "a:b:c", err: "IPv6"},
		{entity: "]", err: "not a host name"},
		{entity: "app 01", err: "not a host name"},
		{entity: "-oProxyCommand=x", err: "not a host name"},
		{entity: "[fe80::1%eth0]:22", want: "[fe80::1%eth0]:22"},
		{entity: "[::1]:22]", err: "bad port"},
	} {
		t.Run(tc.entity, func(t *testing.T) {
			got, err := Address(tc.entity, 22)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// A host with several key types, known here by only one of them, must not
// fail as if its key had changed.
func TestHostWithSeveralKeyTypes(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{HostKeyTypes: []string{"ed25519", "rsa", "ecdsa"}})
	for i, k := range srv.HostKeys {
		t.Run(k.Type(), func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(sshdtest.KnownHostsLine(srv.Addr, srv.HostKeys[i])+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e, _ := newExecutor(t, srv, func(o *Options) { o.KnownHostsFile = kh })
			if r := e.Run(context.Background(), srv.Addr, "true"); r.Err != nil {
				t.Fatalf("known by its %s key only: %v", k.Type(), r.Err)
			}
		})
	}
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{"app01", "app01:22", "[::1]:2222", "::1", "[", "a:b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entity string) {
		addr, err := Address(entity, 22)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			t.Fatalf("Address(%q) = %q, not host:port", entity, addr)
		}
	})
}

func TestConnectionsKeptAndReused(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	first := e.Run(context.Background(), srv.Addr, "echo one")
	second := e.Run(context.Background(), srv.Addr, "echo two")
	if first.Err != nil || second.Err != nil || first.Reused || !second.Reused || second.Stdout.Text != "two\n" {
		t.Fatalf("first %+v\nsecond %+v", first, second)
	}
	if e.Kept() != 1 {
		t.Errorf("kept %d connections, want 1", e.Kept())
	}
	eventually(t, "the idle connection closed", func() bool { return e.Kept() == 0 })
	if r := e.Run(context.Background(), srv.Addr, "true"); r.Err != nil || r.Reused {
		t.Errorf("after idle expiry: %+v", r)
	}

	// A kept connection that died is replaced without running twice.
	c := e.pool.get(srv.User + "@" + srv.Addr)
	if c == nil {
		t.Fatal("no kept connection")
	}
	c.client.Close()
	<-c.closed
	e.pool.put(srv.User+"@"+srv.Addr, c)
	marker := filepath.Join(t.TempDir(), "ran")
	if r := e.Run(context.Background(), srv.Addr, "echo x >> "+marker); r.Err != nil || r.Reused {
		t.Errorf("after the kept connection died: %+v", r)
	}
	if b, _ := os.ReadFile(marker); string(b) != "x\n" {
		t.Errorf("command ran %q", b)
	}

	noKeep, _ := newExecutor(t, srv, func(o *Options) { o.IdleTimeout = -1 })
	noKeep.Run(context.Background(), srv.Addr, "true")
	if r := noKeep.Run(context.Background(), srv.Addr, "true"); r.Reused || noKeep.Kept() != 0 {
		t.Errorf("idle_timeout < 0 kept a connection")
	}
}

func TestOneCommandPerHostAtATime(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, nil)
	dir := t.TempDir()
	// mkdir fails if another command holds the directory.
	cmd := "mkdir " + dir + "/busy || exit 9; sleep 0.2; rmdir " + dir + "/busy"
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Go(func() {
			entity := srv.Addr
			if i%2 == 1 {
				entity = "127.0.0.1:" + strconv.Itoa(srv.Port) // same host, written differently
			}
			if r := e.Run(context.Background(), entity, cmd); r.Err != nil {
				t.Errorf("command %d: %v (ran alongside another)", i, r.Err)
			}
		})
	}
	wg.Wait()

	// Waiting for a busy host ends with the context.
	unlock, err := e.locks.lock(context.Background(), srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := e.Run(ctx, srv.Addr, "true")
	unlock()
	if !errors.Is(r.Err, ErrCancelled) || !strings.Contains(r.Err.Error(), "previous command") {
		t.Errorf("err %v", r.Err)
	}
	if len(e.locks.locks) != 0 {
		t.Errorf("host locks left: %d", len(e.locks.locks))
	}
}

func TestHostOverridesAndTimeout(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"})
	e, _ := newExecutor(t, srv, func(o *Options) {
		o.Hosts = map[string]Host{
			"127.0.0.2": {Port: srv.Port},
			"127.0.0.3": {User: "nobody-here"},
		}
	})
	if r := e.Run(context.Background(), "127.0.0.2", "true"); r.Err != nil || r.Addr != srv.Addr {
		t.Errorf("port override: %+v", r)
	}
	if r := e.Run(context.Background(), "127.0.0.2:1", "true"); !errors.Is(r.Err, ErrConnect) {
		t.Errorf("an explicit port wins over the override: %v", r.Err)
	}
	other := sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.3:0"})
	e2, _ := newExecutor(t, other, func(o *Options) { o.Hosts = map[string]Host{"127.0.0.3": {User: "nobody-here"}} })
	if r := e2.Run(context.Background(), other.Addr, "true"); !errors.Is(r.Err, ErrAuth) || !strings.Contains(r.Err.Error(), "nobody-here") {
		t.Errorf("user override: %v", r.Err)
	}
	start := time.Now()
	r := e.Exec(context.Background(), Request{Entity: srv.Addr, Command: "sleep 30", Timeout: 300 * time.Millisecond})
	if !errors.Is(r.Err, ErrTimeout) || time.Since(start) > 20*time.Second {
		t.Errorf("per-request timeout: %v after %s", r.Err, time.Since(start))
	}
}

func TestHostKey(t *testing.T) {
	srv := sshdtest.StartT(t, sshdtest.Options{})
	e, _ := newExecutor(t, srv, func(o *Options) {
		o.Port = 22
		o.Hosts = map[string]Host{"db01": {Port: 2222}}
	})
	for entity, want := range map[string]string{
		"web01":       "web01:22",
		"WEB01:22":    "web01:22",
		" web01 ":     "web01:22",
		"web01:2201":  "web01:2201",
		"db01":        "db01:2222",
		"db01:5022":   "db01:5022",
		"[::1]:22":    "[::1]:22",
		"::1":         "[::1]:22",
		"bad host!":   "bad host!",
		"jump.ex:x22": "jump.ex:x22",
	} {
		if got := e.HostKey(entity); got != want {
			t.Errorf("HostKey(%q) = %q, want %q", entity, got, want)
		}
	}
}
