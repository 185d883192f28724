// Command demo runs the whole Alexis pipeline on this machine and shows an
// alert being remediated: a local OpsGenie-compatible server seeded with two
// alerts, the poller, classifier and action handler as real processes, and
// OpenSSH's sshd on 127.0.0.2 as the host to fix. It tells what happened in
// a few lines (the services' raw logs go to .demo/logs/) and ends with the
// console's URL, a read-only login token and alexisctl's environment.
//
//	make demo                       build, run the story, stop
//	make demo-keep                  the same, then keep running until Ctrl-C
//	go run ./deploy/cmd/demo [-keep] [-logs]
//
// -logs mirrors the services' log lines to the terminal as well. -quiet,
// which used to turn that mirroring off, is now the default (still
// accepted; -quiet=false is -logs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
)

// options are the demo's flags.
type options struct {
	dir     string        // working directory, wiped first (default REPO/.demo)
	logs    bool          // mirror the services' log lines to out
	keep    bool          // keep running until ctx ends
	tick    time.Duration // how often a long build says it is still going
	timeout time.Duration // for the alerts to be handled
}

func main() {
	o := options{tick: 10 * time.Second, timeout: 60 * time.Second}
	flag.BoolVar(&o.logs, "logs", false, "also mirror the services' log lines here (they always go to .demo/logs/*.log)")
	quiet := flag.Bool("quiet", true, "the default now; -quiet=false is -logs (the earlier default)")
	flag.BoolVar(&o.keep, "keep", false, "keep running after the story until Ctrl-C, to explore the console and alexisctl")
	flag.StringVar(&o.dir, "dir", "", "working directory, wiped first (default .demo in the repository)")
	flag.Parse()
	o.logs = o.logs || !*quiet
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, o options) error {
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	defaultDir := filepath.Join(root, ".demo")
	if o.dir == "" {
		o.dir = defaultDir
	}
	if err := wipe(o.dir, o.dir == defaultDir); err != nil {
		return err
	}
	bin, rules, logs := filepath.Join(o.dir, "bin"), filepath.Join(o.dir, "rules"), filepath.Join(o.dir, "logs")
	for _, d := range []string{bin, rules, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	serviceLog := filepath.Join(o.dir, "duplicator-service.log")

	if err := build(ctx, out, bin, o.tick); err != nil {
		return err
	}
	if err := stack.InstallDemoRules(rules, serviceLog); err != nil {
		return err
	}

	var mirror io.Writer
	if o.logs {
		mirror = out
	}
	say(out, "starting sshd on 127.0.0.2, a local OpsGenie-compatible server, the action handler, classifier and poller")
	s, err := stack.Start(ctx, stack.Options{Dir: o.dir, BinDir: bin, RulesDir: rules, LogDir: logs, Mirror: mirror,
		History: true, Console: true})
	if err != nil {
		return err
	}
	defer s.Close()

	if err := tell(ctx, out, root, s, o.timeout, serviceLog); err != nil {
		return fmt.Errorf("%w; the services' logs are in %s", err, rel(root, logs))
	}
	explore(out, root, s, o.keep)
	if o.keep {
		<-ctx.Done()
		fmt.Fprintln(out)
		say(out, "stopping")
	}
	return nil
}

// marker names a directory the demo made, which it may wipe.
const marker = ".alexis-demo"

// wipe empties dir for a new run. A -dir that holds anything but an
// earlier run's files (its marker) is left alone: the flag must not turn a
// typo into rm -rf. The default .demo may predate the marker.
func wipe(dir string, isDefault bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return writeMarker(dir)
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); len(entries) > 0 && err != nil && !isDefault {
		return fmt.Errorf("-dir %s: not empty and not made by the demo (no %s file): refusing to wipe it", dir, marker)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return writeMarker(dir)
}

func writeMarker(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("made by go run ./deploy/cmd/demo; wiped by its next run\n"), 0o644)
}

func say(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "==> "+format+"\n", args...)
}

// rel names path relative to the repository when it is inside it.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && filepath.IsLocal(r) {
		return r
	}
	return path
}
