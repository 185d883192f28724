// Package sshdtest starts real OpenSSH servers (/usr/sbin/sshd) for tests
// and demos: each on a loopback address with its own ed25519 host key, all
// accepting one generated client key for the current user.
//
//	fleet := sshdtest.NewFleetT(t)
//	srv := fleet.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"})
//	// fleet.ClientKeyFile, fleet.KnownHostsFile, fleet.User, srv.Addr
//
// or, for a single server, sshdtest.StartT(t, sshdtest.Options{}) and its
// srv.Fleet. sshd must be installed (Debian: apt-get install
// openssh-server); tests fail without it unless ALEXIS_SKIP_SSHD=1 is set,
// in which case they are skipped.
package sshdtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

// SSHD is the sshd binary used.
const SSHD = "/usr/sbin/sshd"

// SkipEnv, set to "1", makes the *T helpers skip the test when sshd is
// missing instead of failing it.
const SkipEnv = "ALEXIS_SKIP_SSHD"

// ReadyTimeout bounds how long Start waits for sshd to answer its banner.
const ReadyTimeout = 15 * time.Second

// ErrNoSSHD is returned when the sshd binary is missing.
var ErrNoSSHD = errors.New(SSHD + " not found: install it with apt-get install openssh-server (or set " + SkipEnv + "=1 to skip sshd tests)")

// Options configure one server.
type Options struct {
	// Addr is the address to listen on; port 0 picks a free port.
	// Default "127.0.0.1:0".
	Addr string
	// Dir is the work directory (keys, config, pid file). Default: a new
	// temporary directory (t.TempDir() with the *T helpers), removed on Close.
	Dir string
	// HostKeyTypes are the host keys the server gets, in order: "ed25519",
	// "rsa", "ecdsa". Default: ed25519 only. HostKey and HostKeyLine are the
	// first one's; known_hosts files list them all.
	HostKeyTypes []string
	// ExtraConfig are sshd_config lines appended to the generated ones
	// (e.g. a ForceCommand that makes the host misbehave).
	ExtraConfig []string
}

// Fleet is a client identity shared by servers: a generated ed25519 key
// pair, an authorized_keys file every server of the fleet accepts, and a
// known_hosts file listing every server started from it.
type Fleet struct {
	Dir                string     // where the files below live
	User               string     // the user to log in as (the current user)
	ClientKeyFile      string     // client private key, OpenSSH PEM, mode 0600
	AuthorizedKeysFile string     // the client public key in authorized_keys form
	KnownHostsFile     string     // rewritten by each Start with every server's host keys
	Signer             ssh.Signer // the client key, for Go clients

	mu      sync.Mutex
	servers []*Server
	ownDir  bool
	current bool // User is the current user
}

// Server is one running sshd.
type Server struct {
	Addr        string          // host:port it listens on
	Host        string          // host part of Addr
	Port        int             // port part of Addr
	HostKey     ssh.PublicKey   // its (first) host key, ed25519 by default
	HostKeyLine string          // known_hosts line for Addr and HostKey
	HostKeys    []ssh.PublicKey // every host key, in Options.HostKeyTypes order
	Dir         string          // its work directory
	// Home is the HOME its sessions get when they log in as the current
	// user: a directory of its own under Dir, so that the machine's login
	// files (a ~/.bashrc printing to stderr, a pyenv rehash racing another
	// login) do not run in tests and what a command leaves in its home is
	// per server. "" for a fleet of another user, whose real home is kept.
	Home string

	// The client identity it accepts (copied from Fleet for convenience).
	Fleet          *Fleet
	User           string // user to log in as
	ClientKeyFile  string // client private key file
	KnownHostsFile string // the fleet's known_hosts file (lists this server)

	cmd     *exec.Cmd
	stderr  *logtest.Buffer
	done    chan struct{} // closed when the process has exited
	waitErr error
	remove  []string // directories Close removes
	extra   []string // Options.ExtraConfig
	once    sync.Once
}

// NewFleet generates a client key pair in dir ("" makes a temporary
// directory that Close removes). Its servers accept the current user.
func NewFleet(dir string) (*Fleet, error) {
	return NewFleetAs(dir, "")
}

