package main

// A replica that dies while its command runs on a host: whatever instant it
// dies at, the replica taking the execution over leaves no command of it
// running there once the execution is reported interrupted.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"flag"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/pgtest"
)

var killRounds = flag.Int("kill-rounds", 3, "rounds of TestReplicaKilledAtRandomInstant (each kills a replica)")

// replicaConfig writes the configuration of a replica on the PostgreSQL
// store in dsnFile.
func (e *env) replicaConfig(name, dsnFile string) string {
	return e.config(name, fmt.Sprintf("replica_id: %s\nstore: {postgres_dsn_file: %s, lease: 2s, poll_interval: 200ms}\n", name, dsnFile))
}

// commandsRunning lists the processes on this machine (the sshd's host)
// whose command line contains marker: the remote shell and its children.
func commandsRunning(marker string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(marker)) || !alive(pid) {
			continue
		}
		found = append(found, fmt.Sprintf("pid %d: %q", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// assertNoCommandLeft checks, once the execution was reported interrupted,
// that no process of marker runs. A SIGKILLed process may take a moment to
// be gone on a loaded machine; a leftover would run for ten minutes.
func assertNoCommandLeft(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := commandsRunning(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the killed replica's command still runs on the host: %s", strings.Join(left, "; "))
			killMarked(marker)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killMarked kills what a failed test left, so it does not outlive it.
func killMarked(marker string) {
	for _, l := range commandsRunning(marker) {
		var pid int
		if _, err := fmt.Sscanf(l, "pid %d:", &pid); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
}

// uniqueSleep is a "sleep 600.N" command with a fresh N: its text marks the
// remote shell and the sleep.
func uniqueSleep(t *testing.T) (cmd, marker string) {
	n, err := rand.Int(rand.Reader, big.NewInt(1e12))
	if err != nil {
		t.Fatal(err)
	}
	marker = fmt.Sprintf("600.%012d", n.Int64())
	t.Cleanup(func() { killMarked(marker) })
	return "sleep " + marker, marker
}

// The replica dies exactly in the window the stored pid cannot cover: the
// host has reported the command's pid and the replica is writing it to the
// store, but the write has not happened. A PostgreSQL trigger holds every
// step write that carries a pid on an advisory lock the test holds, so the
// replica is stuck inside that write when it is killed. The replica taking
// over must still find the command (by its step file on the host) and kill
// it.
func TestReplicaKilledBeforeThePidIsStored(t *testing.T) {
	e := newEnv(t)
	dsn := pgtest.DSN(t)
	dsnFile := e.write("pg_dsn", dsn+"\n")
	a := e.start(e.replicaConfig("replica-a", dsnFile))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<30))
	lock := n.Int64() + 1
	for _, q := range []string{
		`CREATE FUNCTION hold_pid() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.remote_pid > 0 THEN PERFORM pg_advisory_xact_lock(` + strconv.FormatInt(lock, 10) + `); END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER hold_pid BEFORE INSERT OR UPDATE ON steps FOR EACH ROW EXECUTE FUNCTION hold_pid()`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("install the trigger: %v", err)
		}
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lock); err != nil {
		t.Fatal(err)
	}
	waiters := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND NOT granted`,
			lock).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	pidFile := filepath.Join(e.dir, "pid")
	sleep, marker := uniqueSleep(t)
	al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: "dies before the pid is stored", Teams: []string{"incoming"}})
	code, acc := a.post(request(al, map[string]any{"rule_name": "long", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
		"task_list": []any{sshTask("echo $$ > " + pidFile + "; " + sleep)}}))
	if code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	remote := readPID(t, pidFile)
	waitFor(t, "the replica writing the pid to the store, held", func() bool { return waiters() == 1 })
	var stored int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(remote_pid), 0) FROM steps WHERE execution_id = $1`, acc.ExecutionID).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the pid reached the store (%d, %v): not the window under test", stored, err)
	}
	a.kill()
	// The dead replica's transaction must not complete once the lock is
	// released: end its backend first, then remove the trigger.
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND NOT granted`, lock); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead replica's store session ended", func() bool { return waiters() == 0 })
	for _, q := range []string{`DROP TRIGGER hold_pid ON steps`, `DROP FUNCTION hold_pid()`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, lock); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(remote_pid), 0) FROM steps WHERE execution_id = $1`, acc.ExecutionID).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the pid reached the store after all (%d, %v)", stored, err)
	}
	if !alive(remote) {
		t.Fatal("the command ended with its replica: nothing left to find")
	}

	b := e.start(e.replicaConfig("replica-b", dsnFile))
	x := b.execution(acc.ExecutionID)
	if x.Status != api.ExecInterrupted {
		t.Errorf("status %s", x.Status)
	}
	assertNoCommandLeft(t, marker)
	b.waitLog("remote_command_killed", "event=remote_command_killed", fmt.Sprintf("pid %d", remote))
	waitFor(t, "interrupted note", func() bool {
		return strings.Contains(strings.Join(e.og.Notes(al.ID), "\n"), fmt.Sprintf("its command (pid %d) was still running and was killed", remote))
	})
	b.stop()
}

// A replica killed at a random instant after its remote_ssh step started:
// before the session opened, while the command starts, just after its pid
// was reported, or well after. Each round kills the replica running the
// step and starts the next one, which takes the execution over; then no
// command of it may run on the host. -kill-rounds sets the number of
// rounds (run with -count for more).
func TestReplicaKilledAtRandomInstant(t *testing.T) {
	e := newEnv(t)
	dsnFile := e.write("pg_dsn", pgtest.DSN(t)+"\n")
	running := e.start(e.replicaConfig("replica-0", dsnFile))
	for round := range *killRounds {
		sleep, marker := uniqueSleep(t)
		al := e.og.CreateAlert(opsgenietest.AlertSpec{Message: fmt.Sprintf("round %d", round), Teams: []string{"incoming"}})
		code, acc := running.post(request(al, map[string]any{"rule_name": "long", "entity_type": "explicit", "entities": []string{e.ssh.Addr},
			"task_list": []any{sshTask(sleep)}}))
		if code != http.StatusAccepted {
			t.Fatalf("round %d: post: %d", round, code)
		}
		running.waitLog("action_started", "event=action_started", "execution_id="+acc.ExecutionID)
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(1500*time.Millisecond)))
		after := time.Duration(n.Int64())
		time.Sleep(after) // the random instant itself, not a wait for a condition
		running.kill()
		next := e.start(e.replicaConfig(fmt.Sprintf("replica-%d", round+1), dsnFile))
		x := next.execution(acc.ExecutionID)
		if x.Status != api.ExecInterrupted {
			t.Errorf("round %d (killed %s after the step started): status %s", round, after, x.Status)
		}
		var outcome string
		if len(x.Steps) == 1 {
			outcome = x.Steps[0].Error
		}
		t.Logf("round %d: killed %s after the step started: %s", round, after.Round(time.Millisecond), outcome)
		assertNoCommandLeft(t, marker)
		running = next
	}
	running.stop()
}
