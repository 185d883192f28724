package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
)

// alertFilter is the filters of alerts list (GET /v1/decisions).
type alertFilter struct {
	feedType, feedName, rule, host, outcome, text, since, until string
	limit                                                       int
	all                                                         bool
}

func (f *alertFilter) register(fs *flag.FlagSet) {
	fs.StringVar(&f.feedType, "feed-type", "", "only alerts of this feed type (OpsGenie, Dynatrace, Alertmanager)")
	fs.StringVar(&f.feedName, "feed", "", "only alerts of this feed name")
	fs.StringVar(&f.rule, "rule", "", "only alerts this rule matched")
	fs.StringVar(&f.host, "host", "", "only alerts with an execution on this host")
	fs.StringVar(&f.outcome, "outcome", "", "a decision result (matched, unmatched, deferred, refused, unavailable, direct) or an execution status (success, failure, ...)")
	fs.StringVar(&f.text, "q", "", "only alerts whose id, unique value or summary holds this text")
	fs.StringVar(&f.since, "since", "", "only alerts received since: a duration back (24h, 7d) or an RFC 3339 time")
	fs.StringVar(&f.until, "until", "", "only alerts received before: a duration back or an RFC 3339 time")
	fs.IntVar(&f.limit, "limit", 50, "show at most this many")
	fs.BoolVar(&f.all, "all", false, fmt.Sprintf("follow next_cursor to the last page (at most %d)", maxAll))
}

func (f *alertFilter) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	for k, v := range map[string]string{"feed_type": f.feedType, "feed_name": f.feedName, "rule": f.rule,
		"host": f.host, "outcome": f.outcome, "q": f.text} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, t := range []struct{ key, value string }{{"since", f.since}, {"until", f.until}} {
		tm, err := report.ParseSince(t.value, now)
		if err != nil {
			return nil, usagef("-%s: %v", t.key, err)
		}
		if !tm.IsZero() {
			q.Set(t.key, tm.UTC().Format(time.RFC3339))
		}
	}
	if f.limit < 1 {
		return nil, usagef("-limit: want 1 or more")
	}
	return q, nil
}

func alertsList(ctx context.Context, a *app, args []string) error {
	var f alertFilter
	fs := a.flags("alerts list")
	f.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("alerts list: unexpected argument %q (filters are flags: -rule, -host, -outcome, -q)", cleanLine(pos[0]))
	}
	q, err := f.query(a.now())
	if err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	n := want(f.limit, f.all)
	var all api.DecisionList
	var last []byte
	count, more, err := pages(ctx, c, "/v1/decisions", q, n, func(data []byte) (int, string, error) {
		var p api.DecisionList
		if err := jsonDecode(data, &p); err != nil {
			return 0, "", err
		}
		last = data
		all.Decisions = append(all.Decisions, p.Decisions...)
		all.NextCursor = p.NextCursor
		return len(p.Decisions), p.NextCursor, nil
	})
	if err != nil {
		return err
	}
	if len(all.Decisions) > n {
		all.Decisions = all.Decisions[:n]
	}
	if more {
		fmt.Fprintf(a.stderr, "(more alerts: -limit N or -all)\n")
	}
	if a.json() {
		if count == 1 {
			return a.printJSON(last)
		}
		return a.printValue(all)
	}
	t := newTable(a.stdout, "ID", "RECEIVED", "FEED", "ALERT", "RESULT", "RULES", "HOSTS", "OUTCOME", "SUMMARY")
	for _, d := range all.Decisions {
		var rules, outcomes []string
		for _, m := range d.Matched {
			rules = append(rules, m.RuleName)
		}
		for _, x := range d.Executions {
			outcomes = append(outcomes, x.Status)
		}
		t.row(cell(d.ID, 0), stamp(d.ReceivedAt), cell(d.FeedType+"/"+d.FeedName, 30), cell(d.UniqueValue, 24),
			cell(d.Result, 0), list3(rules), list3(d.Hosts), list3(outcomes), cell(d.Summary, 60))
	}
	return t.flush()
}

// maxTimelineExecutions is the most executions alerts show fetches.
const maxTimelineExecutions = 20

// timeline is alerts show's -o json: the decision and its executions.
type timeline struct {
	Decision   json.RawMessage   `json:"decision"`
	Executions []json.RawMessage `json:"executions"`
}

func payloadFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("payload", false, "print the alert as received")
}

func alertsShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags("alerts show")
	payload := payloadFlag(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("alerts show: want one decision ID (alerts list shows them)")
	}
	if err := checkID("alerts show", pos[0]); err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var d api.Decision
	raw, err := c.get(ctx, "/v1/decisions/"+escapePath(pos[0]), nil, &d)
	if err != nil {
		return err
	}
	var xs []api.Execution
	out := timeline{Decision: raw, Executions: []json.RawMessage{}}
	for i, de := range d.Executions {
		if i == maxTimelineExecutions {
			a.warn("timeline", "showing the first %d of %d executions", maxTimelineExecutions, len(d.Executions))
			break
		}
		var x api.Execution
		xraw, err := c.get(ctx, "/v1/executions/"+escapePath(de.ID), nil, &x)
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusNotFound {
			// Pruned since, or never recorded: the decision's summary stays.
			x = api.Execution{ID: de.ID, RuleName: de.RuleName, Status: de.Status, Entities: de.Entities,
				Reason: "execution not found on the action handler (pruned?)"}
			xraw, err = json.Marshal(x)
		}
		if err != nil {
			return err
		}
		xs = append(xs, x)
		out.Executions = append(out.Executions, xraw)
	}
	if a.json() {
		return a.printValue(out)
	}
	a.writeTimeline(d, xs, *payload)
	return nil
}

