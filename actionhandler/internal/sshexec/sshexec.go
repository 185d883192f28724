// Package sshexec runs one-line commands on hosts over SSH, in process
// (golang.org/x/crypto/ssh), with host keys checked against a known_hosts
// file, bounded connect and command times, and capped output.
//
// A command that outlives its time is killed on the host: the session gets
// a KILL signal and, because OpenSSH honours signals only for sessions under
// privilege separation (not for root logins), the remote process group is
// also killed from a second session. For that, each command is prefixed
// with a line that reports the shell's pid and start time on stderr (the
// pid is the session's process group, as sshd starts each session with
// setsid); that line is removed from the captured stderr. With both, a
// later process (another replica, after this one died) can kill a command
// left running without risking a reused pid (KillLeftover). A command run
// with a step key also records its pid and start time in a file of its
// own on the host (StepDir), which the EXIT trap removes: the taker-over
// finds it there even when the pid line never reached the store. The login
// shell must therefore be a POSIX shell (sh, bash, dash, ksh, zsh).
package sshexec

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Defaults for Options fields left zero.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 10 * time.Second
	DefaultCommandTimeout = 5 * time.Minute
	DefaultOutputLimit    = 64 << 10
	DefaultIdleTimeout    = 30 * time.Second
)

// killTimeout bounds the clean-up after a command timed out.
const killTimeout = 5 * time.Second

// Failure reasons. Result.Err wraps exactly one of them (errors.Is).
var (
	ErrHostKeyUnknown  = errors.New("host key unknown")
	ErrHostKeyMismatch = errors.New("host key mismatch")
	ErrHostKeyRevoked  = errors.New("host key revoked")
	ErrAddress         = errors.New("bad address")
	ErrConnect         = errors.New("connect failed")
	ErrConnectTimeout  = errors.New("connect timeout")
	ErrAuth            = errors.New("authentication failed")
	ErrSession         = errors.New("session failed")
	ErrTimeout         = errors.New("timeout")
	ErrCancelled       = errors.New("cancelled")
	ErrExitStatus      = errors.New("exit status")
	ErrNoExitStatus    = errors.New("no exit status")
)

// Options configure an Executor.
type Options struct {
	User           string
	KeyFile        string // private key (OpenSSH or PEM format, no passphrase)
	KnownHostsFile string // required unless InsecureIgnoreHostKey
	// InsecureIgnoreHostKey accepts any host key. Every connection then
	// logs event=host_key_check_disabled at warn level.
	InsecureIgnoreHostKey bool
	Port                  int           // default port for entities without one
	ConnectTimeout        time.Duration // dial + SSH handshake + authentication
	CommandTimeout        time.Duration // from session start to exit status
	OutputLimit           int           // bytes kept of stdout and of stderr, each
	// IdleTimeout is how long a connection is kept after a command for the
	// next one to the same user and host; default DefaultIdleTimeout,
	// negative: close after every command.
	IdleTimeout time.Duration
	// Hosts overrides the user and default port per host, by the entity's
	// host part ("db01" for entity "db01" or "db01:2222").
	Hosts map[string]Host
	Log   zerolog.Logger
	// OnConnection, when set, is told of every connection used by Run:
	// ConnOpened, ConnReused or ConnFailed (for metrics).
	OnConnection func(result string)
}

// Connection results for Options.OnConnection.
const (
	ConnOpened = "opened" // a new connection was authenticated
	ConnReused = "reused" // a kept connection ran the command
	ConnFailed = "failed" // connecting or authenticating failed
)

func (e *Executor) connection(result string) {
	if e.o.OnConnection != nil {
		e.o.OnConnection(result)
	}
}

// Host is a per-host override.
type Host struct {
	User string // log in as this user instead of Options.User
	Port int    // port for the entity when it names none
}

// Executor connects to hosts and runs commands. It is safe for concurrent
// use. Commands on one host (host:port) run one at a time; connections are
// kept for IdleTimeout and reused. Close closes the kept connections.
type Executor struct {
	o        Options
	signer   ssh.Signer
	hostKeys ssh.HostKeyCallback // nil when host keys are not checked
	probeKey ssh.PublicKey       // a key no host has, to list a host's known key types
	log      zerolog.Logger
	pool     pool
	locks    hostLocks
}

