package sshexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// pidMarker starts the line the command prefix writes to stderr:
// "ALEXIS_REMOTE_PID=NONCE PID START", with a nonce drawn for each run (so
// that no other line, the command's output included, can pass for it), the
// shell's pid and, on Linux, its start time (field 22 of /proc/PID/stat,
// clock ticks since boot), which tells that process from a later one that
// reuses the pid. The line need not be the first: what the host's login
// files print to stderr before it (a noisy ~/.bashrc) is passed on as the
// command's stderr, up to pidSearchLimit bytes.
const pidMarker = "ALEXIS_REMOTE_PID="

// pidSearchLimit is how much stderr is searched for the pid line before
// the search is given up (the pid is then known only by the step file).
const pidSearchLimit = 64 << 10

// newNonce is a run's pid-line nonce: 16 hex digits.
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand on Linux)
	return hex.EncodeToString(b[:])
}

// StepDir is the directory, relative to the login user's home, where the
// command prefix records each keyed command's pid and start time in a file
// named by its step key ("$HOME/.alexis-steps/KEY"), so that the process
// taking over from one that died finds the command even if the pid line
// never reached the store. The prefix creates it with mode 0700 and writes
// there only when it is a directory (not a symbolic link) owned by the
// login user.
const StepDir = ".alexis-steps"

// prefix is the shell text run before a command. With a key (hex, see
// StepKey), it first records "PID START" in the step file and sets an EXIT
// trap that removes it; then, in every case, it reports the pid and start
// time on a stderr line marked with nonce (hex, see newNonce). Its shell
// variables start with __alexis_.
func prefix(key, nonce string) string {
	if !validNonce(nonce) {
		nonce = "0"
	}
	start := "__alexis_s=$(cut -d' ' -f22 /proc/$$/stat 2>/dev/null)\n"
	// Only hex digits reach this text.
	report := "echo " + pidMarker + nonce + " $$ $__alexis_s >&2\n"
	if !validKey(key) {
		return start + report
	}
	// Only hex digits reach this text.
	return start + `__alexis_d="$HOME/` + StepDir + `"; if [ -n "$HOME" ] && { [ -d "$__alexis_d" ] || mkdir -m 700 "$__alexis_d"; } && ` +
		`[ ! -h "$__alexis_d" ] && [ -O "$__alexis_d" ]; then __alexis_f="$__alexis_d/` + key + `"; ` +
		`trap 'rm -f -- "$__alexis_f"' EXIT; echo $$ $__alexis_s >| "$__alexis_f"; fi 2>/dev/null` + "\n" + report
}

// killByStepFile is the shell text that kills the process group the step
// file of key names, if that process still has the recorded start time,
// and removes the file. Only digits from the file reach kill.
func killByStepFile(key string) string {
	return "set -- $(cat -- " + stepFile(key) + " 2>/dev/null); " +
		`if [ -n "$2" ] && case "$1$2" in *[!0-9]*) false;; esac && ` +
		`[ "$(cut -d' ' -f22 /proc/$1/stat 2>/dev/null)" = "$2" ]; then kill -KILL -- -$1 $1 2>/dev/null; fi; ` +
		"rm -f -- " + stepFile(key) + "; "
}

// stepFile is the shell word naming key's step file on the host.
func stepFile(key string) string { return `"$HOME/` + StepDir + `/` + key + `"` }

// Process is a command's remote shell: the leader of the session's process
// group.
type Process struct {
	PID   int
	Start string // its start time on the host, digits; "" when the host did not tell (not Linux)
}

// Result is what one command did on one host.
type Result struct {
	Addr     string        // host:port
	ExitCode int           // -1 when the command gave no exit status
	Stdout   Output        // captured, capped
	Stderr   Output        // captured, capped (without the pid line)
	Elapsed  time.Duration // connect (and waiting for the host) included when from Executor.Exec
	Reused   bool          // ran on a kept connection
	Err      error         // nil exactly when the command exited 0
}

