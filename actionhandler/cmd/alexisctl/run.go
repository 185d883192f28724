package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const name = "alexisctl"

// Exit statuses (docs/cli.md "Exit status").
const (
	exitOK          = 0
	exitFailed      = 1 // the thing failed: an execution, a lint, a refused request
	exitUsage       = 2 // a command-line mistake, an unusable setting or input file
	exitNotFound    = 3
	exitAuth        = 4 // 401, 403
	exitUnavailable = 5 // unreachable, timed out, 5xx, 429
	// exitChanged (6, replay.go): replay -fail-on-change found a difference.
	exitInterrupted = 130
)

// exitError carries an exit status with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// errReported: a failure whose details were printed already (exit 1
// without a message).
var errReported = &exitError{code: exitFailed, err: errors.New("failed")}

// app is one run of the command.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	// Connection and output flags, given before or after the command.
	url, classifierURL, tokenFile, caFile string
	timeout                               time.Duration
	output                                string
	verbose                               bool

	token  string // once read; scrubbed from every message printed
	warned map[string]bool
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, now: time.Now, warned: map[string]bool{}}
	// Whatever a server sends back, the token never reaches the screen.
	a.stdout, a.stderr = &scrubWriter{a: a, w: stdout}, &scrubWriter{a: a, w: stderr}
	return a.exit(ctx, a.main(ctx, args))
}

// exit prints err (terminal-safe, without the token) and maps it to the
// exit status.
func (a *app) exit(ctx context.Context, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if ctx.Err() != nil {
		fmt.Fprintf(a.stderr, "%s: interrupted\n", name)
		return exitInterrupted
	}
	code := exitFailed
	var xe *exitError
	if errors.As(err, &xe) {
		code = xe.code
	}
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.exitCode()
	}
	if err != errReported {
		fmt.Fprintf(a.stderr, "%s: %s\n", name, a.scrub(err.Error()))
		if code == exitUsage {
			fmt.Fprintf(a.stderr, "run '%s help' for the commands and their flags\n", name)
		}
	}
	return code
}

// scrub makes a message terminal-safe and removes the token from it,
// should anything have put it there.
func (a *app) scrub(s string) string {
	if a.token != "" {
		s = strings.ReplaceAll(s, a.token, "<token>")
	}
	return cleanBlock(s)
}

// scrubWriter replaces the token, once read, in everything written.
type scrubWriter struct {
	a *app
	w io.Writer
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	if s.a.token != "" && bytes.Contains(p, []byte(s.a.token)) {
		if _, err := s.w.Write(bytes.ReplaceAll(p, []byte(s.a.token), []byte("<token>"))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.w.Write(p)
}

// warn prints a warning once per key.
func (a *app) warn(key, format string, args ...any) {
	if a.warned[key] {
		return
	}
	a.warned[key] = true
	fmt.Fprintf(a.stderr, "%s: warning: %s\n", name, a.scrub(fmt.Sprintf(format, args...)))
}

// command is one command or subcommand.
type command struct {
	path    string // "executions list"
	args    string // what follows the flags, for usage
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands is set in init: help reads it.
var commands []command

func init() {
	commands = []command{
		{"executions list", "", "executions, newest first (GET /v1/executions)", executionsList},
		{"executions show", "ID", "one execution with its steps, commands, exit codes and output", executionsShow},
		{"executions watch", "ID", "poll an execution until it ends; exit 0 on success, 1 otherwise", executionsWatch},
		{"alerts list", "", "alerts the classifier decided on, newest first (GET /v1/decisions)", alertsList},
		{"alerts show", "DECISION_ID", "an alert's timeline: received, classified, executions and their steps", alertsShow},
		{"rules list", "", "the classifier's rule files and their status (GET /v1/rules)", rulesList},
		{"rules lint", "FILE...", "check rule files with the classifier; exit 1 if any is invalid", rulesLint},
		{"rules explain", "ALERT.json", "what every rule decides for an alert, and why (no action taken)", rulesExplain},
		{"rules paused", "", "rules the action handler's circuit breaker paused (GET /v1/rules on the action handler)", rulesPaused},
		{"rules resume", "NAME", "resume a paused rule: -reason R [-entity HOST] (scope admin)", rulesResume},
		{"replay", "", "re-classify recorded alerts with a candidate rules directory: -rules DIR [-since 7d] [-fail-on-change]", replayCommand},
		{"approve", "ID", "approve an execution awaiting approval: -reason R (scope approve)", approveCommand},
		{"deny", "ID", "deny an execution awaiting approval: -reason R (scope approve)", denyCommand},
		{"report", "", "per rule runs, success rate, p50/p95 duration; per rule and host counts", reportCommand},
		{"run", "", "post a rule and an alert to the action handler (POST /v1/action) and watch the execution", runAction},
		{"completion", "bash|zsh", "print a shell completion script", completion},
		{"version", "", "print the version", printVersion},
		{"help", "[COMMAND]", "print this help", help},
	}
}

func (a *app) main(ctx context.Context, args []string) error {
	fs := a.flags("")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stderr)
			return err
		}
		return usagef("%v", err)
	}
	args = fs.Args()
	if len(args) == 0 {
		a.usage(a.stderr)
		return usagef("no command given")
	}
	c, rest, err := lookup(args)
	if err != nil {
		return err
	}
	return c.run(ctx, a, rest)
}

