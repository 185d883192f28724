package stack

import (
	"bytes"
	"embed"
	"os"
	"path/filepath"

	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

// The demo's scenario, shared by the demo (deploy/cmd/demo) and the
// console's browser test: one rule, one alert it matches, one it does not.

//go:embed demorules/*.json
var demoRules embed.FS

// The demo's rule and alerts.
const (
	DemoRule        = "duplicator_gc_restart"
	DemoRuleTeam    = "ops_unix" // the team the rule routes a remediated alert to
	DemoGCMessage   = "duplicator: Long garbage-collection time"
	DemoDiskMessage = "db01: disk almost full"
	DemoDiskHost    = "db01.example.com"
)

// InstallDemoRules writes the demo's rules into dir, their commands
// appending a line to serviceLog (and printing it).
func InstallDemoRules(dir, serviceLog string) error {
	entries, err := demoRules.ReadDir("demorules")
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := demoRules.ReadFile("demorules/" + e.Name())
		if err != nil {
			return err
		}
		data = bytes.ReplaceAll(data, []byte("SERVICE_LOG"), []byte(serviceLog))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CreateDemoAlerts creates the demo's two alerts: gc, which DemoRule
// matches (its host is the stack's sshd), and disk, which no rule matches.
func (s *Stack) CreateDemoAlerts() (gc, disk opsgenietest.Alert) {
	gc = s.CreateAlert(DemoGCMessage, "Dynatrace: Long garbage-collection time on duplicator (GC suspension 41%)",
		s.SSH.Addr, "syn.day", "syn.duplicator")
	disk = s.CreateAlert(DemoDiskMessage, "Filesystem /var is 97% full", DemoDiskHost, "syn.db")
	return gc, disk
}