// Output is a captured stream.
type Output struct {
	Text      string
	Truncated bool  // more was written than the output limit
	Size      int64 // bytes written in all
}

// Run runs command in a new session on c within the command timeout. On
// timeout or cancellation the remote process group is killed.
func (c *Conn) Run(ctx context.Context, command string) *Result {
	r, _ := c.run(ctx, command, "", c.e.o.CommandTimeout, nil)
	return r
}

// run is Run with a timeout; opened reports whether a session opened (if
// not, nothing ran and the command may be tried on another connection).
// started, if not nil, is called with the remote process once the host
// reported it. key, if a step key, names the command's step file.
func (c *Conn) run(ctx context.Context, command, key string, timeout time.Duration, started func(Process)) (r *Result, opened bool) {
	start := time.Now()
	r = &Result{Addr: c.Addr, ExitCode: -1}
	defer func() { r.Elapsed = time.Since(start) }()
	if err := ctx.Err(); err != nil {
		r.Err = fmt.Errorf("%w: %v", ErrCancelled, err)
		return r, true
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		r.Err = fmt.Errorf("%w: %v", ErrSession, err)
		return r, false
	}
	opened = true
	defer sess.Close()
	stdout := &capWriter{limit: c.e.o.OutputLimit}
	nonce := newNonce()
	stderr := &pidWriter{next: &capWriter{limit: c.e.o.OutputLimit}, marker: []byte(pidMarker + nonce + " "), started: started}
	sess.Stdout, sess.Stderr = stdout, stderr
	// Stdin is left empty: the command reads EOF, never hangs on input.
	if err := sess.Start(prefix(key, nonce) + command); err != nil {
		r.Err = fmt.Errorf("%w: start: %v", ErrSession, err)
		return r, opened
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	var waitErr error
	select {
	case waitErr = <-done:
	case <-timer.C:
		c.kill(sess, stderr.PID(), key, done)
		r.Err = fmt.Errorf("%w: command still running after %s, killed", ErrTimeout, timeout)
	case <-ctx.Done():
		c.kill(sess, stderr.PID(), key, done)
		r.Err = fmt.Errorf("%w: %v, command killed", ErrCancelled, context.Cause(ctx))
	}
	stderr.finish()
	r.Stdout, r.Stderr = stdout.output(), stderr.next.output()
	if r.Err != nil {
		return r, opened
	}
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case waitErr == nil:
		r.ExitCode = 0
	case errors.As(waitErr, &ee):
		r.ExitCode = ee.ExitStatus()
		r.Err = fmt.Errorf("%w %d", ErrExitStatus, r.ExitCode)
		if ee.Signal() != "" {
			r.Err = fmt.Errorf("%w %d (signal %s)", ErrExitStatus, r.ExitCode, ee.Signal())
		}
	case errors.As(waitErr, &missing):
		r.Err = fmt.Errorf("%w: the session closed without one", ErrNoExitStatus)
	default:
		r.Err = fmt.Errorf("%w: %v", ErrNoExitStatus, waitErr)
	}
	return r, opened
}

// newSession opens a session within the connect timeout: a kept
// connection to a host that vanished would otherwise wait forever.
func (c *Conn) newSession(ctx context.Context) (*ssh.Session, error) {
	type opened struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := c.client.NewSession()
		ch <- opened{s, err}
	}()
	t := time.NewTimer(c.e.o.ConnectTimeout)
	defer t.Stop()
	select {
	case o := <-ch:
		return o.s, o.err
	case <-t.C:
	case <-ctx.Done():
	}
	c.client.Close() // NewSession returns now
	if o := <-ch; o.err == nil {
		o.s.Close()
	}
	return nil, fmt.Errorf("no session within %s", c.e.o.ConnectTimeout)
}

