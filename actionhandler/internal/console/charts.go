package console

import (
	"html/template"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/console/svgchart"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
)

// charts are the reports page's SVG charts (server-side, no script; the
// tables beside them hold the same figures).
type charts struct {
	Rules     template.HTML // executions per rule by status
	Rate      template.HTML // success rate per rule
	Durations template.HTML // p95 per rule
	Buckets   template.HTML // executions per time bucket by status
}

// chartStatuses are the series the charts split executions into.
var chartStatuses = []string{store.Success, store.Failure, store.Skipped, store.Interrupted, store.DryRun, store.Refused,
	store.Queued, store.Running, store.Audit, store.Verifying, store.Remediated, store.Ineffective}

// usedStatuses are the chartStatuses some rule or bucket has, so the
// legend names only what is drawn (success and failure always).
func usedStatuses(st store.Stats) []string {
	seen := map[string]bool{store.Success: true, store.Failure: true}
	for _, r := range st.Rules {
		for k, n := range r.ByStatus {
			seen[k] = seen[k] || n > 0
		}
	}
	var out []string
	for _, k := range chartStatuses {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// seconds formats a duration in seconds as Go does ("1.5s", "250ms").
func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func makeCharts(st store.Stats) charts {
	statuses := usedStatuses(st)
	var stacks []svgchart.Stack
	var rates, p95 []svgchart.Bar
	for _, r := range st.Rules {
		s := svgchart.Stack{Label: r.RuleName, Href: "/console/rules/" + escapeAll(r.RuleName)}
		for _, k := range statuses {
			s.Values = append(s.Values, float64(r.ByStatus[k]))
		}
		stacks = append(stacks, s)
		if n := ended(r.ByStatus); n > 0 {
			rates = append(rates, svgchart.Bar{Label: r.RuleName, Value: 100 * float64(succeeded(r.ByStatus)) / float64(n)})
		}
		if r.P95 > 0 {
			p95 = append(p95, svgchart.Bar{Label: r.RuleName, Value: r.P95.Seconds()})
		}
	}
	var buckets []svgchart.Bucket
	for _, b := range st.Buckets {
		sb := svgchart.Bucket{Start: b.Start}
		for _, k := range statuses {
			sb.Values = append(sb.Values, float64(b.ByStatus[k]))
		}
		buckets = append(buckets, sb)
	}
	return charts{
		Rules:     svgchart.Stacked(svgchart.StackedChart{Title: "Executions per rule, by result", Series: statuses, Stacks: stacks}),
		Rate:      svgchart.Bars(svgchart.BarChart{Title: "Success rate per rule (ended executions)", Suffix: "%", Max: 100, Bars: rates}),
		Durations: svgchart.Bars(svgchart.BarChart{Title: "p95 duration per rule", Format: seconds, Bars: p95}),
		Buckets:   svgchart.Series(svgchart.TimeChart{Title: "Executions over time, by result", Kind: svgchart.Columns, Series: statuses, Buckets: buckets}),
	}
}
