package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// modes are the change detections Dir can use here.
func modes(t *testing.T) []string {
	if runtime.GOOS == "linux" {
		return []string{"inotify", "poll"}
	}
	return []string{"poll"}
}

func newDirMode(t *testing.T, mode string) (*Dir, string, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	logs := &logBuffer{}
	d := NewDir(DirOptions{Dir: dir, Poll: mode == "poll",
		Log: logging.New(logs, "classifier", logging.Options{Level: "debug"})})
	t.Cleanup(func() { d.Close() })
	return d, dir, logs
}

// versionRule is a valid rule file whose rule_version is v, padded so that
// every version has the same size.
func versionRule(v int) []byte {
	return []byte(fmt.Sprintf(`{"enabled": "true", "os_type": "linux", "rule_name": "r", "rule_version": "%06d",
 "alert_feed": "OpsGenie", "when": {"path": "id", "op": "exists"},
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "uptime"}}],
 "entity_type": "explicit", "entities": ["app01"]}`, v))
}

func ruleVersion(t *testing.T, set *Set) string {
	t.Helper()
	if len(set.Rules) != 1 {
		t.Fatalf("%d valid rules: %+v", len(set.Rules), set.Files)
	}
	return set.Rules[0].Def.Version
}

func TestDirMode(t *testing.T) {
	for _, mode := range modes(t) {
		d, _, _ := newDirMode(t, mode)
		load(t, d)
		if d.Mode() != mode {
			t.Errorf("mode %s, want %s", d.Mode(), mode)
		}
	}
}

// Every Load sees the file as it is when the Load starts, even when edits
// keep the size and the modification time.
func TestDirNeverStale(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			d, dir, _ := newDirMode(t, mode)
			path := filepath.Join(dir, "r.json")
			fixed := time.Now().Add(-time.Hour)
			for i := range 200 {
				if err := os.WriteFile(path, versionRule(i), 0o644); err != nil {
					t.Fatal(err)
				}
				// With inotify, even a time set back to the same old value
				// (same size, same mtime) is seen. Polling relies on
				// stat, so there it is only done for recent times, which
				// are ambiguous and re-read.
				if mode == "inotify" && i%2 == 0 {
					if err := os.Chtimes(path, fixed, fixed); err != nil {
						t.Fatal(err)
					}
				}
				if got, want := ruleVersion(t, load(t, d)), fmt.Sprintf("%06d", i); got != want {
					t.Fatalf("write %d: loaded version %s", i, got)
				}
			}
		})
	}
}

// Polling trusts size and modification time once they are older than
// AmbiguousWindow; inotify does not need to.
func TestDirPollTrustsOldTimes(t *testing.T) {
	d, dir, _ := newDirMode(t, "poll")
	path := writeFile(t, dir, "r.json", versionRule(1))
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	load(t, d)
	writeFile(t, dir, "r.json", versionRule(2))
	os.Chtimes(path, old, old)
	if got := ruleVersion(t, load(t, d)); got != "000001" {
		t.Errorf("version %s: an unchanged stat should not cause a read", got)
	}
	writeFile(t, dir, "r.json", versionRule(3)) // mtime now: seen
	if got := ruleVersion(t, load(t, d)); got != "000003" {
		t.Errorf("version %s after a stat change", got)
	}
}

// A file caught half-written is invalid; the previous version is not used.
func TestDirHalfWritten(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			d, dir, logs := newDirMode(t, mode)
			path := writeFile(t, dir, "r.json", versionRule(1))
			if got := ruleVersion(t, load(t, d)); got != "000001" {
				t.Fatal(got)
			}
			full := versionRule(2)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(full[:len(full)/2]); err != nil {
				t.Fatal(err)
			}
			set := load(t, d)
			if len(set.Rules) != 0 || len(set.Files) != 1 || set.Files[0].Status != StatusInvalid {
				t.Fatalf("half-written file: rules %d, files %+v", len(set.Rules), set.Files)
			}
			if len(logs.lines("event=rule_invalid", "r.json")) != 1 {
				t.Error("no rule_invalid line for the half-written file")
			}
			if _, err := f.Write(full[len(full)/2:]); err != nil {
				t.Fatal(err)
			}
			if got := ruleVersion(t, load(t, d)); got != "000002" {
				t.Fatalf("completed file: version %s", got)
			}
		})
	}
}

