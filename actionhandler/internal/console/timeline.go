package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/labstack/echo/v4"
)

// Outcomes the timeline filters by: decision results, then execution
// statuses (store.DecisionFilter.Outcome).
var Outcomes = []string{
	api.ResultMatched, api.ResultUnmatched, api.ResultDeferred, api.ResultRefused, api.ResultUnavailable, api.ResultDirect,
	api.ExecQueued, api.ExecRunning, api.ExecSuccess, api.ExecFailure, api.ExecSkipped, api.ExecInterrupted, api.ExecDryRun,
	api.ExecVerifying, api.ExecRemediated, api.ExecIneffective,
	api.ExecAwaitingApproval, api.ExecDenied, api.ExecExpired,
}

// Ranges are the time-range presets of the filters.
var Ranges = []struct{ Value, Label string }{
	{"", "any time"}, {"1h", "last hour"}, {"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"30d", "last 30 days"},
}

func rangeDuration(v string) (time.Duration, bool) {
	switch v {
	case "":
		return 0, true
	case "1h":
		return time.Hour, true
	case "24h":
		return 24 * time.Hour, true
	case "7d":
		return 7 * 24 * time.Hour, true
	case "30d":
		return 30 * 24 * time.Hour, true
	}
	return 0, false
}

// badField is a 400 naming the form field.
type badField struct{ field, msg string }

func (e badField) Error() string { return e.field + ": " + e.msg }

// parseTime reads a filter time: RFC 3339, or a datetime-local or date
// input's value (UTC).
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badField{field, "want a time like 2025-03-01T12:00 (UTC) or an RFC 3339 time"}
}

// maxFilter is the longest filter value accepted.
const maxFilter = 256

// filters are the timeline's GET form.
type filters struct {
	Feed, Rule, Host, Outcome, Range, Since, Until, Q string
}

func readFilters(c echo.Context, now time.Time) (filters, store.DecisionFilter, error) {
	fv := filters{Feed: c.QueryParam("feed"), Rule: c.QueryParam("rule"), Host: c.QueryParam("host"),
		Outcome: c.QueryParam("outcome"), Range: c.QueryParam("range"), Since: c.QueryParam("since"),
		Until: c.QueryParam("until"), Q: c.QueryParam("q")}
	f := store.DecisionFilter{FeedType: fv.Feed, RuleName: fv.Rule, Host: fv.Host, Outcome: fv.Outcome, Text: fv.Q,
		Cursor: c.QueryParam("cursor")}
	for name, v := range map[string]string{"feed": fv.Feed, "rule": fv.Rule, "host": fv.Host, "q": fv.Q, "cursor": f.Cursor} {
		if len(v) > maxFilter {
			return fv, f, badField{name, fmt.Sprintf("longer than %d bytes", maxFilter)}
		}
	}
	if fv.Outcome != "" && !contains(Outcomes, fv.Outcome) {
		return fv, f, badField{"outcome", "unknown outcome " + quote(fv.Outcome)}
	}
	d, ok := rangeDuration(fv.Range)
	if !ok {
		return fv, f, badField{"range", "want one of 1h, 24h, 7d, 30d"}
	}
	var err error
	if f.Since, err = parseTime("since", fv.Since); err != nil {
		return fv, f, err
	}
	if f.Until, err = parseTime("until", fv.Until); err != nil {
		return fv, f, err
	}
	if d > 0 && (f.Since.IsZero() || now.Add(-d).After(f.Since)) {
		f.Since = now.Add(-d)
	}
	return fv, f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// query is the filters as a query string (without cursor).
func (fv filters) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"feed": fv.Feed, "rule": fv.Rule, "host": fv.Host, "outcome": fv.Outcome,
		"range": fv.Range, "since": fv.Since, "until": fv.Until, "q": fv.Q} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// chip is an outcome label.
type chip struct{ Label, Class string }

// row is one decision on the timeline.
type row struct {
	D      *api.Decision
	Ticket string
	Chips  []chip
	Rules  []string
}

func (h *Handler) row(d *api.Decision) row {
	r := row{D: d, Ticket: h.ticketURL(d.FeedType, d.AlertID)}
	r.Chips = append(r.Chips, chip{d.Result, "chip chip-" + d.Result})
	for _, x := range d.Executions {
		r.Chips = append(r.Chips, chip{x.Status, "chip chip-" + x.Status})
	}
	seen := map[string]bool{}
	for _, m := range d.Matched {
		if !seen[m.RuleName] {
			seen[m.RuleName] = true
			r.Rules = append(r.Rules, m.RuleName)
		}
	}
	return r
}