// lookup finds the command args start with.
func lookup(args []string) (*command, []string, error) {
	var subs []string
	for i := range commands {
		c := &commands[i]
		words := strings.Fields(c.path)
		if words[0] != args[0] {
			continue
		}
		if len(words) == 1 {
			return c, args[1:], nil
		}
		subs = append(subs, words[1])
		if len(args) > 1 && args[1] == words[1] {
			return c, args[2:], nil
		}
	}
	if len(subs) > 0 {
		if len(args) == 1 {
			return nil, nil, usagef("%s: want a subcommand: %s", args[0], strings.Join(subs, ", "))
		}
		return nil, nil, usagef("%s: unknown subcommand %q (subcommands: %s)", args[0], cleanLine(args[1]), strings.Join(subs, ", "))
	}
	return nil, nil, usagef("unknown command %q", cleanLine(args[0]))
}

// flags is a flag set with the connection and output flags, which every
// command accepts before or after its name.
func (a *app) flags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.TrimSpace(name+" "+cmd), flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by exit
	fs.StringVar(&a.url, "url", a.url, "action handler base URL (default $ALEXIS_URL)")
	fs.StringVar(&a.classifierURL, "classifier-url", a.classifierURL, "classifier base URL (default $ALEXIS_CLASSIFIER_URL)")
	fs.StringVar(&a.tokenFile, "token-file", a.tokenFile, "file holding your token, mode 0600 (default $ALEXIS_TOKEN_FILE)")
	fs.StringVar(&a.caFile, "ca-file", a.caFile, "PEM bundle to verify HTTPS servers (default $ALEXIS_CA_FILE, else the system roots)")
	fs.DurationVar(&a.timeout, "timeout", orDuration(a.timeout, 30*time.Second), "timeout of each request")
	fs.StringVar(&a.output, "o", orString(a.output, "table"), "output: table or json (the API's JSON)")
	fs.BoolVar(&a.verbose, "v", a.verbose, "print each request and its answer's status on stderr")
	return fs
}

// parse parses a command's flags, which may come before, between or after
// its arguments ("--" ends them).
func (a *app) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.commandUsage(a.stderr, fs)
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if a.output != "table" && a.output != "json" {
		return nil, usagef("-o: want table or json, got %q", cleanLine(a.output))
	}
	if a.timeout <= 0 {
		return nil, usagef("-timeout: want a positive duration, e.g. 30s")
	}
	return pos, nil
}

func (a *app) commandUsage(w io.Writer, fs *flag.FlagSet) {
	for _, c := range commands {
		if name+" "+c.path == fs.Name() {
			fmt.Fprintf(w, "usage: %s %s [flags] %s\n  %s\n\nflags:\n", name, c.path, c.args, c.summary)
		}
	}
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s [flags] COMMAND [SUBCOMMAND] [flags] [ARGS]\n\ncommands:\n", name)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(c.path+" "+c.args), c.summary)
	}
	fmt.Fprintf(w, `
connection: $ALEXIS_URL, $ALEXIS_CLASSIFIER_URL, $ALEXIS_TOKEN_FILE, $ALEXIS_CA_FILE
(or -url, -classifier-url, -token-file, -ca-file); -o json, -v, -timeout on every command.
exit status: 0 ok, 1 failed, 2 usage, 3 not found, 4 auth refused, 5 unreachable or 5xx,
6 replay -fail-on-change found a difference.
`)
}