func TestDirReplaced(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "rules")
			os.Mkdir(dir, 0o755)
			writeFile(t, dir, "r.json", versionRule(1))
			d := NewDir(DirOptions{Dir: dir, Poll: mode == "poll", Log: zerolog.Nop()})
			defer d.Close()
			if got := ruleVersion(t, load(t, d)); got != "000001" {
				t.Fatal(got)
			}
			// Moved away and replaced by another directory.
			if err := os.Rename(dir, dir+".old"); err != nil {
				t.Fatal(err)
			}
			os.Mkdir(dir, 0o755)
			writeFile(t, dir, "r.json", versionRule(2))
			if got := ruleVersion(t, load(t, d)); got != "000002" {
				t.Fatalf("after replacement: %s", got)
			}
			// Deleted: an error, not the old rules; then recreated.
			os.RemoveAll(dir)
			if _, err := d.Load(context.Background()); err == nil {
				t.Fatal("load of a deleted directory succeeded")
			}
			os.Mkdir(dir, 0o755)
			writeFile(t, dir, "r.json", versionRule(3))
			if got := ruleVersion(t, load(t, d)); got != "000003" {
				t.Fatalf("after recreation: %s", got)
			}
			// Edits keep being seen in the new directory.
			writeFile(t, dir, "r.json", versionRule(4))
			if got := ruleVersion(t, load(t, d)); got != "000004" {
				t.Fatalf("edit after recreation: %s", got)
			}
		})
	}
}

// rules_dir a symbolic link switched to another directory (a deploy
// pattern) is seen.
func TestDirSymlinkSwitched(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			base := t.TempDir()
			a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
			os.Mkdir(a, 0o755)
			os.Mkdir(b, 0o755)
			writeFile(t, a, "r.json", versionRule(1))
			writeFile(t, b, "r.json", versionRule(2))
			link := filepath.Join(base, "current")
			os.Symlink(a, link)
			d := NewDir(DirOptions{Dir: link, Poll: mode == "poll", Log: zerolog.Nop()})
			defer d.Close()
			if got := ruleVersion(t, load(t, d)); got != "000001" {
				t.Fatal(got)
			}
			os.Symlink(b, link+".new")
			if err := os.Rename(link+".new", link); err != nil {
				t.Fatal(err)
			}
			if got := ruleVersion(t, load(t, d)); got != "000002" {
				t.Fatalf("after switching the link: %s", got)
			}
		})
	}
}

// Links to files elsewhere, and Kubernetes ConfigMap volumes.
func TestDirLinkTargets(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			d, dir, _ := newDirMode(t, mode)
			// A link to a file in another directory, edited in place with
			// the same size (and, with inotify, the same old mtime).
			other := t.TempDir()
			target := writeFile(t, other, "real.json", versionRule(1))
			os.Symlink(target, filepath.Join(dir, "linked.json"))
			if got := ruleVersion(t, load(t, d)); got != "000001" {
				t.Fatal(got)
			}
			writeFile(t, other, "real.json", versionRule(2))
			if got := ruleVersion(t, load(t, d)); got != "000002" {
				t.Fatalf("link target edited: %s", got)
			}
			os.Remove(filepath.Join(dir, "linked.json"))

			// ConfigMap: ..<timestamp>/r.json, ..data -> ..<timestamp>,
			// r.json -> ..data/r.json; an update writes a new timestamped
			// directory and renames a new ..data link over the old one.
			os.Mkdir(filepath.Join(dir, "..2026_01"), 0o755)
			writeFile(t, filepath.Join(dir, "..2026_01"), "r.json", versionRule(3))
			os.Symlink("..2026_01", filepath.Join(dir, "..data"))
			os.Symlink("..data/r.json", filepath.Join(dir, "r.json"))
			if got := ruleVersion(t, load(t, d)); got != "000003" {
				t.Fatal(got)
			}
			os.Mkdir(filepath.Join(dir, "..2026_02"), 0o755)
			writeFile(t, filepath.Join(dir, "..2026_02"), "r.json", versionRule(4))
			os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp"))
			if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(filepath.Join(dir, "..2026_01"))
			if got := ruleVersion(t, load(t, d)); got != "000004" {
				t.Fatalf("after the ..data swap: %s", got)
			}
		})
	}
}

// fakeWatcher reports what the test queues.
type fakeWatcher struct {
	mu  sync.Mutex
	ch  changes
	err error
}

func (f *fakeWatcher) read() (changes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.ch
	f.ch = changes{}
	return ch, f.err
}
func (f *fakeWatcher) watch(string, bool) error { return nil }
func (f *fakeWatcher) unwatch(string)           {}
func (f *fakeWatcher) close() error             { return nil }

