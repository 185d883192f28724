// Package ci tests the CI entry point, .ci/run: each phase's time is
// printed, and a failing phase is named.
package ci

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRunNamesPhases runs .ci/run in a copy of the tree whose phases are
// stand-ins (a Makefile and a deploy/stack-test.sh that pass or fail as
// told) and checks what it prints and its exit status.
func TestRunNamesPhases(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		make      int // exit status of make test
		sqlite    int // of the stack test on SQLite
		postgres  int // of the stack test on PostgreSQL
		exit      int
		out       []string // regexps the output must match, in order
		notPhases []string // phases that must not start
	}{
		{name: "all pass", out: []string{
			`ci: phase make test passed after \d+s; total \d+s`,
			`ci: phase stack test \(SQLite\) passed after \d+s`,
			`ci: phase stack test \(PostgreSQL\) passed after \d+s`,
			`ci: all phases passed; total \d+s`}},
		{name: "make test fails", make: 2, exit: 2,
			out:       []string{`ci: phase make test started`, `ci: phase make test FAILED \(exit 2\) after \d+s; total \d+s`},
			notPhases: []string{"stack test (SQLite)", "stack test (PostgreSQL)"}},
		{name: "SQLite stack test fails", sqlite: 3, exit: 3,
			out:       []string{`ci: phase make test passed`, `ci: phase stack test \(SQLite\) FAILED \(exit 3\) after \d+s`},
			notPhases: []string{"stack test (PostgreSQL)"}},
		{name: "PostgreSQL stack test fails", postgres: 4, exit: 4,
			out: []string{`ci: phase stack test \(SQLite\) passed`, `ci: phase stack test \(PostgreSQL\) FAILED \(exit 4\)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, content string, mode os.FileMode) {
				t.Helper()
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), mode); err != nil {
					t.Fatal(err)
				}
			}
			write(".ci/run", string(script), 0o755)
			write("Makefile", "test:\n\t@echo make test ran; exit $(MAKE_EXIT)\n", 0o644)
			write("deploy/stack-test.sh", `if [ -n "${STACKTEST_POSTGRES:-}" ]; then echo postgres ran; exit "$PG_EXIT"; fi; echo sqlite ran; exit "$SQLITE_EXIT"`+"\n", 0o755)
			cmd := exec.Command("bash", filepath.Join(dir, ".ci", "run"))
			cmd.Env = append(os.Environ(), "MAKE_EXIT="+strconv.Itoa(tc.make), "SQLITE_EXIT="+strconv.Itoa(tc.sqlite), "PG_EXIT="+strconv.Itoa(tc.postgres))
			b, err := cmd.CombinedOutput()
			out := string(b)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit {
				t.Errorf("exit %d, want %d:\n%s", code, tc.exit, out)
			}
			rest := out
			for _, re := range tc.out {
				loc := regexp.MustCompile(re).FindStringIndex(rest)
				if loc == nil {
					t.Errorf("output lacks %q (in order):\n%s", re, out)
					break
				}
				rest = rest[loc[1]:]
			}
			for _, p := range tc.notPhases {
				if strings.Contains(out, "ci: phase "+p+" started") {
					t.Errorf("phase %s started after a failure:\n%s", p, out)
				}
			}
		})
	}
}
