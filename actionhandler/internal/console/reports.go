package console

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/labstack/echo/v4"
)

// reportRanges are the reports' presets; custom takes since and until.
var reportRanges = []struct{ Value, Label string }{
	{"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"30d", "last 30 days"}, {"custom", "custom (since / until)"},
}

// maxReportRange bounds a custom range.
const maxReportRange = 366 * 24 * time.Hour

type reportForm struct {
	Range, Since, Until, Rule, Host string
}

func (h *Handler) reportFilter(c echo.Context) (reportForm, store.StatsFilter, error) {
	fv := reportForm{Range: c.QueryParam("range"), Since: c.QueryParam("since"), Until: c.QueryParam("until"),
		Rule: c.QueryParam("rule"), Host: c.QueryParam("host")}
	if fv.Range == "" {
		fv.Range = "7d"
	}
	f := store.StatsFilter{RuleName: fv.Rule, Host: fv.Host}
	if len(fv.Rule) > maxFilter || len(fv.Host) > maxFilter {
		return fv, f, badField{"rule", "too long"}
	}
	var err error
	f.Since, f.Until, f.Bucket, err = h.timeRange(fv.Range, fv.Since, fv.Until)
	return fv, f, err
}

// timeRange is a range of the reports' form (reportRanges; custom: since
// and until, at most maxReportRange), with the bucket its charts use.
func (h *Handler) timeRange(rng, sinceV, untilV string) (since, until time.Time, bucket time.Duration, err error) {
	now := h.o.Now()
	switch rng {
	case "24h":
		return now.Add(-24 * time.Hour), now, time.Hour, nil
	case "7d":
		return now.Add(-7 * 24 * time.Hour), now, 6 * time.Hour, nil
	case "30d":
		return now.Add(-30 * 24 * time.Hour), now, 24 * time.Hour, nil
	case "custom":
		if since, err = parseTime("since", sinceV); err != nil {
			return
		}
		if until, err = parseTime("until", untilV); err != nil {
			return
		}
		if since.IsZero() {
			return since, until, 0, badField{"since", "required with a custom range"}
		}
		if until.IsZero() {
			until = now
		}
		span := until.Sub(since)
		switch {
		case span <= 0:
			return since, until, 0, badField{"until", "must be after since"}
		case span > maxReportRange:
			return since, until, 0, badField{"since", "a range is at most 366 days"}
		}
		// About 30 to 60 buckets whatever the span.
		for _, b := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
			bucket = b
			if span/b <= 60 {
				break
			}
		}
		return since, until, bucket, nil
	}
	return since, until, 0, badField{"range", "want 24h, 7d, 30d or custom"}
}

type reportView struct {
	F        reportForm
	Ranges   any
	Stats    store.Stats
	Statuses []string
	CSV      string
	Since    time.Time
	Until    time.Time
	Charts   charts
}

func (h *Handler) reports(c echo.Context) error {
	fv, f, err := h.reportFilter(c)
	if err != nil {
		return h.badRequest(c, err)
	}
	st, err := h.o.Store.Stats(c.Request().Context(), f)
	if err != nil {
		return h.storeFailed(c, err)
	}
	q := url.Values{}
	for k, v := range map[string]string{"range": fv.Range, "since": fv.Since, "until": fv.Until, "rule": fv.Rule, "host": fv.Host} {
		if v != "" {
			q.Set(k, v)
		}
	}
	v := reportView{F: fv, Ranges: reportRanges, Stats: st, Statuses: execStatuses, CSV: "/console/reports.csv?" + q.Encode(),
		Since: f.Since, Until: f.Until, Charts: makeCharts(st)}
	return h.render(c, http.StatusOK, "reports", page{Title: "Reports", Nav: "reports", Data: v})
}

// reportsCSV answers the report as CSV: one row per rule, then one per
// action and host.
func (h *Handler) reportsCSV(c echo.Context) error {
	_, f, err := h.reportFilter(c)
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error())
	}
	st, err := h.o.Store.Stats(c.Request().Context(), f)
	if err != nil {
		return h.storeFailed(c, err)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	write := func(cells ...string) {
		for i := range cells {
			cells[i] = CSVCell(cells[i])
		}
		_ = w.Write(cells)
	}
	write("kind", "rule_name", "action", "host", "total", "success", "failure", "skipped", "interrupted", "dry_run",
		"refused", "success_rate", "p50_seconds", "p95_seconds", "max_seconds", "last", "audit",
		"verifying", "remediated", "ineffective", "awaiting_approval", "denied", "expired")
	for _, r := range st.Rules {
		write("rule", r.RuleName, "", "", fmt.Sprint(r.Total), n(r.ByStatus, store.Success), n(r.ByStatus, store.Failure),
			n(r.ByStatus, store.Skipped), n(r.ByStatus, store.Interrupted), n(r.ByStatus, store.DryRun), n(r.ByStatus, store.Refused),
			ratio(succeeded(r.ByStatus), ended(r.ByStatus)),
			secs(r.P50), secs(r.P95), secs(r.Max), stamp(r.Last), n(r.ByStatus, store.Audit),
			n(r.ByStatus, store.Verifying), n(r.ByStatus, store.Remediated), n(r.ByStatus, store.Ineffective),
			n(r.ByStatus, store.AwaitingApproval), n(r.ByStatus, store.Denied), n(r.ByStatus, store.Expired))
	}
	for _, a := range st.Actions {
		write("action", "", a.Action, a.Entity, fmt.Sprint(a.Count), fmt.Sprint(a.Success), fmt.Sprint(a.Count-a.Success),
			"", "", "", "", ratio(a.Success, a.Count), "", "", "", stamp(a.Last), "", "", "", "", "", "", "")
	}
	w.Flush()
	c.Response().Header().Set("Content-Disposition", `attachment; filename="alexis-report.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", []byte(b.String()))
}

// CSVCell guards a cell against formula injection: a spreadsheet treats a
// cell starting with = + - @ (or a tab or carriage return before them) as
// a formula, so such a cell gets a leading '. encoding/csv does the
// quoting.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func n(m map[string]int, k string) string { return fmt.Sprint(m[k]) }

func ratio(a, b int) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.3f", float64(a)/float64(b))
}

func secs(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%.3f", d.Seconds())
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