// Load acts on what the watcher reports: nothing means no re-read; an
// overflow re-reads everything; a failing watcher falls back to polling.
func TestDirWatcherEvents(t *testing.T) {
	fw := &fakeWatcher{}
	saved := newWatcher
	newWatcher = func() (watcher, error) { return fw, nil }
	defer func() { newWatcher = saved }()

	d, dir, logs := newDirMode(t, "inotify")
	path := writeFile(t, dir, "r.json", versionRule(1))
	if got := ruleVersion(t, load(t, d)); got != "000001" || d.Mode() != "inotify" {
		t.Fatal(got, d.Mode())
	}
	writeFile(t, dir, "r.json", versionRule(2))
	if got := ruleVersion(t, load(t, d)); got != "000001" {
		t.Fatalf("re-read without an event: %s", got)
	}
	fw.mu.Lock()
	fw.ch = changes{any: true, names: []string{"r.json"}}
	fw.mu.Unlock()
	if got := ruleVersion(t, load(t, d)); got != "000002" {
		t.Fatalf("named file not re-read: %s", got)
	}
	old := time.Now().Add(-time.Hour)
	writeFile(t, dir, "r.json", versionRule(3))
	os.Chtimes(path, old, old)
	load(t, d) // stat changed, no event: not seen yet
	writeFile(t, dir, "r.json", versionRule(4))
	os.Chtimes(path, old, old)
	fw.mu.Lock()
	fw.ch = changes{any: true, overflow: true}
	fw.mu.Unlock()
	if got := ruleVersion(t, load(t, d)); got != "000004" {
		t.Fatalf("overflow did not re-read everything: %s", got)
	}
	fw.mu.Lock()
	fw.err = fmt.Errorf("read inotify: bad file descriptor")
	fw.mu.Unlock()
	newWatcher = func() (watcher, error) { return nil, fmt.Errorf("inotify_init1: too many open files") }
	writeFile(t, dir, "r.json", versionRule(5))
	if got := ruleVersion(t, load(t, d)); got != "000005" || d.Mode() != "poll" {
		t.Fatalf("watcher failure: version %s, mode %s", got, d.Mode())
	}
	writeFile(t, dir, "r.json", versionRule(6))
	if got := ruleVersion(t, load(t, d)); got != "000006" {
		t.Fatalf("polling: version %s", got)
	}
	if len(logs.lines("event=rules_watch_failed", "bad file descriptor")) != 1 ||
		len(logs.lines("event=rules_watch_failed", "too many open files")) != 1 {
		t.Errorf("want one rules_watch_failed line per cause:\n%s", strings.Join(logs.lines("rules_watch_failed"), "\n"))
	}
}

// An unchanged directory costs a Load almost nothing.
func TestDirLoadUnchangedAllocs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify only")
	}
	d, dir, _ := newDirMode(t, "inotify")
	for i := range 50 {
		writeFile(t, dir, fmt.Sprintf("r%02d.json", i), []byte(strings.Replace(string(versionRule(i)), `"rule_name": "r"`, fmt.Sprintf(`"rule_name": "r%d"`, i), 1)))
	}
	first := load(t, d)
	load(t, d) // reads the atime updates the first reads caused, if any
	allocs := testing.AllocsPerRun(100, func() {
		if set := load(t, d); set != first && len(set.Rules) != 50 {
			t.Fatal("set changed")
		}
	})
	if allocs > 2 {
		t.Errorf("%.0f allocations per unchanged Load, want at most 2", allocs)
	}
}

// Loads racing with renames into place always see a whole rule, and never
// an older version than one they saw before.
func TestDirConcurrentNeverOlder(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			d, dir, _ := newDirMode(t, mode)
			writeFile(t, dir, "r.json", versionRule(0))
			load(t, d)
			var written sync.Map // versions fully in place
			written.Store(0, true)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 4 {
				wg.Go(func() {
					last := -1
					for {
						select {
						case <-stop:
							return
						default:
						}
						set, err := d.Load(context.Background())
						if err != nil || len(set.Rules) != 1 {
							t.Errorf("load: %v, %+v", err, set)
							return
						}
						var v int
						fmt.Sscanf(set.Rules[0].Def.Version, "%d", &v)
						if v < last {
							t.Errorf("version %d after %d", v, last)
							return
						}
						last = v
					}
				})
			}
			for i := 1; i <= 100; i++ {
				tmp := writeFile(t, dir, ".r.json.tmp", versionRule(i))
				if err := os.Rename(tmp, filepath.Join(dir, "r.json")); err != nil {
					t.Fatal(err)
				}
				if got := ruleVersion(t, load(t, d)); got != fmt.Sprintf("%06d", i) {
					t.Fatalf("after rename %d: %s", i, got)
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}
