package classify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/rs/zerolog"
)

// ruleFile is a rule matching every alert with an id, named name, padded
// so that the old and the new version differ in size.
func ruleFile(name string, pad int) []byte {
	return []byte(fmt.Sprintf(`{"enabled": true, "os_type": "linux", "rule_name": %q, "rule_description": "%s",
 "alert_feed": "OpsGenie", "when": {"path": "id", "op": "exists"},
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "uptime"}}],
 "entity_type": "explicit", "entities": ["app01"], "route_to_team": "ops"}
`, name, strings.Repeat("x", pad)))
}

// TestRuleFileReplacedDuringClassify replaces a rule file over and over
// while classify requests run: renamed over (the documented way), and
// truncated and written in place in pieces. No request ever matches
// anything but the whole old or the whole new rule, none fails or
// crashes, a request during a rename always sees one of them, and once
// the writes stop the next request sees the last one written.
func TestRuleFileReplacedDuringClassify(t *testing.T) {
	modes := []string{"poll"}
	if runtime.GOOS == "linux" {
		modes = append(modes, "inotify")
	}
	versions := [2][]byte{ruleFile("old_rule", 10), ruleFile("new_rule", 700)}
	for _, mode := range modes {
		for _, tc := range []struct {
			name  string
			write func(t *testing.T, path string, data []byte)
			// a request may see no rule: only while a file is half-written
			// in place (rules fail closed; docs/rules.md)
			noneOK bool
		}{
			{name: "rename over", write: func(t *testing.T, path string, data []byte) {
				tmp := filepath.Join(filepath.Dir(path), ".r.json.tmp")
				if err := os.WriteFile(tmp, data, 0o644); err != nil {
					t.Error(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Error(err)
				}
			}},
			{name: "truncate and write in place", noneOK: true, write: func(t *testing.T, path string, data []byte) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Error(err)
					return
				}
				defer f.Close()
				for i := 0; i < len(data); i += 64 { // in pieces, as editors and cp do
					if _, err := f.Write(data[i:min(i+64, len(data))]); err != nil {
						t.Error(err)
						return
					}
					runtime.Gosched()
				}
			}},
		} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "r.json")
				if err := os.WriteFile(path, versions[0], 0o644); err != nil {
					t.Fatal(err)
				}
				loader := rules.NewDir(rules.DirOptions{Dir: dir, Poll: mode == "poll", Log: zerolog.Nop()})
				defer loader.Close()
				c := New(Options{Rules: loader, Actions: pusherFunc(func(string) error { return nil }), Queue: "ops", Log: zerolog.Nop()})
				env := envelope(t, "OpsGenie", "incoming", `{"id": "a1", "message": "m"}`)

				var requests, none atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							res, err := c.Classify(context.Background(), env)
							if err != nil {
								t.Errorf("classify: %v", err)
								return
							}
							requests.Add(1)
							switch {
							case len(res.Matched) == 0 && tc.noneOK:
								none.Add(1)
							case len(res.Matched) != 1:
								t.Errorf("matched %+v (result %s), want the old or the new rule", res.Matched, res.Result)
								return
							case res.Matched[0].RuleName != "old_rule" && res.Matched[0].RuleName != "new_rule":
								t.Errorf("matched %q", res.Matched[0].RuleName)
								return
							}
						}
					})
				}
				const writes = 200
				for i := 1; i <= writes; i++ {
					tc.write(t, path, versions[i%2])
				}
				close(stop)
				wg.Wait()
				res, err := c.Classify(context.Background(), env)
				if err != nil || len(res.Matched) != 1 || res.Matched[0].RuleName != "old_rule" { // writes is even
					t.Errorf("after the writes: %+v %v, want old_rule", res, err)
				}
				t.Logf("%d requests during %d rewrites, %d saw no rule", requests.Load(), writes, none.Load())
			})
		}
	}
}
