// Package proc runs a program on the action handler's own host for the
// local and plugin task types: argv (never a shell), a clean environment,
// its own process group (killed whole on timeout or cancellation), stdin
// from a byte slice or empty, stdout and stderr captured with a cap.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPath is the PATH programs get unless configured otherwise.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Errors wrapped by Result.Err.
var (
	ErrTimeout    = errors.New("timeout")
	ErrCancelled  = errors.New("cancelled")
	ErrExitStatus = errors.New("exit status")
	ErrStart      = errors.New("start failed")
)

// Cmd is one program run.
type Cmd struct {
	Path        string            // absolute path of the program
	Args        []string          // argv[1:]
	Env         map[string]string // the whole environment
	Dir         string            // working directory
	Stdin       []byte            // nil: empty
	Timeout     time.Duration
	OutputLimit int // bytes kept of stdout and of stderr, each
}

// Result is what the program did.
type Result struct {
	ExitCode  int // -1 when it gave none (killed, not started)
	Stdout    string
	Stderr    string
	Truncated bool
	Elapsed   time.Duration
	Err       error // nil exactly when it exited 0
}

// killWait bounds the wait for a killed process group's output to close.
const killWait = 5 * time.Second

// Run runs c to its end, its timeout, or ctx's end.
func Run(ctx context.Context, c Cmd) Result {
	start := time.Now()
	r := Result{ExitCode: -1}
	if err := ctx.Err(); err != nil {
		r.Err = fmt.Errorf("%w: %v", ErrCancelled, context.Cause(ctx))
		return r
	}
	tctx, cancel := context.WithTimeoutCause(ctx, c.Timeout, ErrTimeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = environ(c.Env)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	stdout := &capWriter{limit: c.OutputLimit}
	stderr := &capWriter{limit: c.OutputLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Kill the whole group: the program and whatever it started.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killWait
	err := cmd.Run()
	r.Elapsed = time.Since(start)
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	r.Truncated = stdout.truncated() || stderr.truncated()
	if cmd.ProcessState != nil {
		// Anything the program left running in its group goes too.
		_ = syscall.Kill(-cmd.ProcessState.Pid(), syscall.SIGKILL)
	}
	var ee *exec.ExitError
	switch {
	case tctx.Err() != nil && ctx.Err() == nil:
		r.Err = fmt.Errorf("%w: still running after %s, killed", ErrTimeout, c.Timeout)
	case ctx.Err() != nil:
		r.Err = fmt.Errorf("%w: %v, killed", ErrCancelled, context.Cause(ctx))
	case err == nil:
		r.ExitCode = 0
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			r.Err = fmt.Errorf("%w: killed by signal %s", ErrExitStatus, st.Signal())
		} else {
			r.Err = fmt.Errorf("%w %d", ErrExitStatus, r.ExitCode)
		}
	default:
		r.Err = fmt.Errorf("%w: %v", ErrStart, err)
	}
	return r
}

// environ turns env into KEY=value pairs, sorted.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	if out == nil {
		out = []string{} // not nil: nil would inherit the service's environment
	}
	return out
}

// LookPath finds name (no slash) in the directories of path, the way a
// shell would with that PATH; an absolute name is checked as is. It
// returns the program's absolute, symlink-free path.
func LookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			return "", fmt.Errorf("%q: a path must be absolute", name)
		}
		return executable(name)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		if p, err := executable(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %s", name, path)
}

func executable(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return real, nil
}

// capWriter keeps the first limit bytes written and counts the rest.
type capWriter struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
	size  int
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.size += len(p)
	if room := w.limit - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (w *capWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *capWriter) truncated() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size > w.buf.Len()
}
