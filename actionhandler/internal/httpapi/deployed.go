package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexis-ops/alexis/shared/rule"
)

// MaxRuleFile is the largest rule file DeployedRules reads.
const MaxRuleFile = 1 << 20

// DeployedRules verifies a posted rule against the deployed rule files: the
// *.json files of Dir (the classifier's rules directory, mounted read-only),
// read on every check so an edit counts at once. A rule is verified when a
// file there holds a valid, enabled rule of the same name that is identical to it
// (compared in the form both are sent on the wire). Unreadable or invalid
// files verify nothing.
type DeployedRules struct {
	Dir string
}

// Has reports whether r is, exactly, a deployed rule.
func (d *DeployedRules) Has(r *rule.Rule) (bool, error) {
	want, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("rules_dir: encode rule: %w", err)
	}
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return false, fmt.Errorf("rules_dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := readLimited(filepath.Join(d.Dir, name))
		if err != nil {
			continue
		}
		got, err := rule.Parse(data)
		if err != nil || got.Name != r.Name || !bool(got.Enabled) {
			continue // a disabled rule is not deployed: the classifier never forwards it
		}
		if b, err := json.Marshal(got); err == nil && bytes.Equal(b, want) {
			return true, nil
		}
	}
	return false, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRuleFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxRuleFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxRuleFile)
	}
	return data, nil
}
