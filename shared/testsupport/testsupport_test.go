package testsupport

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/alexis-ops/alexis/"

// binaries are the product's service binaries.
var binaries = []string{"./poller/cmd/poller", "./classifier/cmd/classifier", "./actionhandler/cmd/actionhandler"}

// isTestSupport reports whether the package (a path below the module,
// e.g. "shared/pgtest") is a test double or a fake command.
func isTestSupport(pkg string) bool {
	return strings.HasSuffix(pkg, "test") || strings.HasPrefix(pkg, "shared/cmd/")
}

// isTool reports whether the package is a tool, free to use test doubles.
func isTool(pkg string) bool {
	return pkg == "actionhandler/cmd/sshbench" || strings.HasPrefix(pkg, "deploy/")
}

// goList runs go list in the workspace root and returns its non-empty lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	cmd := exec.CommandContext(t.Context(), goBin, append([]string{"list"}, args...)...)
	cmd.Dir = workspaceRoot(t)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
}

// workspaceRoot is the directory holding go.work; the test is skipped
// outside the workspace (GOWORK=off, or the module alone).
func workspaceRoot(t *testing.T) string {
	t.Helper()
	if os.Getenv("GOWORK") == "off" {
		t.Skip("GOWORK=off: the check needs the workspace")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("not inside the go.work workspace")
		}
		dir = parent
	}
}

func TestProductImportsNoTestDouble(t *testing.T) {
	t.Run("service binaries", func(t *testing.T) {
		for _, dep := range goList(t, append([]string{"-deps", "-f", "{{.ImportPath}}"}, binaries...)...) {
			if pkg, ok := strings.CutPrefix(dep, module); ok && isTestSupport(pkg) {
				t.Errorf("a service binary (%s) depends on the test-support package %s", strings.Join(binaries, " "), pkg)
			}
		}
	})
	t.Run("product packages", func(t *testing.T) {
		// One line per package: its path, then its imports (not its tests').
		out := goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}",
			"./shared/...", "./poller/...", "./classifier/...", "./actionhandler/...")
		for _, line := range out {
			f := strings.Fields(line)
			pkg := strings.TrimPrefix(f[0], module)
			if isTestSupport(pkg) || isTool(pkg) {
				continue
			}
			for _, i := range f[1:] {
				if imp, ok := strings.CutPrefix(i, module); ok && isTestSupport(imp) {
					t.Errorf("product package %s imports the test-support package %s", pkg, imp)
				}
			}
		}
		if len(out) < 20 {
			t.Errorf("go list named %d packages; the check read nothing", len(out))
		}
	})
	t.Run("the check sees test doubles", func(t *testing.T) {
		// The fake command depends on a fake server and its base: if this
		// finds neither, isTestSupport no longer recognises them.
		var found []string
		for _, dep := range goList(t, "-deps", "-f", "{{.ImportPath}}", "./shared/cmd/opsgenie-fake") {
			if pkg, ok := strings.CutPrefix(dep, module); ok && isTestSupport(pkg) {
				found = append(found, pkg)
			}
		}
		for _, want := range []string{"shared/cmd/opsgenie-fake", "shared/opsgenie/opsgenietest", "shared/vendortest"} {
			if !strings.Contains(" "+strings.Join(found, " ")+" ", " "+want+" ") {
				t.Errorf("%s not recognised as test support (found %q)", want, found)
			}
		}
	})
}
