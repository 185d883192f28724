package classify

import (
	"context"
	"fmt"
	"testing"

	"github.com/alexis-ops/alexis/classifier/internal/rules"
	"github.com/alexis-ops/alexis/classifier/internal/rules/rulestest"
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

// BenchmarkClassify classifies one alert against n rule files on disk,
// including the rules directory check every request makes, the matching
// and the (no-op) push and write-back. alerts/s is for one goroutine;
// the parallel variants use every CPU (GOMAXPROCS).
func BenchmarkClassify(b *testing.B) {
	env, err := alert.Decode([]byte(rulestest.BenchAlert))
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
	rulestest.WriteBenchRules(b, dir, n, sameTags)
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
