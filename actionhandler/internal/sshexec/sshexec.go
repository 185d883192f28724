// Package sshexec runs one-line commands on hosts over SSH, in process
// (golang.org/x/crypto/ssh), with host keys checked against a known_hosts
// file, bounded connect and command times, and capped output.
//
// A command that outlives its time is killed on the host: the session gets
// a KILL signal and, because OpenSSH honours signals only for sessions under
// privilege separation (not for root logins), the remote process group is
// also killed from a second session. For that, each command is prefixed
// with a line that reports the shell's pid on stderr (the pid is the
// session's process group, as sshd starts each session with setsid); that
// line is removed from the captured stderr. The login shell must therefore
// be a POSIX shell (sh, bash, dash, ksh, zsh).
package sshexec

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
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
	Log                   zerolog.Logger
}

// Executor connects to hosts and runs commands. It is safe for concurrent
// use.
type Executor struct {
	o        Options
	signer   ssh.Signer
	hostKeys ssh.HostKeyCallback // nil when host keys are not checked
	probeKey ssh.PublicKey       // a key no host has, to list a host's known key types
	log      zerolog.Logger
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
	if o.User == "" {
		return nil, errors.New("sshexec: user required")
	}
	e := &Executor{o: o, log: o.Log.With().Str(logging.Component, "ssh").Logger()}
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

// Run connects to entity, runs command and disconnects. The Result is
// never nil; its Err is nil exactly when the command exited 0.
func (e *Executor) Run(ctx context.Context, entity, command string) *Result {
	start := time.Now()
	c, err := e.Dial(ctx, entity)
	if err != nil {
		return &Result{Addr: c.addrOr(entity), ExitCode: -1, Elapsed: time.Since(start), Err: err}
	}
	defer c.Close()
	r := c.Run(ctx, command)
	r.Elapsed = time.Since(start)
	return r
}

// Conn is one authenticated SSH connection to a host. It may run several
// commands, one after the other or concurrently.
type Conn struct {
	Addr   string // host:port
	client *ssh.Client
	e      *Executor
}

func (c *Conn) addrOr(entity string) string {
	if c != nil && c.Addr != "" {
		return c.Addr
	}
	return entity
}

// Close closes the connection.
func (c *Conn) Close() error { return c.client.Close() }

// Dial connects and authenticates to entity ("host", "host:port",
// "[v6]:port") within the connect timeout. On error the returned Conn is
// nil unless the address was parsed, in which case it carries only Addr.
func (e *Executor) Dial(ctx context.Context, entity string) (*Conn, error) {
	addr, err := Address(entity, e.o.Port)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAddress, err)
	}
	bare := &Conn{Addr: addr}
	if err := ctx.Err(); err != nil {
		return bare, fmt.Errorf("%w: %v", ErrCancelled, err)
	}
	dctx, cancel := context.WithTimeout(ctx, e.o.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	tcp, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return bare, e.connectError(ctx, dctx, err)
	}
	deadline, _ := dctx.Deadline()
	_ = tcp.SetDeadline(deadline)
	// The handshake honours the context too.
	stop := context.AfterFunc(dctx, func() { tcp.Close() })
	defer stop()

	var keyErr error // what the host key check said, whatever the handshake wraps
	cfg := &ssh.ClientConfig{
		User: e.o.User,
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
			return bare, hostKeyError(addr, keyErr)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return bare, fmt.Errorf("%w: user %s: %v", ErrAuth, e.o.User, err)
		}
		return bare, e.connectError(ctx, dctx, err)
	}
	if !stop() {
		// The context ended just as the handshake finished.
		sc.Close()
		return bare, e.connectError(ctx, dctx, context.DeadlineExceeded)
	}
	_ = tcp.SetDeadline(time.Time{})
	return &Conn{Addr: addr, client: ssh.NewClient(sc, chans, reqs), e: e}, nil
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