// New reads the key and known_hosts files and returns an Executor.
func New(o Options) (*Executor, error) {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.User == "" {
		return nil, errors.New("sshexec: user required")
	}
	e := &Executor{o: o, log: o.Log.With().Str(logging.Component, "ssh").Logger()}
	e.pool.init(o.IdleTimeout)
	e.locks.init()
	pem, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("sshexec: read key file: %w", err)
	}
	if e.signer, err = ssh.ParsePrivateKey(pem); err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("sshexec: key file %s is protected by a passphrase, which is not supported", o.KeyFile)
		}
		// The parser's message never quotes key material.
		return nil, fmt.Errorf("sshexec: key file %s: %w", o.KeyFile, err)
	}
	if o.InsecureIgnoreHostKey {
		e.log.Warn().Str(logging.Event, "host_key_check_disabled").
			Msg("ssh.insecure_ignore_host_key is set: host keys are not verified, connections can be intercepted")
		return e, nil
	}
	if o.KnownHostsFile == "" {
		return nil, errors.New("sshexec: known_hosts file required unless host key checking is disabled")
	}
	if e.hostKeys, err = knownhosts.New(o.KnownHostsFile); err != nil {
		return nil, fmt.Errorf("sshexec: known_hosts: %w", err)
	}
	_, probe, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := ssh.NewSignerFromKey(probe)
	if err != nil {
		return nil, err
	}
	e.probeKey = s.PublicKey()
	return e, nil
}

// Options returns the options in use, defaults filled in.
func (e *Executor) Options() Options { return e.o }

// Run runs command on entity with the default command timeout (see Exec).
func (e *Executor) Run(ctx context.Context, entity, command string) *Result {
	return e.Exec(ctx, Request{Entity: entity, Command: command})
}

// Request is one command for one host.
type Request struct {
	Entity  string        // "host", "host:port" or "[v6]:port"
	Command string        // a POSIX shell command line
	Timeout time.Duration // from session start to exit status; 0: Options.CommandTimeout
	// Started, if set, is called with the remote process as soon as the
	// host reported it, before the command's output is read on (so a
	// caller can record it durably while the command runs).
	Started func(Process)
	// Key, if set (StepKey), names the file on the host where the command
	// records its pid and start time while it runs (StepDir): the process
	// taking over from one that died reads it (KillLeftover). Anything but
	// a step key is ignored.
	Key string
}

// StepKey is the name of a step's file on its host: hex of a hash of the
// execution id, the task's index and the entity, so it is safe as a file
// name whatever the alert put in the entity, and the same in every replica.
func StepKey(executionID string, taskIndex int, entity string) string {
	h := sha256.Sum256([]byte(executionID + "\x00" + strconv.Itoa(taskIndex) + "\x00" + entity))
	return hex.EncodeToString(h[:16])
}

