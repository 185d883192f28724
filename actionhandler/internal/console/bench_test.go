package console

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
)

// BenchmarkTimelinePage measures the console's timeline as a browser gets
// it (HTTP, session check, store query, template) on a SQLite store
// holding 100,000 decisions (ALEXIS_BENCH_DECISIONS to change) and as many
// executions (queued: created through the store, three in four linked to
// a matched decision, on one of 100 hosts): the first
// page, the 20th page by cursor, a rule filter, an outcome filter, a text
// search and the live rows endpoint. Figures: p50_ms and p99_ms of b.N
// requests each.
//
//	go test -run '^$' -bench BenchmarkTimelinePage -benchtime 200x ./actionhandler/internal/console/
func BenchmarkTimelinePage(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("ALEXIS_BENCH_DECISIONS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b, nil)
	now := e.clock.Now()
	start := time.Now()
	for i := 0; i < n; i++ {
		x := &store.Execution{ID: fmt.Sprintf("x%d", i), AlertID: fmt.Sprintf("alert-%032x", i), UniqueValue: "u",
			FeedType: "OpsGenie", FeedName: "incoming", RuleName: fmt.Sprintf("rule-%d", i%50), Client: "classifier",
			Request: []byte(`{}`), Entities: []string{fmt.Sprintf("host-%d", i%100)}}
		if _, _, err := e.st.Create(ctx, x, time.Nanosecond); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d executions in %s", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	batch := make([]api.Decision, 0, api.MaxDecisionBatch)
	for i := 0; i < n; i++ {
		d := decision(fmt.Sprintf("%032x", i), now.Add(-time.Duration(n-i)*30*time.Second), api.ResultUnmatched)
		d.Summary = fmt.Sprintf("disk full on host-%d", i%100)
		if i%4 != 0 {
			d.Result = api.ResultMatched
			d.Matched = []api.MatchedAction{{RuleName: fmt.Sprintf("rule-%d", i%50), ExecutionID: fmt.Sprintf("x%d", i), Status: "accepted"}}
		}
		batch = append(batch, d)
		if len(batch) == cap(batch) || i == n-1 {
			if err := e.st.RecordDecisions(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("seeded %d decisions in %s", n, time.Since(start).Round(time.Millisecond))
	c := e.login(readToken)

	// The 20th page's URL, by following "Older".
	older := regexp.MustCompile(`id="older" href="([^"]+)"`)
	page := "/console/"
	for i := 1; i < 20; i++ {
		_, body := e.get(c, page)
		m := older.FindStringSubmatch(body)
		if m == nil {
			b.Fatalf("page %d has no older link", i)
		}
		page = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	top := now.Add(-30 * time.Second).UTC().Format(time.RFC3339Nano)
	for _, q := range []struct{ name, path string }{
		{"first", "/console/"},
		{"page20", page},
		{"rule", "/console/?rule=rule-7"},
		{"outcome", "/console/?outcome=unmatched"},
		{"text", "/console/?q=host-42"},
		{"live", "/console/timeline/rows?after=" + top + "&after_id=x"},
	} {
		b.Run(q.name, func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				resp, _ := e.get(c, q.path)
				ds = append(ds, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", q.path, resp.StatusCode)
				}
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
