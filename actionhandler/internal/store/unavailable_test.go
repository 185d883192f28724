package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnavailableOnFullDisk fills the disk of a real SQLite store (a
// 2 MiB tmpfs; root only): the write fails, Unavailable says so (a caller
// may try again), nothing of it is stored, and the same write succeeds
// once there is room. A request the store will never accept (a step of an
// execution that does not exist) is not Unavailable.
func TestUnavailableOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(dir, "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 64<<10); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	x := &Execution{ID: "big", AlertID: "a1", FeedType: "OpsGenie", RuleName: "r", Entities: []string{"h1"},
		Request: []byte(`{"blob":"` + strings.Repeat("x", 512<<10) + `"}`)}
	_, _, err = st.Create(ctx, x, time.Hour)
	if err == nil || !Unavailable(err) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("create on a full disk: %v (unavailable %v)", err, Unavailable(err))
	}
	if _, err := st.Get(ctx, "big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("half-written: get %v", err)
	}
	os.Remove(filepath.Join(dir, "filler"))
	if _, created, err := st.Create(ctx, x, time.Hour); err != nil || !created {
		t.Fatalf("create once there is room: %v %v", created, err)
	}
	err = st.SaveStep(ctx, "no-such-execution", Step{Entity: "h1", Status: Running})
	if err == nil || Unavailable(err) {
		t.Errorf("a step of no execution: %v, unavailable %v", err, Unavailable(err))
	}
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrLeaseLost, false},
		{fmt.Errorf("store: get: %w", ErrNotFound), false},
		{errors.New("store: create: constraint failed"), false},
		{fmt.Errorf("store: create: %w", &pgconn.PgError{Code: "53100"}), true},  // disk_full
		{fmt.Errorf("store: create: %w", &pgconn.PgError{Code: "57P01"}), true},  // admin_shutdown
		{fmt.Errorf("store: create: %w", &pgconn.PgError{Code: "08006"}), true},  // connection_failure
		{fmt.Errorf("store: create: %w", &pgconn.PgError{Code: "25006"}), true},  // read_only_sql_transaction
		{fmt.Errorf("store: create: %w", &pgconn.PgError{Code: "23505"}), false}, // unique_violation
		{fmt.Errorf("store: renew: %w", context.DeadlineExceeded), true},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
