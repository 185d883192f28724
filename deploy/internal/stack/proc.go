package stack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one running service binary whose log lines are kept.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	lines []string
	err   error
}

// startProc runs bin with args, keeping every output line and mirroring it
// (prefixed with the name) to mirror when not nil.
func startProc(name, bin string, args []string, logFile string, mirror io.Writer) (*Proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(f, line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if mirror != nil {
				fmt.Fprintf(mirror, "%-13s | %s\n", name, line)
			}
		}
		f.Close()
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Lines returns a copy of the output so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Find returns the output lines containing every one of subs.
func (p *Proc) Find(subs ...string) []string {
	var out []string
	for _, l := range p.Lines() {
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// WaitFor waits until a line contains every one of subs, and returns it.
func (p *Proc) WaitFor(ctx context.Context, subs ...string) (string, error) {
	for {
		if l := p.Find(subs...); len(l) > 0 {
			return l[0], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no log line with %q: %w", p.Name, subs, ctx.Err())
		case <-p.done:
			if l := p.Find(subs...); len(l) > 0 {
				return l[0], nil
			}
			return "", fmt.Errorf("%s exited (%v) before logging %q", p.Name, p.exitErr(), subs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill sends SIGKILL at once (a crash).
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitPing polls GET url/v1/ping until it answers 200.
func waitPing(ctx context.Context, p *Proc, base string) error {
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(base + "/v1/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s/v1/ping: %w\n%s", p.Name, base, ctx.Err(), strings.Join(p.Lines(), "\n"))
		case <-p.done:
			return fmt.Errorf("%s exited (%v):\n%s", p.Name, p.exitErr(), strings.Join(p.Lines(), "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback host:port nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
