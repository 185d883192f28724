package rules

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenV1 checks that the Alexis v1 rule files in testdata/golden/rules
// decide every alert in testdata/golden/alerts exactly as recorded, and are
// pushed to the action handler in exactly the recorded form. The golden
// file was recorded with the v1-only classifier, before rule language v2.
func TestGoldenV1(t *testing.T) {
	ruleFiles, _ := filepath.Glob("../../classifier/testdata/golden/rules/*.json")
	alertFiles, _ := filepath.Glob("../../classifier/testdata/golden/alerts/*.json")
	if len(ruleFiles) == 0 || len(alertFiles) == 0 {
		t.Fatal("no golden fixtures")
	}
	var b strings.Builder
	for _, rf := range ruleFiles {
		data, err := os.ReadFile(rf)
		if err != nil {
			t.Fatal(err)
		}
		def, m, err := Compile(data)
		fmt.Fprintf(&b, "== %s\n", filepath.Base(rf))
		if err != nil {
			fmt.Fprintf(&b, "invalid: %v\n", err)
			continue
		}
		pushed, err := json.Marshal(def)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "pushed: %s\n", pushed)
		r := &Rule{File: rf, Def: def, Matcher: m}
		for _, af := range alertFiles {
			out, err := r.Match(NewAlert(loadAlert(t, af)), testNow)
			fmt.Fprintf(&b, "%-24s %s", filepath.Base(af), out)
			if err != nil {
				fmt.Fprintf(&b, " error=%q", err.Error())
			}
			b.WriteString("\n")
		}
	}
	golden := "../../classifier/testdata/golden/v1_outcomes.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("v1 outcomes changed (go test -run TestGoldenV1 -update rewrites):\n got:\n%s\nwant:\n%s", got, want)
	}
}
