package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
)

// TestFromFilesEqualsDir: the same files give the same Set, whether read
// from a directory or given as contents: files, statuses, errors (naming
// file and field), sums, and rules that decide alike.
func TestFromFilesEqualsDir(t *testing.T) {
	files := map[string][]byte{}
	for _, pattern := range []string{"../../classifier/testdata/rules/*.json", "../../classifier/testdata/rules_v2/*.json"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(p)] = data
		}
	}
	if len(files) < 4 {
		t.Fatalf("only %d fixture files", len(files))
	}
	gc := files["gc_restart.json"]
	files["zz_duplicate.json"] = gc // a second gc_restart: invalid, naming the first
	files["big.json"] = []byte(`{"rule_name": "big", "x": "` + strings.Repeat("a", MaxFileSize) + `"}`)

	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDir(DirOptions{Dir: dir, Log: logging.New(&logBuffer{}, "classifier", logging.Options{}), Poll: true})
	defer d.Close()
	fromDir, err := d.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	given, err := FromFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}

	norm := func(fs []File) []File {
		out := make([]File, len(fs))
		for i, f := range fs {
			f.Path, f.Modified = filepath.Base(f.Path), time.Time{}
			for j := range f.Errors {
				f.Errors[j].Msg = strings.ReplaceAll(f.Errors[j].Msg, dir+string(filepath.Separator), "")
			}
			out[i] = f
		}
		return out
	}
	if got, want := norm(given.Files), norm(fromDir.Files); !reflect.DeepEqual(got, want) {
		t.Errorf("files differ\nFromFiles: %+v\nDir:       %+v", got, want)
	}
	var invalid, dup int
	for _, f := range given.Files {
		if f.Status == StatusInvalid {
			invalid++
			if len(f.Errors) == 0 || f.Errors[0].Path == "" {
				t.Errorf("%s: invalid without an error naming a field: %+v", f.Path, f.Errors)
			}
		}
		if f.Path == "zz_duplicate.json" {
			dup++
			if f.Status != StatusInvalid || !strings.Contains(f.Errors.Error(), "duplicate rule_name") ||
				!strings.Contains(f.Errors.Error(), "gc_restart.json") {
				t.Errorf("duplicate: %+v", f)
			}
		}
	}
	if invalid < 4 || dup != 1 {
		t.Errorf("invalid files %d (want at least 4: 3 fixtures, the duplicate, big), duplicate seen %d", invalid, dup)
	}
	if len(given.Rules) != len(fromDir.Rules) || len(given.Rules) == 0 {
		t.Fatalf("rules: %d from files, %d from the directory", len(given.Rules), len(fromDir.Rules))
	}
	for i := range given.Rules {
		g, w := given.Rules[i], fromDir.Rules[i]
		if g.File != filepath.Base(w.File) || !reflect.DeepEqual(g.Def, w.Def) {
			t.Errorf("rule %d: %s %+v vs %s %+v", i, g.File, g.Def, w.File, w.Def)
		}
	}

	// They decide an alert alike.
	env := loadAlert(t, "../../classifier/testdata/alerts/gc_alert.json")
	now := time.Now()
	for i := range given.Rules {
		a := NewAlert(env)
		og, errG := given.Rules[i].Match(a, now)
		ow, errW := fromDir.Rules[i].Match(a, now)
		if og != ow || (errG == nil) != (errW == nil) {
			t.Errorf("rule %s: %v %v vs %v %v", given.Rules[i].Def.Name, og, errG, ow, errW)
		}
	}
}

func TestFromFilesNames(t *testing.T) {
	ok := []byte(`{}`)
	for _, name := range []string{"", "../x.json", "a/b.json", ".hidden.json", "rule.yaml", "tab\t.json"} {
		if _, err := FromFiles(map[string][]byte{name: ok}, nil); !errors.Is(err, ErrFileName) {
			t.Errorf("%q: %v, want ErrFileName", name, err)
		}
	}
	many := map[string][]byte{}
	for i := range MaxFiles + 1 {
		many[fmt.Sprintf("r%04d.json", i)] = ok
	}
	if _, err := FromFiles(many, nil); !errors.Is(err, ErrTooManyFiles) {
		t.Errorf("%d files: %v, want ErrTooManyFiles", len(many), err)
	}
	delete(many, "r0000.json")
	if set, err := FromFiles(many, nil); err != nil || len(set.Files) != MaxFiles {
		t.Errorf("%d files: %v", len(many), err)
	}
}
