// Command sshbench measures the action handler's SSH fan-out against a
// fleet of real sshd servers (deploy/bench/ssh-fanout.sh drives it and
// compares with parallel-ssh and ansible).
//
//	sshbench fleet -n 50 -dir DIR [-port 2222] [-user alexis-bench]
//	    start N sshd on 127.0.0.2, 127.0.0.3, ... each with its own host
//	    key; write DIR/hosts (host:port lines), DIR/inventory (ansible),
//	    DIR/known_hosts, DIR/id_ed25519 and DIR/user; print "ready" and run
//	    until interrupted.
//	sshbench run -dir DIR [-command true] [-runs 5] [-concurrency 0]
//	    run the command on every host of DIR/hosts with the action
//	    handler's executor (strict host key checking against
//	    DIR/known_hosts): "fresh" connects anew each run (a new executor),
//	    "kept" reuses the connections a first run left open. Prints one
//	    line per mode: runs, mean, min and max wall time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/shared/sshdtest"
	"github.com/rs/zerolog"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sshbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: sshbench fleet|run [flags]")
	}
	switch args[0] {
	case "fleet":
		return fleet(args[1:], out)
	case "run":
		return bench(args[1:], out)
	}
	return fmt.Errorf("unknown command %q: want fleet or run", args[0])
}

func fleet(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	n := fs.Int("n", 20, "servers")
	dir := fs.String("dir", "", "directory for keys and host lists (required)")
	port := fs.Int("port", 0, "port on every address; 0 picks one free on all")
	login := fs.String("user", "", "user the servers let in (must exist); default the current user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *n < 1 || *n > 250 {
		return errors.New("fleet: -dir required, -n 1..250")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f, err := sshdtest.NewFleetAs(*dir, *login)
	if err != nil {
		return err
	}
	defer f.Close()
	p := *port
	if p == 0 {
		if p, err = commonPort(*n); err != nil {
			return err
		}
	}
	var hosts, inv []string
	for i := range *n {
		addr := fmt.Sprintf("127.0.0.%d:%d", i+2, p)
		s, err := f.Start(ctx, sshdtest.Options{Addr: addr, Dir: filepath.Join(*dir, fmt.Sprintf("sshd%02d", i))})
		if err != nil {
			return err
		}
		hosts = append(hosts, s.Addr)
		inv = append(inv, fmt.Sprintf("%s ansible_port=%d", s.Host, s.Port))
	}
	files := map[string]string{
		"hosts":     strings.Join(hosts, "\n") + "\n",
		"inventory": "[fleet]\n" + strings.Join(inv, "\n") + "\n",
		"user":      f.User + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "ready: %d sshd on 127.0.0.2..127.0.0.%d port %d\n", *n, *n+1, p)
	<-ctx.Done()
	return nil
}

// commonPort finds a port free on 127.0.0.2 .. 127.0.0.n+1, trying 2222
// first.
func commonPort(n int) (int, error) {
	free := func(p int) bool {
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+2, p))
			if err != nil {
				return false
			}
			ln.Close()
		}
		return true
	}
	for p := 2222; p < 2322; p++ {
		if free(p) {
			return p, nil
		}
	}
	return 0, errors.New("no port free on every address in 2222..2321")
}

func bench(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	dir := fs.String("dir", "", "the fleet's directory (required)")
	command := fs.String("command", "true", "command to run on every host")
	runs := fs.Int("runs", 5, "measured runs per mode")
	concurrency := fs.Int("concurrency", 0, "hosts at once; 0: all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(*dir, name))
		return strings.TrimSpace(string(b)), err
	}
	hostList, err := read("hosts")
	if err != nil {
		return err
	}
	user, err := read("user")
	if err != nil {
		return err
	}
	hosts := strings.Fields(hostList)
	if *concurrency <= 0 {
		*concurrency = len(hosts)
	}
	opts := sshexec.Options{User: user, KeyFile: filepath.Join(*dir, "id_ed25519"),
		KnownHostsFile: filepath.Join(*dir, "known_hosts"), ConnectTimeout: 10 * time.Second,
		CommandTimeout: time.Minute, IdleTimeout: 5 * time.Minute, Log: zerolog.Nop()}

	// fresh: a new executor each run, as after a start of the service.
	var fresh []time.Duration
	for range *runs {
		e, err := sshexec.New(opts)
		if err != nil {
			return err
		}
		d, err := fanOut(e, hosts, *command, *concurrency)
		e.Close()
		if err != nil {
			return err
		}
		fresh = append(fresh, d)
	}
	// kept: one executor; a first run opens the connections, the measured
	// runs reuse them.
	e, err := sshexec.New(opts)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := fanOut(e, hosts, *command, *concurrency); err != nil {
		return err
	}
	var kept []time.Duration
	for range *runs {
		d, err := fanOut(e, hosts, *command, *concurrency)
		if err != nil {
			return err
		}
		kept = append(kept, d)
	}
	fmt.Fprintln(out, summary("alexis fresh", fresh))
	fmt.Fprintln(out, summary("alexis kept", kept))
	return nil
}

// fanOut runs command on every host, concurrency at a time, as the engine
// runs a task, and fails if any host failed.
func fanOut(e *sshexec.Executor, hosts []string, command string, concurrency int) (time.Duration, error) {
	start := time.Now()
	sem := make(chan struct{}, concurrency)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, h := range hosts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if r := e.Run(context.Background(), h, command); r.Err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", h, r.Err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// summary: "name runs=N mean=… min=… max=…" in milliseconds.
func summary(name string, ds []time.Duration) string {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	return fmt.Sprintf("%-14s runs=%d mean_ms=%s min_ms=%s max_ms=%s", name, len(ds),
		ms(sum/time.Duration(len(ds))), ms(slices.Min(ds)), ms(slices.Max(ds)))
}
