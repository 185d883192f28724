package classify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/record"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/metrics"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/rules/rulestest"
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

// BenchmarkClassifyHistory is BenchmarkClassify (indexed, inotify) with
// decision recording off and on, to a local server answering 200 at once.
// The timed part ends once the recorder has sent everything (Close), so
// alerts/s includes the explain summaries and the posting; dropped/op is
// the share of decisions the buffer had no room for (0 when recording
// keeps up).
//
//	cd classifier && go test -run '^$' -bench BenchmarkClassifyHistory -benchtime 20000x ./internal/classify/
func BenchmarkClassifyHistory(b *testing.B) {
	env, err := alert.Decode([]byte(rulestest.BenchAlert))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 100, 1000} {
		for _, parallel := range []bool{false, true} {
			for _, history := range []string{"off", "on"} {
				name := fmt.Sprintf("rules=%d/history=%s", n, history)
				if parallel {
					name += "/parallel"
				}
				b.Run(name, func(b *testing.B) { benchClassifyHistory(b, env, n, parallel, history == "on") })
			}
		}
	}
}

func benchClassifyHistory(b *testing.B, env *alert.Envelope, n int, parallel, history bool) {
	var rec *record.Recorder
	var reg *metrics.Metrics
	if history {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"recorded":0}`)
		}))
		b.Cleanup(srv.Close)
		client, err := httpclient.New(httpclient.Options{Token: config.NewSecret("t")})
		if err != nil {
			b.Fatal(err)
		}
		reg = metrics.New("classifier")
		rec = record.New(record.Options{URL: srv.URL + "/v1/decisions", Client: client, Metrics: record.NewMetrics(reg),
			FlushInterval: 100 * time.Millisecond, Log: zerolog.Nop()})
	}
	benchClassifyWith(b, env, n, false, false, parallel, rec, func() {
		if rec == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rec.Close(ctx); err != nil {
			b.Fatal(err)
		}
	})
	if reg != nil {
		rr := httptest.NewRecorder()
		reg.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		var dropped float64
		for _, l := range strings.Split(rr.Body.String(), "\n") {
			if strings.HasPrefix(l, "classifier_decisions_dropped_total{") {
				var v float64
				fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
				dropped += v
			}
		}
		b.ReportMetric(dropped/float64(b.N), "dropped/op")
	}
}

func benchClassify(b *testing.B, env *alert.Envelope, n int, sameTags, poll, parallel bool) {
	benchClassifyWith(b, env, n, sameTags, poll, parallel, nil, nil)
}

// benchClassifyWith is benchClassify recording to history (nil: none);
// drain runs in the timed part, after the loop.
func benchClassifyWith(b *testing.B, env *alert.Envelope, n int, sameTags, poll, parallel bool, history *record.Recorder, drain func()) {
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
	if history != nil {
		c.o.History = history
	}
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
	if drain != nil {
		drain()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}
