package rules

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
)

// logBuffer collects log lines; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged lines containing every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
next:
	for _, l := range strings.Split(b.buf.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func newDir(t *testing.T) (*Dir, string, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	logs := &logBuffer{}
	d := NewDir(DirOptions{Dir: dir, Log: logging.New(logs, "classifier", logging.Options{Level: "debug"})})
	t.Cleanup(func() { d.Close() })
	return d, dir, logs
}

func copyFixture(t *testing.T, dir, name, as string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../classifier/testdata/rules", name))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, as, data)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, d *Dir) *Set {
	t.Helper()
	set, err := d.Load(context.Background())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return set
}

func names(set *Set) []string {
	var out []string
	for _, r := range set.Rules {
		out = append(out, r.Def.Name)
	}
	return out
}

func fileByName(t *testing.T, set *Set, base string) File {
	t.Helper()
	for _, f := range set.Files {
		if filepath.Base(f.Path) == base {
			return f
		}
	}
	t.Fatalf("%s not listed in %+v", base, set.Files)
	return File{}
}

func TestDirSkipsInvalidFiles(t *testing.T) {
	d, dir, logs := newDir(t)
	copyFixture(t, dir, "gc_restart.json", "20_gc_restart.json")
	badJSON := copyFixture(t, dir, "invalid_json.json", "10_invalid_json.json")
	noName := copyFixture(t, dir, "missing_rule_name.json", "30_missing_rule_name.json")
	badRegex := copyFixture(t, dir, "bad_regex.json", "40_bad_regex.json")

	set := load(t, d)
	if got := names(set); len(got) != 1 || got[0] != "day_duplicator_gc_restart" {
		t.Fatalf("valid rules = %v, want only day_duplicator_gc_restart", got)
	}
	out, err := set.Rules[0].Match(NewAlert(alertWith(t, nil)), testNow)
	if err != nil || out != Matched {
		t.Fatalf("valid rule next to invalid ones: %s, %v; want matched", out, err)
	}

	tests := []struct {
		path, field string
	}{
		{badJSON, "$"},
		{noName, "rule_name"},
		{badRegex, "evaluation_list[0].evaluation.search_text"},
	}
	for _, tc := range tests {
		f := fileByName(t, set, filepath.Base(tc.path))
		if f.Status != StatusInvalid || len(f.Errors) == 0 || f.Errors[0].Path != tc.field {
			t.Errorf("%s: status %s errors %v, want invalid at %s", tc.path, f.Status, f.Errors, tc.field)
		}
		lines := logs.lines("event=rule_invalid", "rule_file="+tc.path)
		if len(lines) != 1 {
			t.Errorf("%s: %d rule_invalid lines, want 1:\n%s", tc.path, len(lines), strings.Join(lines, "\n"))
			continue
		}
		if !strings.Contains(lines[0], tc.field) || !strings.Contains(lines[0], "level=error") {
			t.Errorf("log line does not name %s at error level: %s", tc.field, lines[0])
		}
	}
	if f := fileByName(t, set, "40_bad_regex.json"); f.RuleName != "bad_regex" || f.RuleVersion != "0.1" || !f.Enabled {
		t.Errorf("invalid file metadata = %+v, want name, version and enabled read best effort", f)
	}

	// The same versions are not logged again.
	load(t, d)
	if n := len(logs.lines("event=rule_invalid")); n != 3 {
		t.Errorf("after a second load: %d rule_invalid lines, want still 3", n)
	}
	// Fixed, but as a copy of an existing rule: a duplicate.
	copyFixture(t, dir, "gc_restart.json", "30_missing_rule_name.json")
	set = load(t, d)
	if f := fileByName(t, set, "30_missing_rule_name.json"); f.Status != StatusInvalid ||
		!strings.Contains(f.Errors.Error(), "duplicate rule_name") {
		t.Errorf("fixed copy of an existing rule: %+v, want a duplicate", f)
	}
}

func TestDirDuplicateRuleName(t *testing.T) {
	d, dir, logs := newDir(t)
	a := copyFixture(t, dir, "gc_restart.json", "a.json")
	b := copyFixture(t, dir, "gc_restart.json", "b.json")
	set := load(t, d)
	if len(set.Rules) != 1 || set.Rules[0].File != a {
		t.Fatalf("rules = %v, want only the one in a.json", names(set))
	}
	fb := fileByName(t, set, "b.json")
	want := `rule_name: duplicate rule_name "day_duplicator_gc_restart", first defined in ` + a
	if fb.Status != StatusInvalid || fb.Errors.Error() != want {
		t.Errorf("b.json = %+v, want invalid with %q", fb, want)
	}
	if n := len(logs.lines("event=rule_invalid", "rule_file="+b, "duplicate rule_name")); n != 1 {
		t.Errorf("%d rule_invalid lines for b.json, want 1", n)
	}

	// An invalid first file does not make a later one a duplicate.
	data, _ := os.ReadFile(a)
	writeFile(t, dir, "a.json", bytes.Replace(data, []byte(`"os_type": "linux",`), nil, 1))
	set = load(t, d)
	if len(set.Rules) != 1 || set.Rules[0].File != b {
		t.Fatalf("rules = %v from %v, want the one in b.json", names(set), set.Files)
	}
}

func TestDirSeesChanges(t *testing.T) {
	d, dir, logs := newDir(t)
	env := alertWith(t, nil)
	matches := func(set *Set) bool {
		for _, r := range set.Rules {
			if out, _ := r.Match(NewAlert(env), testNow); out == Matched {
				return true
			}
		}
		return false
	}

	if set := load(t, d); len(set.Files) != 0 || matches(set) {
		t.Fatalf("empty dir: %+v", set)
	}

	path := copyFixture(t, dir, "gc_restart.json", "gc.json")
	if set := load(t, d); !matches(set) {
		t.Fatal("added file not seen")
	}
	if len(logs.lines("event=rule_loaded", "rule_file="+path)) != 1 {
		t.Error("no rule_loaded line for the added file")
	}

	// Disable it with an edit of the same size and the same mtime: a cache
	// keyed by size and mtime alone would miss this.
	st, _ := os.Stat(path)
	data, _ := os.ReadFile(path)
	edited := bytes.Replace(data, []byte(`"enabled": "true", `), []byte(`"enabled": "false",`), 1)
	if len(edited) != len(data) || bytes.Equal(edited, data) {
		t.Fatal("test edit must keep the size")
	}
	writeFile(t, dir, "gc.json", edited)
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if set := load(t, d); matches(set) || len(set.Files) != 1 || set.Files[0].Enabled {
		t.Fatalf("edit not seen: %+v", set.Files)
	}

	// Break its regex: invalid from the next load on.
	writeFile(t, dir, "gc.json", bytes.Replace(data, []byte("Long garbage"), []byte("Long (garbage"), 1))
	if set := load(t, d); len(set.Rules) != 0 || set.Files[0].Status != StatusInvalid {
		t.Fatalf("broken edit not seen: %+v", set.Files)
	}

	writeFile(t, dir, "gc.json", data)
	if set := load(t, d); !matches(set) {
		t.Fatal("restored file not seen")
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if set := load(t, d); len(set.Files) != 0 || matches(set) {
		t.Fatalf("deleted file still seen: %+v", set.Files)
	}
	if len(logs.lines("event=rule_removed", "rule_file="+path)) != 1 {
		t.Error("no rule_removed line for the deleted file")
	}
	if len(d.entries) != 0 {
		t.Errorf("%d entries kept after the only file was deleted", len(d.entries))
	}
}

func TestDirReadsOnlyRuleFiles(t *testing.T) {
	d, dir, _ := newDir(t)
	data, _ := os.ReadFile("../../classifier/testdata/rules/gc_restart.json")
	writeFile(t, dir, ".gc.json", data)    // hidden / atomic-write temp file
	writeFile(t, dir, "gc.json.swp", data) // editor swap file
	writeFile(t, dir, "gc.json~", data)    // editor backup
	writeFile(t, dir, "gc.yaml", data)     // not *.json
	writeFile(t, dir, "README.md", []byte("# rules"))
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub"), "nested.json", data) // not recursive
	if err := os.Mkdir(filepath.Join(dir, "dir.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symbolic link to a rule file elsewhere is followed (Kubernetes
	// ConfigMaps and Docker configs mount rules this way).
	target := writeFile(t, t.TempDir(), "real.json", data)
	if err := os.Symlink(target, filepath.Join(dir, "linked.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "dangling.json")); err != nil {
		t.Fatal(err)
	}

	set := load(t, d)
	var listed []string
	for _, f := range set.Files {
		listed = append(listed, filepath.Base(f.Path))
	}
	if strings.Join(listed, ",") != "linked.json" || len(set.Rules) != 1 {
		t.Errorf("listed %v with %d valid rules; want only linked.json, valid", listed, len(set.Rules))
	}
}

func TestDirTooLarge(t *testing.T) {
	d, dir, _ := newDir(t)
	writeFile(t, dir, "huge.json", bytes.Repeat([]byte(" "), MaxFileSize+1))
	set := load(t, d)
	if len(set.Files) != 1 || set.Files[0].Status != StatusInvalid ||
		!strings.Contains(set.Files[0].Errors.Error(), "larger than") {
		t.Errorf("huge file: %+v", set.Files)
	}
}

func TestDirGone(t *testing.T) {
	d, dir, _ := newDir(t)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(context.Background()); err == nil {
		t.Error("load of a missing directory succeeded")
	}
}

// Loads racing with edits always see a whole rule: the old or the new one.
func TestDirConcurrentEdits(t *testing.T) {
	d, dir, _ := newDir(t)
	data, _ := os.ReadFile("../../classifier/testdata/rules/gc_restart.json")
	writeFile(t, dir, "gc.json", data)
	env := alertWith(t, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				set, err := d.Load(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range set.Rules {
					if _, err := r.Match(NewAlert(env), time.Now()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	for i := range 50 {
		edited := bytes.Replace(data, []byte(`"1.01"`), []byte(`"1.`+strings.Repeat("0", i%5)+`2"`), 1)
		tmp := writeFile(t, dir, ".gc.json.tmp", edited)
		if err := os.Rename(tmp, filepath.Join(dir, "gc.json")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
