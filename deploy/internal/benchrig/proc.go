// Package benchrig starts what the benchmarks measure (the service
// binaries as real processes on loopback, with configs, secrets and rule
// files in a scratch directory) and reads what they report: their
// /metrics, their log files and their memory from /proc.
package benchrig

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one running service binary; its output goes to LogFile.
type Proc struct {
	Name    string
	LogFile string
	URL     string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// StartProc runs bin -config cfg, logging to logFile, and waits until
// url/v1/ping answers 200.
func StartProc(ctx context.Context, name, bin, cfg, logFile, url string) (*Proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogFile: logFile, URL: url, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url + "/v1/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("start %s: exited (%v); see %s", name, p.err, logFile)
		case <-wctx.Done():
			p.Stop()
			return nil, fmt.Errorf("start %s: no answer on %s/v1/ping: %w; see %s", name, url, wctx.Err(), logFile)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID of the process.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and, after 15 s, SIGKILL.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Alive reports whether the process still runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Mem is a reading of /proc/PID/status, in bytes.
type Mem struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: peak resident since start
}

// ReadMem reads VmRSS and VmHWM of pid.
func ReadMem(pid int) (Mem, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Mem{}, fmt.Errorf("read memory of %d: %w", pid, err)
	}
	defer f.Close()
	var m Mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) < 1 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n << 10
		case "VmHWM":
			m.HWM = n << 10
		}
	}
	return m, sc.Err()
}

// Sampler reads a process's VmRSS at a fixed interval.
type Sampler struct {
	pid     int
	every   time.Duration
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []MemSample
}

// MemSample is one reading.
type MemSample struct {
	At  time.Time
	RSS int64
}

// Sample starts sampling pid every interval until Stop.
func Sample(pid int, every time.Duration) *Sampler {
	s := &Sampler{pid: pid, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := ReadMem(pid); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, MemSample{At: time.Now(), RSS: m.RSS})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the readings.
func (s *Sampler) Stop() []MemSample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MemSample(nil), s.samples...)
}

// MaxRSS of samples.
func MaxRSS(samples []MemSample) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, s.RSS)
	}
	return m
}

// MB formats bytes as megabytes.
func MB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// FreeAddr returns a loopback host:port nobody listens on right now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
