package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
)

// pageLimit is the action handler's largest page (store.MaxLimit).
const pageLimit = 500

// maxAll is the most items -all (and report) fetches.
const maxAll = 100_000

// execFilter is the filters of executions list.
type execFilter struct {
	rule, host, status, alert, since, until string
	limit                                   int
	all                                     bool
}

func (f *execFilter) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rule, "rule", "", "only executions of this rule name")
	fs.StringVar(&f.host, "host", "", "only executions acting on this host (entity)")
	fs.StringVar(&f.status, "status", "", "only this status: queued, running, success, failure, skipped, interrupted, dry_run, refused, audit, awaiting_approval, denied, expired, ...")
	fs.StringVar(&f.alert, "alert", "", "only executions of this alert id")
	fs.StringVar(&f.since, "since", "", "only executions created since: a duration back (24h, 7d) or an RFC 3339 time")
	fs.StringVar(&f.until, "until", "", "only executions created before: a duration back or an RFC 3339 time")
	fs.IntVar(&f.limit, "limit", 50, "show at most this many")
	fs.BoolVar(&f.all, "all", false, fmt.Sprintf("follow next_cursor to the last page (at most %d)", maxAll))
}

// query is the filters as GET /v1/executions parameters.
func (f *execFilter) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("rule_name", f.rule)
	set("entity", f.host)
	set("status", f.status)
	set("alert_id", f.alert)
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

// want is how many items to fetch.
func want(limit int, all bool) int {
	if all {
		return maxAll
	}
	return min(limit, maxAll)
}

// pages fetches pages of path (following next_cursor) until n items or
// the last page; page decodes one answer and returns its item count and
// cursor. It returns the number of pages and whether more were left.
func pages(ctx context.Context, c *client, path string, q url.Values, n int, page func(data []byte) (int, string, error)) (int, bool, error) {
	got, count := 0, 0
	for {
		q.Set("limit", strconv.Itoa(min(n-got, pageLimit)))
		data, err := c.get(ctx, path, q, nil)
		if err != nil {
			return count, false, err
		}
		count++
		items, next, err := page(data)
		if err != nil {
			return count, false, &exitError{code: exitUnavailable, err: fmt.Errorf("GET %s: %v", path, err)}
		}
		got += items
		if next == "" {
			return count, false, nil
		}
		if got >= n || items == 0 {
			return count, true, nil
		}
		if next == q.Get("cursor") {
			return count, false, &exitError{code: exitUnavailable, err: fmt.Errorf("GET %s: the %s gave the same cursor twice", path, c.what)}
		}
		q.Set("cursor", next)
	}
}

// fetchExecutions lists executions matching q, up to n.
func fetchExecutions(ctx context.Context, c *client, q url.Values, n int) (api.ExecutionList, []byte, bool, error) {
	var all api.ExecutionList
	var last []byte
	count, more, err := pages(ctx, c, "/v1/executions", q, n, func(data []byte) (int, string, error) {
		var p api.ExecutionList
		if err := jsonDecode(data, &p); err != nil {
			return 0, "", err
		}
		last = data
		all.Executions = append(all.Executions, p.Executions...)
		all.NextCursor = p.NextCursor
		return len(p.Executions), p.NextCursor, nil
	})
	if count != 1 {
		last = nil // more than one page: not one answer of the API
	}
	if len(all.Executions) > n {
		all.Executions = all.Executions[:n]
	}
	return all, last, more, err
}

func executionsList(ctx context.Context, a *app, args []string) error {
	var f execFilter
	fs := a.flags("executions list")
	f.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("executions list: unexpected argument %q (filters are flags: -rule, -host, -status, -since)", cleanLine(pos[0]))
	}
	q, err := f.query(a.now())
	if err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	list, raw, more, err := fetchExecutions(ctx, c, q, want(f.limit, f.all))
	if err != nil {
		return err
	}
	if more {
		fmt.Fprintf(a.stderr, "(more executions: -limit N or -all)\n")
	}
	if a.json() {
		if raw != nil {
			return a.printJSON(raw)
		}
		return a.printValue(list)
	}
	t := newTable(a.stdout, "ID", "STATUS", "RULE", "HOSTS", "ALERT", "CREATED", "DURATION")
	for _, x := range list.Executions {
		t.row(cell(x.ID, 0), cell(x.Status, 0), cell(x.RuleName, 40), list3(x.Entities), cell(x.UniqueValue, 24),
			stamp(x.CreatedAt), span(x.StartedAt, x.FinishedAt))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if f.all && len(list.Executions) >= maxAll && more {
		a.warn("all", "stopped after %d executions", maxAll)
	}
	return nil
}

func list3(items []string) string { return list(items, 3) }

func executionsShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags("executions show")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("executions show: want one execution ID")
	}
	if err := checkID("executions show", pos[0]); err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var x api.Execution
	raw, err := c.get(ctx, "/v1/executions/"+escapePath(pos[0]), nil, &x)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(raw)
	}
	return a.writeExecution(x)
}

// writeExecution prints one execution with its steps.
func (a *app) writeExecution(x api.Execution) error {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	kv := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	kv("execution", cell(x.ID, 0))
	status := cell(x.Status, 0)
	if x.Reason != "" {
		status += "  (" + cell(x.Reason, 0) + ")"
	}
	kv("status", status)
	r := cell(x.RuleName, 0)
	if x.AdHoc {
		r += "  [ad-hoc: rule not verified]"
	}
	kv("rule", r)
	kv("alert", fmt.Sprintf("%s  (%s/%s, id %s)", cell(x.UniqueValue, 0), cell(x.FeedType, 0), cell(x.FeedName, 0), cell(x.AlertID, 0)))
	who := cell(x.Client, 0)
	if x.RequestedBy != "" && x.RequestedBy != x.Client {
		who += "  (requested by " + cell(x.RequestedBy, 0) + ")"
	}
	kv("client", who)
	kv("hosts", list(x.Entities, 0))
	kv("created", stamp(x.CreatedAt))
	kv("started", stampPtr(x.StartedAt))
	kv("finished", stampPtr(x.FinishedAt)+"  ("+span(x.StartedAt, x.FinishedAt)+")")
	kv("written back", stampPtr(x.ReportedAt))
	if v := x.Verification; v != nil {
		if v.VerifiedAt != nil {
			kv("verification", cell(v.Outcome, 0)+" at "+stampPtr(v.VerifiedAt)+"  (due "+stamp(v.VerifyAt)+")")
		} else {
			kv("verification", "due "+stamp(v.VerifyAt))
		}
	}
	if x.ApprovalExpiresAt != nil {
		kv("approval until", stampPtr(x.ApprovalExpiresAt))
	}
	if x.DecidedBy != "" {
		verb := "approved by"
		if x.Status == api.ExecDenied {
			verb = "denied by"
		}
		kv(verb, cell(x.DecidedBy, 0)+"  "+stampPtr(x.DecidedAt)+"  ("+cell(x.DecisionReason, 0)+")")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(x.Steps) > 0 {
		fmt.Fprintln(a.stdout, "\nsteps:")
	}
	for _, s := range x.Steps {
		a.writeStep(s, "  ", "     ")
	}
	if v := x.Verification; v != nil && len(v.Steps) > 0 {
		fmt.Fprintln(a.stdout, "\nverify steps:")
		for _, s := range v.Steps {
			a.writeStep(s, "  ", "     ")
		}
	}
	if len(x.PendingWritebacks) > 0 {
		fmt.Fprintln(a.stdout, "\npending write-backs:")
		for _, p := range x.PendingWritebacks {
			fmt.Fprintf(a.stdout, "  %s: %d attempts, next at %s, last error: %s\n",
				cell(p.Op, 0), p.Attempts, stamp(p.NextAt), cell(p.LastError, 200))
		}
	}
	return nil
}

// writeStep prints one step after prefix, its command and output
// indented by in.
func (a *app) writeStep(s api.Step, prefix, in string) {
	head := fmt.Sprintf("%s#%d %s", prefix, s.TaskIndex, cell(s.TaskType, 0))
	if s.TaskIndex < 0 {
		head = prefix + "verify " + cell(s.TaskType, 0) // the rule's verify task (task_index -1)
	}
	if s.Action != "" {
		head += " " + cell(s.Action, 0)
	}
	head += " on " + cell(s.Entity, 0) + ": " + cell(s.Status, 0)
	if s.ExitCode != nil {
		head += ", exit " + strconv.Itoa(*s.ExitCode)
	}
	if s.HTTPStatus != 0 {
		head += ", http " + strconv.Itoa(s.HTTPStatus)
	}
	if s.ElapsedMS != nil {
		head += ", " + duration(time.Duration(*s.ElapsedMS)*time.Millisecond)
	} else if d := span(s.StartedAt, s.FinishedAt); d != "-" {
		head += ", " + d
	}
	fmt.Fprintln(a.stdout, head)
	if s.Command != "" {
		fmt.Fprintln(a.stdout, indent("$ "+cleanBlock(s.Command), in))
	}
	for _, out := range []struct{ name, text string }{{"stdout", s.Stdout}, {"stderr", s.Stderr}} {
		if out.text != "" {
			fmt.Fprintf(a.stdout, "%s%s:\n%s\n", in, out.name, indent(cleanBlock(out.text), in+"  "))
		}
	}
	if s.Truncated {
		fmt.Fprintf(a.stdout, "%s(output truncated)\n", in)
	}
	if s.Error != "" {
		fmt.Fprintf(a.stdout, "%serror: %s\n", in, indent(cleanBlock(s.Error), in+"  ")[len(in)+2:])
	}
}

// watchOptions are executions watch's flags (run's too).
type watchOptions struct {
	interval, maxWait time.Duration
}

func (o *watchOptions) register(fs *flag.FlagSet) {
	fs.DurationVar(&o.interval, "interval", time.Second, "how often to poll")
	fs.DurationVar(&o.maxWait, "max-wait", 0, "give up (exit 1) after this long; 0 waits until it ends")
}

func executionsWatch(ctx context.Context, a *app, args []string) error {
	var o watchOptions
	fs := a.flags("executions watch")
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("executions watch: want one execution ID")
	}
	if err := checkID("executions watch", pos[0]); err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	return a.watch(ctx, c, pos[0], o)
}