type timelineView struct {
	F        filters
	Outcomes []string
	Ranges   any
	Rows     []row
	Older    string // the next page's URL
	LiveURL  string // the fragment the script polls; "" when not live
	Poll     int    // ms
	Paged    bool
}

func (h *Handler) timeline(c echo.Context) error {
	fv, f, err := readFilters(c, h.o.Now())
	if err != nil {
		return h.badRequest(c, err)
	}
	f.Limit = pageSize
	pg, err := h.o.Store.ListDecisions(c.Request().Context(), f)
	if errors.Is(err, store.ErrCursor) {
		return h.badRequest(c, badField{"cursor", "not one this console gave"})
	}
	if err != nil {
		return h.storeFailed(c, err)
	}
	v := timelineView{F: fv, Outcomes: Outcomes, Ranges: Ranges, Paged: f.Cursor != "", Poll: int(h.o.PollInterval / time.Millisecond)}
	for _, d := range pg.Decisions {
		v.Rows = append(v.Rows, h.row(d))
	}
	if pg.Next != "" {
		q := fv.query()
		q.Set("cursor", pg.Next)
		v.Older = "/console/?" + q.Encode()
	}
	if f.Cursor == "" && fv.Until == "" {
		v.LiveURL = "/console/timeline/rows?" + fv.query().Encode()
	}
	return h.render(c, http.StatusOK, "timeline", page{Title: "Timeline", Nav: "timeline", Data: v})
}

// pageSize is how many decisions a timeline page shows.
const pageSize = 50

// maxLiveRows is the most rows one live update brings.
const maxLiveRows = 100

// MoreHeader, on a live update, says more rows are new than it holds.
const MoreHeader = "X-Alexis-More"

// timelineRows answers the rows newer than the one given by after (its
// received_at, RFC 3339) and after_id, newest first, as HTML <tr>s.
func (h *Handler) timelineRows(c echo.Context) error {
	_, f, err := readFilters(c, h.o.Now())
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error())
	}
	after, err := time.Parse(time.RFC3339Nano, c.QueryParam("after"))
	if err != nil {
		return c.String(http.StatusBadRequest, "after: want the top row's received_at (RFC 3339)")
	}
	afterID := c.QueryParam("after_id")
	if f.Since.Before(after) {
		f.Since = after
	}
	f.Cursor, f.Limit = "", maxLiveRows+1
	pg, err := h.o.Store.ListDecisions(c.Request().Context(), f)
	if err != nil {
		h.o.Log.Error().Str(logging.Event, "store_error").Str(logging.Path, c.Path()).Str(logging.ErrorKey, err.Error()).Msg("console: store unavailable")
		return c.String(http.StatusServiceUnavailable, "store unavailable")
	}
	var rows []row
	for _, d := range pg.Decisions {
		if d.ReceivedAt.After(after) || (d.ReceivedAt.Equal(after) && d.ID > afterID) {
			rows = append(rows, h.row(d))
		}
	}
	if len(rows) > maxLiveRows || pg.Next != "" {
		// More are new than one update brings: the script asks for a
		// reload rather than leave a gap under the rows it adds.
		c.Response().Header().Set(MoreHeader, "true")
		rows = rows[:min(len(rows), maxLiveRows)]
	}
	var b bytes.Buffer
	if err := h.pages["timeline"].ExecuteTemplate(&b, "rows", rows); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

func (h *Handler) badRequest(c echo.Context, err error) error {
	return h.fail(c, http.StatusBadRequest, err.Error())
}

// ticketURL is the link to an alert's ticket from console.ticket_links,
// "" when its feed type has none. The id is escaped whole: every byte but
// letters, digits and -._~ is percent-encoded, so it cannot leave its
// place in the URL (path segment or query value).
func (h *Handler) ticketURL(feedType, alertID string) string {
	if alertID == "" {
		return ""
	}
	tpl, ok := h.o.TicketLinks[feedType]
	if !ok {
		for k, v := range h.o.TicketLinks {
			if strings.EqualFold(k, feedType) {
				tpl, ok = v, true
			}
		}
	}
	if !ok || !ValidTicketLink(tpl) {
		return ""
	}
	return strings.ReplaceAll(tpl, "{alert_id}", escapeAll(alertID))
}