func help(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		c, _, err := lookup(args)
		if err != nil {
			return err
		}
		fs := a.flags(c.path)
		commandFlags(c.path, fs)
		a.commandUsage(a.stdout, fs)
		return nil
	}
	a.usage(a.stdout)
	return nil
}

func printVersion(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flags("version"), args); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s %s\n", name, version)
	return nil
}

// commandFlags adds a command's own flags to fs, for help and completion;
// each command declares them in one place, flagsFor.
func commandFlags(path string, fs *flag.FlagSet) {
	if f, ok := flagsFor[path]; ok {
		f(fs)
	}
}

// flagsFor declares each command's own flags (values discarded: help and
// completion only list them; the commands declare the same through the
// same functions).
var flagsFor = map[string]func(fs *flag.FlagSet){
	"executions list":  func(fs *flag.FlagSet) { new(execFilter).register(fs) },
	"executions watch": func(fs *flag.FlagSet) { new(watchOptions).register(fs) },
	"alerts list":      func(fs *flag.FlagSet) { new(alertFilter).register(fs) },
	"alerts show":      func(fs *flag.FlagSet) { payloadFlag(fs) },
	"report":           func(fs *flag.FlagSet) { new(reportOptions).register(fs) },
	"replay":           func(fs *flag.FlagSet) { new(replayOptions).register(fs) },
	"run":              func(fs *flag.FlagSet) { new(runOptions).register(fs) },
	"rules paused":     func(fs *flag.FlagSet) { new(pausedOptions).register(fs) },
	"rules resume":     func(fs *flag.FlagSet) { new(resumeOptions).register(fs) },
	"approve":          func(fs *flag.FlagSet) { new(decisionOptions).register(fs) },
	"deny":             func(fs *flag.FlagSet) { new(decisionOptions).register(fs) },
}

// sortedCommands lists the top-level command names.
func topCommands() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range commands {
		w := strings.Fields(c.path)[0]
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// base resolves a service's base URL from its flag or environment
// variable: http or https, a host, no credentials, no query.
func (a *app) base(flagValue, env, what string) (string, error) {
	raw := flagValue
	if raw == "" {
		raw = a.getenv(env)
	}
	if raw == "" {
		return "", usagef("no %s URL: set %s or give -%s", what, env, map[string]string{"ALEXIS_URL": "url", "ALEXIS_CLASSIFIER_URL": "classifier-url"}[env])
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("%s URL: want http(s)://HOST[:PORT][/PATH], got %q", what, cleanLine(redactURL(raw)))
	}
	if u.User != nil {
		return "", usagef("%s URL: must not hold credentials (the token comes from the token file)", what)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", usagef("%s URL: must not have a query or fragment", what)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		a.warn("http:"+u.Host, "%s URL %s is plain http: your token crosses the network unencrypted; use https", what, u.Host)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// redactURL drops anything between "//" and "@" from a URL that did not
// parse, in case it held a password.
func redactURL(s string) string {
	if i := strings.Index(s, "//"); i >= 0 {
		if j := strings.LastIndex(s, "@"); j > i {
			return s[:i+2] + "…@" + s[j+1:]
		}
	}
	return s
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maxID is the longest execution or decision id accepted.
const maxID = 128

// checkID refuses an id that is not one path segment of letters, digits
// and ._:- (ids are 32 hex digits).
func checkID(what, id string) error {
	if id == "" || id == "." || id == ".." || len(id) > maxID {
		return usagef("%s: want an id of 1..%d characters, got %q", what, maxID, cleanLine(truncate(id, maxID)))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-') {
			return usagef("%s: %q is not an id (letters, digits and ._:- only)", what, cleanLine(truncate(id, maxID)))
		}
	}
	return nil
}

// readInput reads a file named on the command line, at most max bytes.
func readInput(path string, max int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("%s: %v", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, usagef("%s: read %s: %v", what, cleanLine(path), err)
	}
	if int64(len(data)) > max {
		return nil, usagef("%s: %s is larger than %d bytes", what, cleanLine(path), max)
	}
	return data, nil
}
