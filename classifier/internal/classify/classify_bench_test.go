package classify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/rules"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

type nopPusher struct{}

func (nopPusher) Push(context.Context, *action.Request) (api.ActionAccepted, error) {
	return api.ActionAccepted{ExecutionID: "exec"}, nil
}

type nopTicket struct{}

func (nopTicket) AddNote(context.Context, string, string) error { return nil }
func (nopTicket) AddTeam(context.Context, string, string) error { return nil }

// benchAlert is the alert every benchmark classifies: service 7 of team 7.
const benchAlert = `{"id": "70413a06-38d6-4c85-92b8-5ebc900d42e2", "tinyId": "42",
 "message": "svc0007: Long garbage-collection time on app01", "description": "Long garbage-collection time on app01 (12.5 s)",
 "tags": ["team.07", "svc.0007", "prod", "syn.day"], "count": 17, "priority": "P2",
 "details": {"host": "app01.example.com", "service": "svc0007", "gc_ms": "12500", "env": "prod"},
 "createdAt": "2026-11-22T11:50:00Z",
 "alexis": {"unique_key": "tinyId", "unique_value": "42", "feed_type": "OpsGenie", "feed_name": "incoming"}}`

// WriteBenchRules writes n rule files into dir, half v1 and half v2, each
// for one service (svc.NNNN, about five rules per service) of one of 20
// teams. When sameTags is true every rule requires only tags the benchmark
// alert has ("prod", "syn.day"), so no rule is skipped by the tag index and
// all n are evaluated: the worst case. Exactly one rule matches the alert
// (rule 7, a v1 rule: the alert is 10 minutes old, younger than the v2
// rules' min_age).
func WriteBenchRules(tb testing.TB, dir string, n int, sameTags bool) {
	tb.Helper()
	services := max(n/5, 8)
	for i := range n {
		svc := i % services
		team := fmt.Sprintf("team.%02d", svc%20)
		svcTag := fmt.Sprintf("svc.%04d", svc)
		if sameTags {
			team, svcTag = "prod", "syn.day"
		}
		// Rule 7 matches the alert; the others differ in their text.
		text := fmt.Sprintf(`Heap exhausted on node%04d \\(\\d+ s\\)`, i)
		if i == 7 {
			text = `Long garbage-collection time on \\w+`
		}
		var data string
		if i%2 == 1 {
			data = fmt.Sprintf(`{"enabled": "true", "os_type": "linux", "rule_name": "rule_%05d", "rule_version": "1",
 "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": [%q, %q], "search_key": "description", "search_text": "%s", "duration": "0m"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart app", "delay_after": "30s"}}],
 "entity_type": "explicit", "entities": ["app01.example.com"], "route_to_team": "ops"}`, i, team, svcTag, text)
		} else {
			data = fmt.Sprintf(`{"enabled": "true", "os_type": "linux", "rule_name": "rule_%05d", "rule_version": "2",
 "alert_feed": "OpsGenie",
 "when": {"all": [
   {"path": "tags", "op": "tags_include", "value": [%q, %q]},
   {"path": "description", "op": "regex", "value": "%s"},
   {"any": [{"path": "message", "op": "starts_with", "value": "svc%04d: "},
            {"path": "details.service", "op": "equals", "value": "svc%04d"}]},
   {"not": {"path": "details.env", "op": "equals", "value": "staging"}},
   {"path": "priority", "op": "in", "value": ["P1", "P2", "P3"]},
   {"path": "details.gc_ms", "op": "gte", "value": 1000}]},
 "min_age": "5m",
 "task_list": [{"task": {"task_type": "remote_ssh", "template": true, "run_command": "sudo systemctl restart {{ .details.service }}"}}],
 "entity_type": "path", "entity_path": "details.host", "route_to_team": "ops"}`, i, team, svcTag, text, svc, svc)
		}
		path := filepath.Join(dir, fmt.Sprintf("rule_%05d.json", i))
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
		// Written long ago, as rules in production are: no time is ambiguous.
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(path, old, old); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkClassify classifies one alert against n rule files on disk,
// including the rules directory check every request makes, the matching
// and the (no-op) push and write-back. alerts/s is for one goroutine;
// the parallel variants use every CPU (GOMAXPROCS).
func BenchmarkClassify(b *testing.B) {
	env, err := alert.Decode([]byte(benchAlert))
	if err != nil {
		b.Fatal(err)
	}
	for _, mix := range []string{"indexed", "sametags"} {
		for _, n := range []int{10, 100, 1000, 5000} {
			for _, mode := range []string{"inotify", "poll"} {
				if mode == "poll" && n > 1000 {
					continue // stat-polling 5,000 files per request is what inotify avoids
				}
				for _, parallel := range []bool{false, true} {
					name := fmt.Sprintf("mix=%s/rules=%d/check=%s", mix, n, mode)
					if parallel {
						name += "/parallel"
					}
					b.Run(name, func(b *testing.B) {
						benchClassify(b, env, n, mix == "sametags", mode == "poll", parallel)
					})
				}
			}
		}
	}
}

func benchClassify(b *testing.B, env *alert.Envelope, n int, sameTags, poll, parallel bool) {
	dir := b.TempDir()
	WriteBenchRules(b, dir, n, sameTags)
	tickets := ticket.Set{}
	tickets.Add("OpsGenie", nopTicket{})
	loader := rules.NewDir(rules.DirOptions{Dir: dir, Log: zerolog.Nop(), Poll: poll})
	b.Cleanup(func() { loader.Close() })
	c := New(Options{
		Rules:     loader,
		Actions:   nopPusher{},
		Tickets:   tickets,
		Queue:     "ops",
		AutoQueue: "queue_autoremediation",
		Log:       zerolog.Nop(),
	})
	ctx := context.Background()
	res, err := c.Classify(ctx, env) // loads and compiles the rules
	if err != nil || res.Result != api.ResultMatched || res.RulesChecked != n || len(res.Matched) != 1 {
		b.Fatalf("classify: %+v, %v", res, err)
	}
	if want := map[bool]string{false: "inotify", true: "poll"}[poll]; loader.Mode() != want {
		b.Fatalf("loader mode %s, want %s", loader.Mode(), want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Classify(ctx, env); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if _, err := c.Classify(ctx, env); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}