// kill stops a running command: a KILL signal on the session (honoured by
// sshd under privilege separation), then kill(1) of the command's process
// group from a second session (works for root logins too), then closing
// the session. The kill also removes the command's step file (a killed
// shell runs no EXIT trap). If the host does not answer within killTimeout
// the connection is closed, which ends the session on our side.
func (c *Conn) kill(sess *ssh.Session, pid int, key string, done <-chan error) {
	_ = sess.Signal(ssh.SIGKILL)
	var cmd string
	switch {
	case pid > 1:
		p := strconv.Itoa(pid)
		cmd = "kill -KILL -- -" + p + " " + p + " 2>/dev/null; "
		if validKey(key) {
			cmd += "rm -f -- " + stepFile(key) + "; "
		}
	case validKey(key):
		// The host has not reported the pid (yet, or its stderr goes
		// elsewhere): the step file names the command, and its start
		// time makes sure it is still that process.
		cmd = killByStepFile(key)
	}
	if cmd != "" {
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			ks, err := c.client.NewSession()
			if err != nil {
				return
			}
			defer ks.Close()
			_ = ks.Run(cmd + "exit 0")
		}()
		select {
		case <-killed:
		case <-time.After(killTimeout):
			c.client.Close()
		}
	}
	_ = sess.Close()
	select {
	case <-done:
	case <-time.After(killTimeout):
		c.client.Close()
		<-done
	}
}

// capWriter keeps the first limit bytes written and counts the rest.
type capWriter struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
	size  int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.size += int64(len(p))
	if room := w.limit - w.buf.Len(); room > 0 {
		if len(p) > room {
			w.buf.Write(p[:room])
		} else {
			w.buf.Write(p)
		}
	}
	return len(p), nil // never fail: a failed write would stall the session
}

func (w *capWriter) output() Output {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Output{Text: w.buf.String(), Truncated: w.size > int64(w.buf.Len()), Size: w.size}
}

// pidWriter takes the pid line the command prefix writes on stderr (the
// first line carrying its marker, within pidSearchLimit bytes) and passes
// everything else on.
type pidWriter struct {
	mu      sync.Mutex
	next    *capWriter
	marker  []byte // pidMarker, the run's nonce and a space
	head    []byte // an incomplete line held back while searching
	seen    int    // bytes of complete lines searched
	through bool
	pid     int
	started func(Process)
}

func (w *pidWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.through {
		return w.next.Write(p)
	}
	w.head = append(w.head, p...)
	for !w.through {
		line, rest, found := bytes.Cut(w.head, []byte("\n"))
		switch {
		case w.seen+len(line) >= pidSearchLimit:
			// Searched far enough: the pid is known only by the step file.
			w.through = true
		case !found:
			return len(p), nil
		case bytes.HasPrefix(line, w.marker):
			w.through = true
			if proc, ok := parseProcess(string(line[len(w.marker):])); ok {
				w.pid = proc.PID
				if w.started != nil {
					w.started(proc)
				}
			}
			w.head = rest
		default:
			// A line the host's login files printed before the prefix ran.
			w.next.Write(w.head[:len(line)+1])
			w.seen += len(line) + 1
			w.head = rest
		}
	}
	return w.flush(w.head, len(p))
}

// parseProcess reads "PID START" (START may be missing).
func parseProcess(s string) (Process, bool) {
	pid, start, _ := strings.Cut(strings.TrimSpace(s), " ")
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 1 {
		return Process{}, false
	}
	start = strings.TrimSpace(start)
	if !digits(start) {
		start = ""
	}
	return Process{PID: n, Start: start}, true
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func (w *pidWriter) flush(b []byte, n int) (int, error) {
	w.head = nil
	if len(b) > 0 {
		w.next.Write(b)
	}
	return n, nil
}

// finish passes on what is still held back.
func (w *pidWriter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.through = true
	w.flush(w.head, 0)
}

// PID is the remote shell's pid, 0 until it has been reported.
func (w *pidWriter) PID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}