// ValidTicketLink reports whether a ticket_links template is an absolute
// http or https URL with a host and {alert_id}.
func ValidTicketLink(tpl string) bool {
	u, err := url.Parse(strings.ReplaceAll(tpl, "{alert_id}", "x"))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		strings.Contains(tpl, "{alert_id}")
}

func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// The alert page.

type stepView struct {
	store.Step
	Exit     string
	Duration string
}

type execView struct {
	ID     string
	X      *store.Execution // nil: pruned from the store
	Status string
	Steps  []stepView
	// Verify: the rule's verify check (docs/rollout.md); nil when the
	// execution was never verifying.
	Verify     *verifyView
	Writebacks []writebackView
	Approval   approvalView // approvals.go
}

// verifyView is an execution's verification: due at DueAt, or ended at
// EndedAt with Outcome (remediated, ineffective) and Reason; Steps: the
// verify task on each host.
type verifyView struct {
	DueAt, EndedAt time.Time
	Outcome        string
	Reason         string
	Steps          []stepView
}

type writebackView struct {
	Op        string
	Attempts  int
	LastError string
	NextAt    time.Time
}

type alertView struct {
	D       *api.Decision
	Payload string
	Ticket  string
	Execs   []execView
	Related []row
}

func (h *Handler) alert(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if len(id) > 128 {
		return h.badRequest(c, badField{"id", "too long"})
	}
	d, err := h.o.Store.GetDecision(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return h.fail(c, http.StatusNotFound, "No decision "+quote(id)+" is recorded (it may have been pruned).")
	}
	if err != nil {
		return h.storeFailed(c, err)
	}
	v := alertView{D: d, Ticket: h.ticketURL(d.FeedType, d.AlertID), Payload: prettyJSON(d.Payload)}
	for _, de := range d.Executions {
		ev := execView{ID: de.ID, Status: de.Status}
		x, err := h.o.Store.Get(ctx, de.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return h.storeFailed(c, err)
		}
		if err == nil {
			ev.X, ev.Status = x, x.Status
			var verify []stepView
			ev.Approval = h.approvalView(c, x)
			for _, s := range x.Steps {
				sv := stepView{Step: s, Exit: "—"}
				if s.ExitCode >= 0 {
					sv.Exit = fmt.Sprint(s.ExitCode)
				}
				if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() {
					sv.Duration = s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond).String()
				}
				if store.IsVerifyStep(s) {
					verify = append(verify, sv)
					continue
				}
				ev.Steps = append(ev.Steps, sv)
			}
			if !x.VerifyAt.IsZero() {
				ev.Verify = &verifyView{DueAt: x.VerifyAt, EndedAt: x.VerifiedAt, Steps: verify}
				if !x.VerifiedAt.IsZero() {
					ev.Verify.Outcome, ev.Verify.Reason = x.Status, x.Reason
				}
			}
			for _, w := range x.Writebacks {
				var op ticket.Op
				desc := "unreadable operation"
				if json.Unmarshal(w.Op, &op) == nil {
					desc = op.String()
				}
				ev.Writebacks = append(ev.Writebacks, writebackView{Op: desc, Attempts: w.Attempts, LastError: w.LastError, NextAt: w.NextAt})
			}
		}
		v.Execs = append(v.Execs, ev)
	}
	if d.AlertID != "" {
		pg, err := h.o.Store.ListDecisions(ctx, store.DecisionFilter{Text: d.AlertID, FeedType: d.FeedType, Limit: store.MaxLimit})
		if err == nil {
			for _, o := range pg.Decisions {
				if o.ID != d.ID && o.AlertID == d.AlertID {
					v.Related = append(v.Related, h.row(o))
				}
			}
			sort.Slice(v.Related, func(i, j int) bool { return v.Related[i].D.ReceivedAt.Before(v.Related[j].D.ReceivedAt) })
		}
	}
	return h.render(c, http.StatusOK, "alert", page{Title: "Alert " + d.AlertID, Nav: "timeline", Data: v})
}

// prettyJSON indents a payload for reading ("" when there is none).
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}