// NewFleetAs is NewFleet for servers that accept another local user ("":
// the current one). Running sshd as root lets it log anyone in; the user
// must exist and have a usable shell (a benchmark may want /bin/sh rather
// than a login shell with a slow rc file).
func NewFleetAs(dir, username string) (*Fleet, error) {
	f := &Fleet{Dir: dir}
	if dir == "" {
		d, err := os.MkdirTemp("", "sshdtest-")
		if err != nil {
			return nil, err
		}
		f.Dir, f.ownDir = d, true
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sshdtest: current user: %w", err)
	}
	f.User, f.current = u.Username, true
	if username != "" && username != u.Username {
		f.current = false
		if _, err := user.Lookup(username); err != nil {
			return nil, fmt.Errorf("sshdtest: user %s: %w", username, err)
		}
		f.User = username
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "alexis sshdtest client")
	if err != nil {
		return nil, fmt.Errorf("sshdtest: marshal client key: %w", err)
	}
	if f.Signer, err = ssh.NewSignerFromKey(priv); err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	f.ClientKeyFile = filepath.Join(f.Dir, "id_ed25519")
	f.AuthorizedKeysFile = filepath.Join(f.Dir, "authorized_keys")
	f.KnownHostsFile = filepath.Join(f.Dir, "known_hosts")
	if err := os.WriteFile(f.ClientKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.AuthorizedKeysFile, ssh.MarshalAuthorizedKey(sshPub), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.KnownHostsFile, nil, 0o600); err != nil {
		return nil, err
	}
	if f.User != u.Username {
		// sshd reads authorized_keys as the user logging in: let it (the
		// directory's parents must be traversable too).
		if err := os.Chmod(f.AuthorizedKeysFile, 0o644); err != nil {
			return nil, err
		}
		if err := os.Chmod(f.Dir, 0o711); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Servers returns the servers started from f, in order.
func (f *Fleet) Servers() []*Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Server(nil), f.servers...)
}

// Start starts one sshd accepting f's key and adds it to f.KnownHostsFile.
func (f *Fleet) Start(ctx context.Context, o Options) (*Server, error) {
	s, err := start(ctx, f, o)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.servers = append(f.servers, s)
	servers := append([]*Server(nil), f.servers...)
	f.mu.Unlock()
	if err := WriteKnownHosts(f.KnownHostsFile, servers...); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops every server of the fleet and removes its directory if
// NewFleet made it.
func (f *Fleet) Close() error {
	var errs []error
	for _, s := range f.Servers() {
		errs = append(errs, s.Close())
	}
	if f.ownDir {
		errs = append(errs, os.RemoveAll(f.Dir))
	}
	return errors.Join(errs...)
}

// Start starts one sshd with a fleet of its own (srv.Fleet), whose files
// live in o.Dir. Close stops it and removes what Start created.
func Start(ctx context.Context, o Options) (*Server, error) {
	f, err := NewFleet(o.Dir)
	if err != nil {
		return nil, err
	}
	s, err := f.Start(ctx, Options{Addr: o.Addr, Dir: filepath.Join(f.Dir, "sshd")})
	if err != nil {
		f.Close()
		return nil, err
	}
	if f.ownDir {
		s.remove = append(s.remove, f.Dir)
	}
	return s, nil
}

// StartT is Start for a test: it fails the test (or skips it when
// ALEXIS_SKIP_SSHD=1 and sshd is missing) and stops the server at cleanup.
func StartT(t testing.TB, o Options) *Server {
	t.Helper()
	f := NewFleetT(t)
	return f.StartT(t, o)
}

// NewFleetT is NewFleet in t.TempDir(); its servers stop at cleanup.
func NewFleetT(t testing.TB) *Fleet {
	t.Helper()
	Require(t)
	f, err := NewFleet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// StartT is Fleet.Start for a test, in a directory under t.TempDir()
// unless o.Dir is set.
func (f *Fleet) StartT(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := f.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Require fails t when sshd is missing, or skips it if ALEXIS_SKIP_SSHD=1.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("%s missing and %s=1: skipping", SSHD, SkipEnv)
		}
		t.Fatal(ErrNoSSHD)
	}
}

// Close stops sshd (its whole process group) and waits for it.
func (s *Server) Close() error {
	s.once.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
		for _, d := range s.remove {
			os.RemoveAll(d)
		}
	})
	return nil
}

// Stderr returns what sshd has written to its stderr so far.
func (s *Server) Stderr() string { return s.stderr.String() }

// KnownHostsLine returns the known_hosts line for addr ("host:port") and key.
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
}

// WrongHostKeyLine returns a known_hosts line for s.Addr with a freshly
// generated key that is not s's: a client trusting it sees a changed host
// key.
func (s *Server) WrongHostKeyLine() string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return KnownHostsLine(s.Addr, k)
}

