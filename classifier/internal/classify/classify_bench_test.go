package classify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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

// BenchmarkClassify classifies one alert against n rule files, including
// the directory read every request does. n-1 rules fail on their regular
// expression; the last one matches and is pushed (to a no-op pusher).
func BenchmarkClassify(b *testing.B) {
	envData, err := os.ReadFile("../../testdata/alerts/gc_alert.json")
	if err != nil {
		b.Fatal(err)
	}
	env, err := alert.Decode(envData)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			for i := range n {
				text := fmt.Sprintf(`Heap exhausted on node%04d \\(\\d+ s\\)`, i)
				if i == n-1 {
					text = `Long garbage-collection time on \\w+`
				}
				rule := fmt.Sprintf(`{"enabled": "true", "os_type": "linux", "rule_name": "rule_%04d", "rule_version": "1",
 "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["syn.day"], "search_key": "description", "search_text": "%s", "duration": "0m"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart app", "delay_after": "30s"}}],
 "entity_type": "explicit", "entities": ["app01.example.com"], "route_to_team": "ops"}`, i, text)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("rule_%04d.json", i)), []byte(rule), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			tickets := ticket.Set{}
			tickets.Add("OpsGenie", nopTicket{})
			c := New(Options{
				Rules:   rules.NewDir(rules.DirOptions{Dir: dir, Log: zerolog.Nop()}),
				Actions: nopPusher{},
				Tickets: tickets,
				Queue:   "ops",
				Log:     zerolog.Nop(),
			})
			ctx := context.Background()
			res, err := c.Classify(ctx, env) // warms the compile cache
			if err != nil || res.Result != api.ResultMatched || res.RulesChecked != n || len(res.Matched) != 1 {
				b.Fatalf("classify: %+v, %v", res, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Classify(ctx, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