// validKey: key is what StepKey returns (32 lower-case hex digits).
func validKey(key string) bool {
	if len(key) != 32 {
		return false
	}
	for _, r := range key {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// Exec runs a command on a host: it waits for the host's previous command
// (from any execution) to end, reuses a kept connection or connects, runs
// the command, and keeps the connection for the next one. The Result is
// never nil; its Err is nil exactly when the command exited 0.
func (e *Executor) Exec(ctx context.Context, req Request) *Result {
	start := time.Now()
	fail := func(addr string, err error) *Result {
		return &Result{Addr: addr, ExitCode: -1, Elapsed: time.Since(start), Err: err}
	}
	t, err := e.target(req.Entity)
	if err != nil {
		return fail(req.Entity, err)
	}
	unlock, err := e.locks.lock(ctx, t.addr)
	if err != nil {
		return fail(t.addr, fmt.Errorf("%w: waiting for the previous command on the host: %v", ErrCancelled, context.Cause(ctx)))
	}
	defer unlock()
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = e.o.CommandTimeout
	}
	if c := e.pool.get(t.key()); c != nil {
		r, opened := c.run(ctx, req.Command, req.Key, timeout, req.Started)
		if opened {
			r.Reused = true
			e.connection(ConnReused)
			e.release(t.key(), c)
			r.Elapsed = time.Since(start)
			return r
		}
		// The kept connection died while idle (host restarted, network):
		// nothing ran, so connect afresh.
		c.Close()
	}
	c, err := e.dial(ctx, t)
	if err != nil {
		e.connection(ConnFailed)
		return fail(t.addr, err)
	}
	e.connection(ConnOpened)
	r, _ := c.run(ctx, req.Command, req.Key, timeout, req.Started)
	e.release(t.key(), c)
	r.Elapsed = time.Since(start)
	return r
}

// Leftover is what KillLeftover found on the host and did.
type Leftover struct {
	// Process is the process looked at: the one given, else the one the
	// step file on the host names; zero when neither knew one.
	Process Process
	Killed  bool // it still ran and was killed
}

// KillLeftover kills the command of an execution whose action handler
// died: the process group of p on entity, or, when p is unknown (its pid
// never reached the store), of the process recorded in the step file of
// key on the host. Only a process that still has that pid and that start
// time is killed; a process without a start time is left alone (its pid
// may have been reused) and reported as an error. The step file is removed.
func (e *Executor) KillLeftover(ctx context.Context, entity, key string, p Process) (Leftover, error) {
	if !validKey(key) {
		key = ""
	}
	if p.PID <= 1 && key == "" {
		return Leftover{}, errors.New("no remote process known and no step key to look it up on the host")
	}
	t, err := e.target(entity)
	if err != nil {
		return Leftover{}, err
	}
	unlock, err := e.locks.lock(ctx, t.addr)
	if err != nil {
		return Leftover{}, err
	}
	defer unlock()
	c, err := e.dial(ctx, t)
	if err != nil {
		return Leftover{}, err
	}
	defer c.Close()
	remove := "exit 0"
	if key != "" {
		remove = "rm -f -- " + stepFile(key) + "; exit 0"
	}
	if p.PID <= 1 {
		r, _ := c.run(ctx, "cat -- "+stepFile(key)+" 2>/dev/null; exit 0", "", e.o.ConnectTimeout, nil)
		if r.Err != nil {
			return Leftover{}, fmt.Errorf("read the step file: %w", r.Err)
		}
		if strings.TrimSpace(r.Stdout.Text) == "" {
			// No file: the command ended (its EXIT trap removed it), or
			// never started.
			return Leftover{}, nil
		}
		found, ok := parseProcess(r.Stdout.Text)
		if !ok {
			return Leftover{}, errors.New("the step file on the host does not hold a pid")
		}
		p = found
	}
	if !digits(p.Start) {
		return Leftover{Process: p}, errors.New("no verifiable remote process (its host did not report a start time)")
	}
	pid := strconv.Itoa(p.PID)
	// Only digits and hex digits reach this line.
	cmd := "if [ \"$(cut -d' ' -f22 /proc/" + pid + "/stat 2>/dev/null)\" = " + p.Start + " ] && kill -KILL -- -" + pid + " " + pid +
		" 2>/dev/null; then echo killed; fi; " + remove
	r, _ := c.run(ctx, cmd, "", e.o.ConnectTimeout, nil)
	if r.Err != nil {
		return Leftover{Process: p}, r.Err
	}
	return Leftover{Process: p, Killed: strings.TrimSpace(r.Stdout.Text) == "killed"}, nil
}

// release keeps c for the next command unless it is broken or keeping is
// off.
func (e *Executor) release(key string, c *Conn) {
	if c.dead() || e.o.IdleTimeout < 0 {
		c.Close()
		return
	}
	e.pool.put(key, c)
}

// Close closes the kept connections. Commands running go on; their
// connections close when they end.
func (e *Executor) Close() error {
	e.pool.close()
	return nil
}

// target is where an entity's commands go.
type target struct {
	addr string // host:port
	user string
}

func (t target) key() string { return t.user + "@" + t.addr }

func (e *Executor) target(entity string) (target, error) {
	port := e.o.Port
	user := e.o.User
	host := hostPart(entity)
	if h, ok := e.o.Hosts[host]; ok {
		if h.Port != 0 {
			port = h.Port
		}
		if h.User != "" {
			user = h.User
		}
	}
	addr, err := Address(entity, port)
	if err != nil {
		return target{}, fmt.Errorf("%w: %v", ErrAddress, err)
	}
	return target{addr: addr, user: user}, nil
}

// HostKey is the host:port entity resolves to (ssh.port and ssh.hosts
// applied), in lower case: one name for the host, whatever the entity's
// spelling. An entity that does not resolve is its lower-cased self.
func (e *Executor) HostKey(entity string) string {
	t, err := e.target(entity)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(entity))
	}
	return strings.ToLower(t.addr)
}

