// Command demo runs the whole Alexis pipeline on this machine and shows an
// alert being remediated: a local OpsGenie-compatible server seeded with two
// alerts, the poller, classifier and action handler as real processes, and
// OpenSSH's sshd on 127.0.0.2 as the host to fix. Run it with `make demo`.
package main

import (
	"bytes"
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
)

//go:embed rules/*.json
var defaultRules embed.FS

func main() {
	quiet := flag.Bool("quiet", false, "do not mirror the services' log lines")
	keep := flag.Bool("keep", false, "keep running after the demo until Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *quiet, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, quiet, keep bool) error {
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".demo")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	bin, rules := filepath.Join(dir, "bin"), filepath.Join(dir, "rules")
	for _, d := range []string{bin, rules} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	serviceLog := filepath.Join(dir, "duplicator-service.log")

	say(out, "building poller, classifier and actionhandler")
	if err := stack.Build(ctx, bin); err != nil {
		return err
	}
	entries, _ := defaultRules.ReadDir("rules")
	for _, e := range entries {
		data, _ := defaultRules.ReadFile("rules/" + e.Name())
		data = bytes.ReplaceAll(data, []byte("SERVICE_LOG"), []byte(serviceLog))
		if err := os.WriteFile(filepath.Join(rules, e.Name()), data, 0o644); err != nil {
			return err
		}
		say(out, "rule installed: %s", filepath.Join(".demo/rules", e.Name()))
	}

	var mirror io.Writer
	if !quiet {
		mirror = out
	}
	say(out, "starting sshd on 127.0.0.2, a local OpsGenie-compatible server, and the three services")
	s, err := stack.Start(ctx, stack.Options{Dir: dir, BinDir: bin, RulesDir: rules, Mirror: mirror})
	if err != nil {
		return err
	}
	defer s.Close()

	gc := s.CreateAlert("duplicator: Long garbage-collection time",
		"Dynatrace: Long garbage-collection time on duplicator (GC suspension 41%)", s.SSH.Addr, "syn.day", "syn.duplicator")
	disk := s.CreateAlert("db01: disk almost full", "Filesystem /var is 97% full", "db01.example.com", "syn.db")
	say(out, "alert #%s created: %q (matches rule duplicator_gc_restart)", gc.TinyID, "duplicator: Long garbage-collection time")
	say(out, "alert #%s created: %q (no rule for it)", disk.TinyID, "db01: disk almost full")

	deadline := time.Now().Add(60 * time.Second)
	for !done(s, gc.ID, disk.ID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the alerts were not handled within 60s; see the logs in %s", dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	time.Sleep(500 * time.Millisecond) // let the last log lines arrive

	fmt.Fprintln(out)
	say(out, "what landed on the alerts (read back from the OpsGenie API):")
	for _, a := range []struct{ id, tiny string }{{gc.ID, gc.TinyID}, {disk.ID, disk.TinyID}} {
		fmt.Fprintf(out, "\n  alert #%s  teams=%s\n", a.tiny, strings.Join(s.OpsGenie.Teams(a.id), ","))
		for _, n := range s.OpsGenie.Notes(a.id) {
			fmt.Fprintf(out, "    note: %s\n", strings.ReplaceAll(n, "\n", "\n          "))
		}
	}
	svc, _ := os.ReadFile(serviceLog)
	fmt.Fprintf(out, "\n  the remediated host's service log (%s):\n    %s\n", serviceLog, strings.TrimSpace(string(svc)))
	fmt.Fprintln(out)
	say(out, "logs of every service are in %s/*.log; configs in %s/*.yaml", dir, dir)
	if keep {
		say(out, "still running (classifier %s, action handler %s); Ctrl-C to stop", s.ClassifierURL, s.ActionHandlerURL)
		<-ctx.Done()
	}
	return nil
}

func done(s *stack.Stack, gcID, diskID string) bool {
	has := func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	return has(s.OpsGenie.Teams(gcID), "ops_unix") && has(s.OpsGenie.Teams(diskID), stack.InvestigationQueue)
}

func say(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "==> "+format+"\n", args...)
}