// ended: terminal statuses and whether each counts as success.
var ended = map[string]bool{
	api.ExecSuccess: true, api.ExecDryRun: true,
	api.ExecFailure: false, api.ExecRefused: false, api.ExecInterrupted: false, api.ExecSkipped: false,
	api.ExecAudit: true, // audit mode (docs/rollout.md): described, nothing ran, nothing failed
	// Verification (docs/rollout.md): verifying has not ended (the fix is
	// checked at verify_at); its verdict has.
	api.ExecRemediated: true, api.ExecIneffective: false,
	api.ExecDenied: false, api.ExecExpired: false, // approvals: nothing ran
}

// maxPollErrors is how many polls in a row may fail (unreachable, 5xx)
// before watch gives up.
const maxPollErrors = 5

// watch polls execution id until it ends, printing each change of its
// status and of its steps'.
func (a *app) watch(ctx context.Context, c *client, id string, o watchOptions) error {
	if o.interval < 100*time.Millisecond {
		return usagef("-interval: want 100ms or more")
	}
	var deadline <-chan time.Time
	if o.maxWait > 0 {
		timer := time.NewTimer(o.maxWait)
		defer timer.Stop()
		deadline = timer.C
	}
	lastStatus := ""
	steps := map[string]string{}
	failures := 0
	for {
		var x api.Execution
		raw, err := c.get(ctx, "/v1/executions/"+escapePath(id), nil, &x)
		var xe *exitError
		switch {
		case err != nil && errors.As(err, &xe) && xe.code == exitUnavailable, err != nil && isTemporary(err):
			failures++
			if failures >= maxPollErrors {
				return err
			}
			a.warn(fmt.Sprintf("poll%d", failures), "%s (trying again)", err)
		case err != nil:
			return err
		default:
			failures = 0
			if !a.json() {
				a.printChanges(x, &lastStatus, steps)
			}
			if ok, done := ended[x.Status]; done {
				if a.json() {
					if err := a.printJSON(raw); err != nil {
						return err
					}
				}
				if ok {
					return nil
				}
				return errReported
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return &exitError{code: exitFailed, err: fmt.Errorf("execution %s still %s after %s", cleanLine(id), cleanLine(lastStatus), o.maxWait)}
		case <-time.After(o.interval):
		}
	}
}

func isTemporary(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.exitCode() == exitUnavailable
}

func (a *app) printChanges(x api.Execution, last *string, steps map[string]string) {
	now := clock(a.now())
	if x.Status != *last {
		line := fmt.Sprintf("%s  execution %s %s", now, cell(x.ID, 0), cell(x.Status, 0))
		if *last == "" {
			line += fmt.Sprintf("  (rule %s, hosts %s)", cell(x.RuleName, 0), list(x.Entities, 5))
		}
		if x.Reason != "" {
			line += ": " + cell(x.Reason, 200)
		}
		fmt.Fprintln(a.stdout, line)
		*last = x.Status
	}
	all := x.Steps
	if x.Verification != nil {
		all = append(slices.Clip(all), x.Verification.Steps...)
	}
	for _, s := range all {
		key := strconv.Itoa(s.TaskIndex) + "\x00" + s.Entity
		if steps[key] == s.Status {
			continue
		}
		steps[key] = s.Status
		line := fmt.Sprintf("%s    step #%d %s on %s: %s", now, s.TaskIndex, cell(s.TaskType, 0), cell(s.Entity, 0), cell(s.Status, 0))
		if s.TaskIndex < 0 {
			line = fmt.Sprintf("%s    verify %s on %s: %s", now, cell(s.TaskType, 0), cell(s.Entity, 0), cell(s.Status, 0))
		}
		if s.ExitCode != nil {
			line += ", exit " + strconv.Itoa(*s.ExitCode)
		}
		if s.Error != "" {
			line += ": " + cell(s.Error, 200)
		}
		fmt.Fprintln(a.stdout, line)
	}
	if _, done := ended[x.Status]; done {
		fmt.Fprintf(a.stdout, "see: %s executions show %s\n", name, strings.TrimSpace(cell(x.ID, 0)))
	}
}