// WriteKnownHosts writes a known_hosts file listing servers.
func WriteKnownHosts(path string, servers ...*Server) error {
	var b strings.Builder
	for _, s := range servers {
		for _, k := range s.HostKeys {
			b.WriteString(KnownHostsLine(s.Addr, k) + "\n")
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func start(ctx context.Context, f *Fleet, o Options) (*Server, error) {
	if _, err := os.Stat(SSHD); err != nil {
		return nil, ErrNoSSHD
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	ownDir := false
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "sshdtest-server-")
		if err != nil {
			return nil, err
		}
		o.Dir, ownDir = d, true
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshdtest: create /run/sshd: %w", err)
		}
	}
	if len(o.HostKeyTypes) == 0 {
		o.HostKeyTypes = []string{"ed25519"}
	}
	var hostKeys []ssh.PublicKey
	var hostKeyFiles []string
	for _, typ := range o.HostKeyTypes {
		file := filepath.Join(o.Dir, "ssh_host_"+typ+"_key")
		k, err := writeHostKey(file, typ)
		if err != nil {
			return nil, err
		}
		hostKeys = append(hostKeys, k)
		hostKeyFiles = append(hostKeyFiles, file)
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: address %q: %w", o.Addr, err)
	}
	// A free port is found by binding in Go then letting sshd bind it;
	// another process may take it in between, so try a few times.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if p == "0" {
			if p, err = freePort(host); err != nil {
				return nil, err
			}
		}
		s := &Server{
			Addr: net.JoinHostPort(host, p), Host: host, HostKey: hostKeys[0], HostKeys: hostKeys,
			Dir: o.Dir, Fleet: f, User: f.User,
			ClientKeyFile: f.ClientKeyFile, KnownHostsFile: f.KnownHostsFile, extra: o.ExtraConfig,
		}
		if ownDir {
			s.remove = []string{o.Dir}
		}
		if f.current {
			s.Home = filepath.Join(o.Dir, "home")
			if err := os.MkdirAll(s.Home, 0o700); err != nil {
				return nil, err
			}
		}
		s.Port, _ = strconv.Atoi(p)
		s.HostKeyLine = KnownHostsLine(s.Addr, hostKeys[0])
		err := s.run(ctx, hostKeyFiles)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if port != "0" || !strings.Contains(s.Stderr(), "Bind to port") {
			break
		}
	}
	if ownDir {
		os.RemoveAll(o.Dir)
	}
	return nil, lastErr
}

func (s *Server) run(ctx context.Context, hostKeyFiles []string) error {
	conf := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(s.config(hostKeyFiles)), 0o600); err != nil {
		return err
	}
	s.stderr = &logtest.Buffer{}
	s.done = make(chan struct{})
	s.cmd = exec.Command(SSHD, "-D", "-e", "-f", conf)
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Per-connection sshd processes hold the output pipe until their
	// client disconnects: do not wait for them once sshd itself is gone.
	s.cmd.WaitDelay = time.Second
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("sshdtest: start sshd: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("sshdtest: sshd on %s: %w; sshd stderr: %s", s.Addr, err, strings.TrimSpace(s.Stderr()))
	}
	return nil
}

func (s *Server) config(hostKeyFiles []string) string {
	lines := []string{
		"ListenAddress " + s.Host,
		"Port " + strconv.Itoa(s.Port),
	}
	for _, f := range hostKeyFiles {
		lines = append(lines, "HostKey "+f)
	}
	lines = append(lines,
		"PidFile "+filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile "+s.Fleet.AuthorizedKeysFile,
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"AllowUsers "+s.Fleet.User,
		"LogLevel ERROR",
		// Tests fan out many connections at once; the default (10:30:100)
		// drops unauthenticated connections beyond 10.
		"MaxStartups 1000",
		"MaxSessions 100",
		"UseDNS no",
	)
	if s.Home != "" {
		// HOME set by the server's SetEnv wins over the account's; the
		// shell then reads its rc files from there (none).
		lines = append(lines, "SetEnv HOME="+s.Home)
	}
	lines = append(lines, s.extra...)
	return strings.Join(lines, "\n") + "\n"
}

// waitReady waits until sshd accepts TCP and sends its SSH banner.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	for {
		if err := banner(ctx, s.Addr); err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("sshd exited (%v)", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no SSH banner within %s: %w", ReadyTimeout, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func banner(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], []byte("SSH-")) {
		return fmt.Errorf("unexpected banner %q", buf[:n])
	}
	return nil
}

func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("sshdtest: find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p, nil
}

func writeHostKey(path, typ string) (ssh.PublicKey, error) {
	var priv crypto.Signer
	var err error
	switch typ {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("sshdtest: host key type %q: want ed25519, rsa or ecdsa", typ)
	}
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "alexis sshdtest host")
	if err != nil {
		return nil, fmt.Errorf("sshdtest: marshal host key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(priv.Public())
}