// writeTimeline prints an alert's story, oldest first.
func (a *app) writeTimeline(d api.Decision, xs []api.Execution, payload bool) {
	w := a.stdout
	fmt.Fprintf(w, "alert %s  (%s/%s, id %s)\n", cell(d.UniqueValue, 0), cell(d.FeedType, 0), cell(d.FeedName, 0), cell(d.AlertID, 0))
	if d.Summary != "" {
		fmt.Fprintf(w, "  %s\n", cell(d.Summary, 0))
	}
	fmt.Fprintf(w, "  decision %s\n\n", cell(d.ID, 0))

	received := "received"
	if d.RequestedBy != "" {
		received += ", posted by " + cell(d.RequestedBy, 0)
	}
	fmt.Fprintf(w, "%s  %s\n", clock(d.ReceivedAt), received)
	if payload {
		switch {
		case d.PayloadOmitted:
			fmt.Fprintf(w, "          (payload larger than %d bytes: not kept)\n", api.MaxDecisionPayload)
		case len(d.Payload) > 0:
			if js, err := safeJSON(d.Payload); err == nil {
				fmt.Fprintln(w, indent(string(js), "          "))
			}
		}
	}
	if d.Result == api.ResultDirect {
		fmt.Fprintf(w, "%s  posted directly to the action handler (not classified)\n", clock(d.ReceivedAt))
	} else {
		fmt.Fprintf(w, "%s  classified: %s (%d rules checked)\n", clock(d.ReceivedAt), cell(d.Result, 0), d.RulesChecked)
	}
	for _, r := range d.Rules {
		fmt.Fprintf(w, "            %-11s %s%s\n", cell(r.Status, 0), ruleLabel(r.RuleName, r.File), why(r))
	}
	for _, m := range d.Matched {
		line := fmt.Sprintf("          pushed %s: %s", cell(m.RuleName, 0), cell(m.Status, 0))
		if m.ExecutionID != "" {
			line += ", execution " + cell(m.ExecutionID, 0)
		}
		if m.Error != "" {
			line += ": " + cell(m.Error, 200)
		}
		fmt.Fprintln(w, line)
	}
	for _, x := range xs {
		fmt.Fprintf(w, "%s  execution %s %s  (rule %s, hosts %s)\n", clock(x.CreatedAt), cell(x.ID, 0), cell(x.Status, 0),
			cell(x.RuleName, 0), list(x.Entities, 5))
		if x.Reason != "" {
			fmt.Fprintf(w, "            %s\n", cell(x.Reason, 300))
		}
		if x.StartedAt != nil {
			fmt.Fprintf(w, "%s    started\n", clock(*x.StartedAt))
		}
		for _, s := range x.Steps {
			at := time.Time{}
			if s.StartedAt != nil {
				at = *s.StartedAt
			}
			fmt.Fprint(w, clock(at))
			a.writeStep(s, "    ", "               ")
		}
		if x.FinishedAt != nil {
			fmt.Fprintf(w, "%s    finished %s (%s)\n", clock(*x.FinishedAt), cell(x.Status, 0), span(x.StartedAt, x.FinishedAt))
		}
		if x.ReportedAt != nil {
			fmt.Fprintf(w, "%s    written back onto the alert\n", clock(*x.ReportedAt))
		}
		for _, p := range x.PendingWritebacks {
			fmt.Fprintf(w, "            write-back %s pending: %d attempts, next at %s: %s\n",
				cell(p.Op, 0), p.Attempts, stamp(p.NextAt), cell(p.LastError, 200))
		}
	}
	if len(d.Executions) == 0 && d.Result != api.ResultMatched && d.Result != api.ResultDirect {
		fmt.Fprintln(w, "          no execution: routed to investigation or offered again")
	}
}

func ruleLabel(ruleName, file string) string {
	switch {
	case ruleName != "" && file != "":
		return cell(ruleName, 0) + " (" + cell(file, 0) + ")"
	case ruleName != "":
		return cell(ruleName, 0)
	}
	return cell(file, 0)
}

// why says, for a rule that did not match, which condition failed and
// what was seen.
func why(r api.DecisionRule) string {
	var parts []string
	if r.RulePath != "" {
		cond := cell(r.RulePath, 80) + ":"
		if r.AlertPath != "" {
			cond += " " + cell(r.AlertPath, 80)
		}
		if r.Op != "" {
			cond += " " + cell(r.Op, 0)
		}
		if r.Expected != "" {
			cond += " " + cell(r.Expected, 80)
		}
		if r.Actual != "" {
			cond += ", saw " + cell(r.Actual, 80)
		}
		parts = append(parts, cond)
	}
	if r.Reason != "" {
		parts = append(parts, cell(r.Reason, 200))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}
