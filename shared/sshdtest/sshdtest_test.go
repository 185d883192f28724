package sshdtest

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dial(t *testing.T, f *Fleet, knownHostsFile, addr string) (*ssh.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            f.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(f.Signer)},
		HostKeyCallback: cb,
	})
}

func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("run %q: %v (output %q)", cmd, err, out)
	}
	return string(out)
}

func TestFleet(t *testing.T) {
	f := NewFleetT(t)
	a := f.StartT(t, Options{Addr: "127.0.0.2:0"})
	b := f.StartT(t, Options{Addr: "127.0.0.3:0"})

	known, err := os.ReadFile(f.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{a, b} {
		if !strings.Contains(string(known), s.HostKeyLine) {
			t.Errorf("known_hosts lacks %s", s.Addr)
		}
		c, err := dial(t, f, f.KnownHostsFile, s.Addr)
		if err != nil {
			t.Fatalf("dial %s: %v", s.Addr, err)
		}
		if got := run(t, c, "echo hello; id -un"); got != "hello\n"+f.User+"\n" {
			t.Errorf("%s: output %q", s.Addr, got)
		}
		c.Close()
	}
	if a.HostKeyLine == b.HostKeyLine || !strings.HasPrefix(a.HostKeyLine, "[127.0.0.2]:") {
		t.Errorf("host key lines: %q %q", a.HostKeyLine, b.HostKeyLine)
	}
}

func TestWrongHostKey(t *testing.T) {
	s := StartT(t, Options{})
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(wrong, []byte(s.WrongHostKeyLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := dial(t, s.Fleet, wrong, s.Addr)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		t.Fatalf("dial with a wrong host key: got %v, want a knownhosts.KeyError with Want", err)
	}
}

func TestStartCloseRemoves(t *testing.T) {
	Require(t)
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.Fleet.Dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir %s still there after Close", dir)
	}
	if c, err := net.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", s.Addr)
	}
}

func TestBadAddress(t *testing.T) {
	Require(t)
	_, err := Start(context.Background(), Options{Addr: "no-port"})
	if err == nil {
		t.Fatal("want an error for an address without a port")
	}
}

func TestSeveralHostKeyTypes(t *testing.T) {
	f := NewFleetT(t)
	s := f.StartT(t, Options{HostKeyTypes: []string{"ecdsa", "rsa", "ed25519"}})
	if len(s.HostKeys) != 3 || s.HostKey.Type() != "ecdsa-sha2-nistp256" || s.HostKeys[1].Type() != "ssh-rsa" {
		t.Fatalf("host keys %v", s.HostKeys)
	}
	known, _ := os.ReadFile(f.KnownHostsFile)
	if n := strings.Count(string(known), "\n"); n != 3 {
		t.Errorf("known_hosts has %d lines, want 3", n)
	}
	c, err := dial(t, f, f.KnownHostsFile, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := f.Start(context.Background(), Options{HostKeyTypes: []string{"dsa"}}); err == nil {
		t.Error("dsa host key accepted")
	}
}

func TestStartMakesDir(t *testing.T) {
	Require(t)
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(s.ClientKeyFile); err != nil || filepath.Dir(s.ClientKeyFile) != dir {
		t.Errorf("client key %s: %v", s.ClientKeyFile, err)
	}
}

func TestNewFleetAsUnknownUser(t *testing.T) {
	if _, err := NewFleetAs(t.TempDir(), "no-such-user-alexis"); err == nil || !strings.Contains(err.Error(), "no-such-user-alexis") {
		t.Fatalf("err %v", err)
	}
}

// Each server's sessions get a HOME of their own, so the machine's login
// files do not run: a ~/.bashrc that prints is read from there only.
func TestOwnHome(t *testing.T) {
	f := NewFleetT(t)
	a := f.StartT(t, Options{Addr: "127.0.0.2:0"})
	b := f.StartT(t, Options{Addr: "127.0.0.3:0"})
	if a.Home == "" || a.Home == b.Home {
		t.Fatalf("homes %q %q", a.Home, b.Home)
	}
	if err := os.WriteFile(filepath.Join(b.Home, ".bashrc"), []byte("echo b-bashrc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{a, b} {
		c, err := dial(t, f, f.KnownHostsFile, s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		got := run(t, c, `echo "$HOME"`)
		c.Close()
		if s == b { // bash run by sshd reads ~/.bashrc; other shells do not
			got = strings.TrimPrefix(got, "b-bashrc\n")
		}
		if got != s.Home+"\n" {
			t.Errorf("%s: %q, want %q", s.Addr, got, s.Home+"\n")
		}
	}
}
