package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
)

type reportOptions struct {
	since, rule, host string
	actions           bool
}

func (o *reportOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.since, "since", "7d", "executions created since: a duration back (24h, 7d) or an RFC 3339 time")
	fs.StringVar(&o.rule, "rule", "", "only this rule name")
	fs.StringVar(&o.host, "host", "", "only executions acting on this host")
	fs.BoolVar(&o.actions, "actions", false, fmt.Sprintf("also count each task action per host from the executions' steps (one request per execution, the newest %d)", maxActionExecutions))
}

// maxActionExecutions is the most executions report -actions fetches.
const maxActionExecutions = 2000

// actionReport is how many times a task's action ran on a host (steps
// that ran: success or failure).
type actionReport struct {
	Action  string    `json:"action"` // the step's action, or its task type when it has none
	Host    string    `json:"host"`
	Runs    int       `json:"runs"`
	Success int       `json:"success"`
	Last    time.Time `json:"last"`
}

// ruleReport is one rule's line of the report.
type ruleReport struct {
	Rule        string         `json:"rule_name"`
	Runs        int            `json:"runs"`
	ByStatus    map[string]int `json:"by_status"`
	Ended       int            `json:"ended"`        // success, failure, interrupted, refused
	SuccessRate *float64       `json:"success_rate"` // success / ended; null when none ended
	P50MS       *int64         `json:"p50_ms"`       // of started→finished
	P95MS       *int64         `json:"p95_ms"`
	Last        time.Time      `json:"last"`
}

// hostReport is how often a rule acted on a host.
type hostReport struct {
	Rule    string    `json:"rule_name"`
	Host    string    `json:"host"`
	Runs    int       `json:"runs"`
	Success int       `json:"success"`
	Last    time.Time `json:"last"`
}

type reportAnswer struct {
	Since      time.Time    `json:"since"`
	Until      time.Time    `json:"until"`
	Executions int          `json:"executions"`
	Truncated  bool         `json:"truncated,omitempty"` // more than maxAll executions: the oldest are not counted
	Rules      []ruleReport `json:"rules"`
	Hosts      []hostReport `json:"hosts"`
	// Actions: with -actions only.
	Actions          []actionReport `json:"actions,omitempty"`
	ActionsTruncated bool           `json:"actions_truncated,omitempty"` // counted over the newest maxActionExecutions
}

func reportCommand(ctx context.Context, a *app, args []string) error {
	var o reportOptions
	fs := a.flags("report")
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("report: unexpected argument %q", cleanLine(pos[0]))
	}
	now := a.now()
	since, err := report.ParseSince(o.since, now)
	if err != nil {
		return usagef("-since: %v", err)
	}
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	if o.rule != "" {
		q.Set("rule_name", o.rule)
	}
	if o.host != "" {
		q.Set("entity", o.host)
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	list, _, more, err := fetchExecutions(ctx, c, q, maxAll)
	if err != nil {
		return err
	}
	rep := buildReport(list.Executions, o.host)
	rep.Since, rep.Until, rep.Truncated = since.UTC(), now.UTC(), more
	if more {
		a.warn("report", "more than %d executions: only the newest %d are counted", maxAll, maxAll)
	}
	if o.actions {
		if rep.Actions, err = countActions(ctx, c, list.Executions, o.host); err != nil {
			return err
		}
		if len(list.Executions) > maxActionExecutions {
			rep.ActionsTruncated = true
			a.warn("actions", "actions counted over the newest %d of %d executions", maxActionExecutions, len(list.Executions))
		}
	}
	if a.json() {
		return a.printValue(rep)
	}
	fmt.Fprintf(a.stdout, "%d executions from %s to %s\n\n", rep.Executions, stamp(rep.Since), stamp(rep.Until))
	// REMEDIATED, INEFFECTIVE, VERIFYING (verification) and AWAITING,
	// DENIED, EXPIRED (approvals; docs/rollout.md)
	// come last, so the columns before them keep their places.
	t := newTable(a.stdout, "RULE", "RUNS", "SUCCESS", "FAILURE", "OTHER", "SUCCESS RATE", "P50", "P95", "LAST",
		"REMEDIATED", "INEFFECTIVE", "VERIFYING", "AWAITING", "DENIED", "EXPIRED")
	for _, r := range rep.Rules {
		b := r.ByStatus
		other := r.Runs - b[api.ExecSuccess] - b[api.ExecFailure] - b[api.ExecRemediated] - b[api.ExecIneffective] - b[api.ExecVerifying] -
			b[api.ExecAwaitingApproval] - b[api.ExecDenied] - b[api.ExecExpired]
		t.row(cell(r.Rule, 40), fmt.Sprint(r.Runs), fmt.Sprint(b[api.ExecSuccess]), fmt.Sprint(b[api.ExecFailure]),
			fmt.Sprint(other), percent(r.SuccessRate), ms(r.P50MS), ms(r.P95MS), stamp(r.Last),
			fmt.Sprint(b[api.ExecRemediated]), fmt.Sprint(b[api.ExecIneffective]), fmt.Sprint(b[api.ExecVerifying]),
			fmt.Sprint(b[api.ExecAwaitingApproval]), fmt.Sprint(b[api.ExecDenied]), fmt.Sprint(b[api.ExecExpired]))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout, "RULE", "HOST", "RUNS", "SUCCESS", "LAST")
	for _, h := range rep.Hosts {
		t.row(cell(h.Rule, 40), cell(h.Host, 50), fmt.Sprint(h.Runs), fmt.Sprint(h.Success), stamp(h.Last))
	}
	if err := t.flush(); err != nil || !o.actions {
		return err
	}
	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout, "ACTION", "HOST", "RUNS", "SUCCESS", "LAST")
	for _, x := range rep.Actions {
		t.row(cell(x.Action, 40), cell(x.Host, 50), fmt.Sprint(x.Runs), fmt.Sprint(x.Success), stamp(x.Last))
	}
	return t.flush()
}

