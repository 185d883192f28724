// Package pgtest gives tests a PostgreSQL database: a throwaway cluster
// (initdb + postgres on 127.0.0.1 and a free port, in a temporary
// directory, as the postgres user when running as root) started once per
// test binary, or the server named by ALEXIS_TEST_PG_DSN. Each DSN call
// returns a fresh schema, so tests do not see each other's rows.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//	dsn := pgtest.DSN(t)
//
// A TestMain with clean-up of its own calls Run, cleans up, then exits
// (os.Exit skips deferred calls).
//
// When PostgreSQL cannot be started the test fails with the reason;
// ALEXIS_SKIP_PG=1 skips PostgreSQL tests instead. Debian: apt-get install
// postgresql (deploy/install-deps.sh does).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

// Environment variables.
const (
	DSNEnv  = "ALEXIS_TEST_PG_DSN" // use this server instead of starting one
	SkipEnv = "ALEXIS_SKIP_PG"     // "1": skip PostgreSQL tests when none can be had
)

var (
	once    sync.Once
	cluster *Cluster
	baseDSN string
	initErr error
)

// Cluster is a running throwaway PostgreSQL.
type Cluster struct {
	Dir  string
	Port int
	DSN  string // superuser DSN of the postgres database
	cmd  *exec.Cmd
	done chan struct{}
	logs *logtest.Buffer
}

// Main runs the tests, stops the cluster, if one was started, and exits
// with the tests' code.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests and stops the cluster (removing its directory), if
// one was started; it returns the code to exit with.
func Run(m *testing.M) int {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	return code
}

// DSN returns the DSN of a new empty schema (as the search_path) for t.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if d := os.Getenv(DSNEnv); d != "" {
			baseDSN = d
			return
		}
		cluster, initErr = Start()
		if initErr == nil {
			baseDSN = cluster.DSN
		}
	})
	if initErr != nil {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("PostgreSQL unavailable and %s=1: %v", SkipEnv, initErr)
		}
		t.Fatalf("PostgreSQL tests need a server: %v\n(install postgresql: deploy/install-deps.sh; or set %s to a DSN; or %s=1 to skip)",
			initErr, DSNEnv, SkipEnv)
	}
	schema := "t_" + random()
	db, err := sql.Open("pgx", baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", baseDSN)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	return withSearchPath(baseDSN, schema)
}

// withSearchPath adds search_path to a URL or keyword/value DSN.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func random() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// BinDir finds PostgreSQL's server binaries: the newest
// /usr/lib/postgresql/*/bin, else the directory of initdb on PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin or on PATH")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a cluster in a new temporary directory.
func Start() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "alexis-pgtest-")
	if err != nil {
		return nil, err
	}
	// PostgreSQL refuses to run as root: run it as the postgres user.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	c := &Cluster{Dir: dir, done: make(chan struct{}), logs: &logtest.Buffer{}}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, strings.TrimSpace(string(out)))
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if lastErr = c.run(bin, data, port, cred); lastErr == nil {
			return c, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (c *Cluster) run(bin, data string, port int, cred *syscall.Credential) error {
	c.Port = port
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	c.logs.Reset()
	c.done = make(chan struct{})
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories="+c.Dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	// Stop with the test binary even if it dies without cleaning up.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", c.DSN)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited: %s", strings.TrimSpace(c.logs.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
	}
}

// Stop stops the server (fast shutdown) and removes its directory.
func (c *Cluster) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	os.RemoveAll(c.Dir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