// hostPart is an entity without its port and IPv6 brackets.
func hostPart(entity string) string {
	e := strings.TrimSpace(entity)
	if strings.HasPrefix(e, "[") {
		if end := strings.Index(e, "]"); end > 0 {
			return e[1:end]
		}
	}
	if strings.Count(e, ":") == 1 {
		h, _, _ := strings.Cut(e, ":")
		return h
	}
	return e
}

// Conn is one authenticated SSH connection to a host. It may run several
// commands, one after the other or concurrently.
type Conn struct {
	Addr   string // host:port
	User   string
	client *ssh.Client
	e      *Executor
	closed chan struct{} // closed when the connection has ended
}

// dead reports whether the connection has ended.
func (c *Conn) dead() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.client.Close() }

// Dial connects and authenticates to entity ("host", "host:port",
// "[v6]:port") within the connect timeout, as the configured user (or the
// host's override). The connection is the caller's: it is not kept.
func (e *Executor) Dial(ctx context.Context, entity string) (*Conn, error) {
	t, err := e.target(entity)
	if err != nil {
		return nil, err
	}
	return e.dial(ctx, t)
}

func (e *Executor) dial(ctx context.Context, t target) (*Conn, error) {
	addr := t.addr
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCancelled, err)
	}
	dctx, cancel := context.WithTimeout(ctx, e.o.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	tcp, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, e.connectError(ctx, dctx, err)
	}
	deadline, _ := dctx.Deadline()
	_ = tcp.SetDeadline(deadline)
	// The handshake honours the context too.
	stop := context.AfterFunc(dctx, func() { tcp.Close() })
	defer stop()

	var keyErr error // what the host key check said, whatever the handshake wraps
	cfg := &ssh.ClientConfig{
		User: t.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(e.signer)},
	}
	if e.hostKeys == nil {
		e.log.Warn().Str(logging.Event, "host_key_check_disabled").Str(logging.Target, addr).
			Msg("host key not verified")
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	} else {
		cfg.HostKeyAlgorithms = e.hostKeyAlgorithms(addr, tcp.RemoteAddr())
		cfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			keyErr = e.hostKeys(hostname, remote, key)
			return keyErr
		}
	}
	sc, chans, reqs, err := ssh.NewClientConn(tcp, addr, cfg)
	if err != nil {
		tcp.Close()
		if keyErr != nil {
			return nil, hostKeyError(addr, keyErr)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("%w: user %s: %v", ErrAuth, t.user, err)
		}
		return nil, e.connectError(ctx, dctx, err)
	}
	if !stop() {
		// The context ended just as the handshake finished.
		sc.Close()
		return nil, e.connectError(ctx, dctx, context.DeadlineExceeded)
	}
	_ = tcp.SetDeadline(time.Time{})
	c := &Conn{Addr: addr, User: t.user, client: ssh.NewClient(sc, chans, reqs), e: e, closed: make(chan struct{})}
	go func() {
		_ = c.client.Wait()
		close(c.closed)
	}()
	return c, nil
}

func (e *Executor) connectError(ctx, dctx context.Context, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %v", ErrCancelled, ctx.Err())
	case dctx.Err() != nil || errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: no SSH session within %s", ErrConnectTimeout, e.o.ConnectTimeout)
	}
	return fmt.Errorf("%w: %v", ErrConnect, err)
}

// hostKeyAlgorithms lists the key algorithms known_hosts has for addr, so
// the server is asked for a key type we can verify. (A host with RSA and
// ed25519 keys, known here only by its RSA key, would otherwise offer
// ed25519 and fail as if its key had changed.) nil means no preference.
func (e *Executor) hostKeyAlgorithms(addr string, remote net.Addr) []string {
	var ke *knownhosts.KeyError
	if !errors.As(e.hostKeys(addr, remote, e.probeKey), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func hostKeyError(addr string, err error) error {
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("%w: %s presented a revoked key", ErrHostKeyRevoked, addr)
	case errors.As(err, &ke) && len(ke.Want) > 0:
		return fmt.Errorf("%w: %s presented a key that differs from known_hosts %s:%d (changed host key, or someone in the middle)",
			ErrHostKeyMismatch, addr, ke.Want[0].Filename, ke.Want[0].Line)
	case errors.As(err, &ke):
		return fmt.Errorf("%w: %s is not in known_hosts", ErrHostKeyUnknown, addr)
	}
	return fmt.Errorf("%w: %v", ErrHostKeyMismatch, err)
}