// countActions fetches the steps of (the newest maxActionExecutions of)
// xs and counts the steps that ran per action and host.
func countActions(ctx context.Context, c *client, xs []api.Execution, onlyHost string) ([]actionReport, error) {
	counts := map[[2]string]*actionReport{}
	for i, e := range xs {
		if i == maxActionExecutions {
			break
		}
		var x api.Execution
		if _, err := c.get(ctx, "/v1/executions/"+escapePath(e.ID), nil, &x); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status == http.StatusNotFound {
				continue // pruned since it was listed
			}
			return nil, err
		}
		for _, s := range x.Steps {
			if s.Status != api.ExecSuccess && s.Status != api.ExecFailure || onlyHost != "" && s.Entity != onlyHost {
				continue
			}
			action := orString(s.Action, s.TaskType)
			k := [2]string{action, s.Entity}
			r := counts[k]
			if r == nil {
				r = &actionReport{Action: action, Host: s.Entity}
				counts[k] = r
			}
			r.Runs++
			if s.Status == api.ExecSuccess {
				r.Success++
			}
			at := x.CreatedAt
			if s.StartedAt != nil {
				at = *s.StartedAt
			}
			if at.After(r.Last) {
				r.Last = at
			}
		}
	}
	out := make([]actionReport, 0, len(counts))
	for _, r := range counts {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Runs != b.Runs {
			return a.Runs > b.Runs
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.Host < b.Host
	})
	return out, nil
}

// endedStatuses count in a success rate's denominator; succeededStatuses
// in its numerator. Verification (docs/rollout.md): remediated is a
// success, ineffective a failure, verifying not yet an outcome.
var (
	endedStatuses = map[string]bool{api.ExecSuccess: true, api.ExecFailure: true, api.ExecInterrupted: true, api.ExecRefused: true,
		api.ExecRemediated: true, api.ExecIneffective: true}
	succeededStatuses = map[string]bool{api.ExecSuccess: true, api.ExecRemediated: true}
)

// buildReport counts executions per rule and per rule and host (only
// host, when given: an execution may act on several).
func buildReport(xs []api.Execution, onlyHost string) reportAnswer {
	rules := map[string]*ruleReport{}
	durations := map[string][]int64{}
	hosts := map[[2]string]*hostReport{}
	for _, x := range xs {
		r := rules[x.RuleName]
		if r == nil {
			r = &ruleReport{Rule: x.RuleName, ByStatus: map[string]int{}}
			rules[x.RuleName] = r
		}
		r.Runs++
		r.ByStatus[x.Status]++
		if endedStatuses[x.Status] {
			r.Ended++
		}
		if x.CreatedAt.After(r.Last) {
			r.Last = x.CreatedAt
		}
		if x.StartedAt != nil && x.FinishedAt != nil && endedStatuses[x.Status] {
			durations[x.RuleName] = append(durations[x.RuleName], x.FinishedAt.Sub(*x.StartedAt).Milliseconds())
		}
		for _, e := range x.Entities {
			if onlyHost != "" && e != onlyHost {
				continue
			}
			k := [2]string{x.RuleName, e}
			h := hosts[k]
			if h == nil {
				h = &hostReport{Rule: x.RuleName, Host: e}
				hosts[k] = h
			}
			h.Runs++
			if succeededStatuses[x.Status] {
				h.Success++
			}
			if x.CreatedAt.After(h.Last) {
				h.Last = x.CreatedAt
			}
		}
	}
	out := reportAnswer{Executions: len(xs), Rules: []ruleReport{}, Hosts: []hostReport{}}
	for name, r := range rules {
		if r.Ended > 0 {
			rate := float64(r.ByStatus[api.ExecSuccess]+r.ByStatus[api.ExecRemediated]) / float64(r.Ended)
			r.SuccessRate = &rate
		}
		if d := durations[name]; len(d) > 0 {
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			p50, p95 := percentile(d, 50), percentile(d, 95)
			r.P50MS, r.P95MS = &p50, &p95
		}
		out.Rules = append(out.Rules, *r)
	}
	sort.Slice(out.Rules, func(i, j int) bool {
		if out.Rules[i].Runs != out.Rules[j].Runs {
			return out.Rules[i].Runs > out.Rules[j].Runs
		}
		return out.Rules[i].Rule < out.Rules[j].Rule
	})
	for _, h := range hosts {
		out.Hosts = append(out.Hosts, *h)
	}
	sort.Slice(out.Hosts, func(i, j int) bool {
		a, b := out.Hosts[i], out.Hosts[j]
		if a.Runs != b.Runs {
			return a.Runs > b.Runs
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Host < b.Host
	})
	return out
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []int64, p int) int64 {
	rank := max((p*len(sorted)+99)/100, 1)
	return sorted[rank-1]
}

func percent(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100**f)
}

func ms(v *int64) string {
	if v == nil {
		return "-"
	}
	return duration(time.Duration(*v) * time.Millisecond)
}
