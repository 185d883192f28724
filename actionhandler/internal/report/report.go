// Package report answers the four Alexis reporting questions from the
// action handler's own log lines (logfmt or JSON):
//
//  1. What remediations run?              (executions per rule)
//  2. Are they successful?                (outcomes per rule)
//  3. How long do they take?              (execution durations per rule)
//  4. How many times was X done to Y?     (actions per action and entity)
//
// and, fifth, what did not run and why (refusals by reason).
//
// It reads event=execution_finished lines (one per execution, with
// rule_name, action_status, elapsed_ms) and event=action_finished lines (one
// per host and task, with entity, action, action_status, elapsed_ms).
// Refusals are the lines, of any event, whose action_status is refused or
// skipped and that carry a reason: every remediation that does not run logs
// exactly one (an execution refused or skipped on its execution_finished
// line; a request refused before an execution exists on its own line:
// entities_unresolved, execution_refused, and the classifier's
// action_push_failed for reason=no_handler, counted when the classifier's
// log is read too).
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-logfmt/logfmt"
)

// Options filter what is counted.
type Options struct {
	Since  time.Time // only lines at or after this time (zero: all)
	Until  time.Time // only lines before this time (zero: no bound)
	Rule   string    // only this rule_name
	Entity string    // only actions on this entity, and executions that touched it
}

// Report holds the four answers.
type Report struct {
	Lines       int           `json:"lines_read"`
	Unparsed    int           `json:"lines_unparsed"`
	From        time.Time     `json:"from,omitempty"`
	To          time.Time     `json:"to,omitempty"`
	Remediation []RuleCount   `json:"remediations"`
	Outcomes    []RuleOutcome `json:"outcomes"`
	Durations   []RuleTiming  `json:"durations"`
	Targets     []Target      `json:"targets"`
	Refusals    []Refusal     `json:"refusals"`
}

// Refusal counts the remediations of one rule that did not run for one
// reason (logging.Reason*: entity_refused, value_refused, governor,
// queue_full, no_handler, ...).
type Refusal struct {
	Reason string    `json:"reason"`
	Rule   string    `json:"rule_name"`
	Status string    `json:"action_status"` // refused or skipped
	Count  int       `json:"count"`
	Last   time.Time `json:"last"`
}

// RuleCount answers question 1 for one rule.
type RuleCount struct {
	Rule       string    `json:"rule_name"`
	Executions int       `json:"executions"`
	HostRuns   int       `json:"host_actions"`
	Last       time.Time `json:"last_run"`
}

// RuleOutcome answers question 2 for one rule (executions by status).
type RuleOutcome struct {
	Rule        string         `json:"rule_name"`
	ByStatus    map[string]int `json:"by_status"`
	Executions  int            `json:"executions"`
	SuccessRate float64        `json:"success_rate"` // success / (executions that ran), 0..1
}

// RuleTiming answers question 3 for one rule (execution wall time).
type RuleTiming struct {
	Rule  string `json:"rule_name"`
	Count int    `json:"count"`
	P50   int64  `json:"p50_ms"`
	P90   int64  `json:"p90_ms"`
	Max   int64  `json:"max_ms"`
	Mean  int64  `json:"mean_ms"`
}

// Target answers question 4: how often an action was done to an entity.
type Target struct {
	Action  string    `json:"action"`
	Entity  string    `json:"entity"`
	Rule    string    `json:"rule_name"`
	Count   int       `json:"count"`
	Success int       `json:"success"`
	Failure int       `json:"failure"`
	Last    time.Time `json:"last"`
}

type line struct {
	t         time.Time
	event     string
	rule      string
	entity    string
	action    string
	status    string
	execution string
	reason    string
	elapsed   int64
	hasTime   bool
	verify    bool // a verify step (task_index -1): a check, not an action done to a host
}

// refusal reports whether l is the one line of a remediation that did
// not run.
func (l line) refusal() bool {
	return l.reason != "" && (l.status == "refused" || l.status == "skipped")
}

// Read parses log lines from r and builds the report.
func Read(r io.Reader, o Options) (*Report, error) {
	rep := &Report{}
	var execs, actions, refusals, scheduled []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		rep.Lines++
		l, ok := parse(raw)
		if !ok {
			rep.Unparsed++
			continue
		}
		if !o.Since.IsZero() && (!l.hasTime || l.t.Before(o.Since)) {
			continue
		}
		if !o.Until.IsZero() && (!l.hasTime || !l.t.Before(o.Until)) {
			continue
		}
		if o.Rule != "" && l.rule != o.Rule {
			continue
		}
		if l.refusal() {
			refusals = append(refusals, l)
		}
		if l.event == "other" {
			continue
		}
		switch l.event {
		case "execution_finished":
			execs = append(execs, l)
		case "verification_scheduled":
			l.status = "verifying"
			scheduled = append(scheduled, l)
		case "action_finished", "action_refused":
			if !l.verify {
				actions = append(actions, l)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	// Verifying: tasks done, verification scheduled, no verdict
	// (execution_finished remediated or ineffective) read yet.
	ended := map[string]bool{}
	for _, e := range execs {
		ended[e.execution] = true
	}
	for _, v := range scheduled {
		if !ended[v.execution] {
			execs = append(execs, v)
		}
	}
	if o.Entity != "" {
		touched := map[string]bool{}
		var kept []line
		for _, a := range actions {
			if a.entity == o.Entity {
				kept = append(kept, a)
				touched[a.execution] = true
			}
		}
		actions = kept
		var keptExecs []line
		for _, e := range execs {
			if touched[e.execution] {
				keptExecs = append(keptExecs, e)
			}
		}
		execs = keptExecs
		var keptRefusals []line
		for _, r := range refusals {
			if touched[r.execution] && r.execution != "" {
				keptRefusals = append(keptRefusals, r)
			}
		}
		refusals = keptRefusals
	}
	rep.build(execs, actions)
	rep.buildRefusals(refusals)
	return rep, nil
}

func (rep *Report) buildRefusals(refusals []line) {
	by := map[[3]string]*Refusal{}
	for _, l := range refusals {
		k := [3]string{l.reason, l.rule, l.status}
		r := by[k]
		if r == nil {
			r = &Refusal{Reason: l.reason, Rule: l.rule, Status: l.status}
			by[k] = r
		}
		r.Count++
		if l.t.After(r.Last) {
			r.Last = l.t
		}
	}
	rep.Refusals = make([]Refusal, 0, len(by))
	for _, r := range by {
		rep.Refusals = append(rep.Refusals, *r)
	}
	sort.Slice(rep.Refusals, func(i, j int) bool {
		a, b := rep.Refusals[i], rep.Refusals[j]
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Status < b.Status
	})
}

// RefusalsByReason totals the refusals of every rule by reason.
func (rep *Report) RefusalsByReason() map[string]int {
	out := map[string]int{}
	for _, r := range rep.Refusals {
		out[r.Reason] += r.Count
	}
	return out
}

func (rep *Report) build(execs, actions []line) {
	actions = slices.DeleteFunc(slices.Clone(actions), func(l line) bool { return l.event != "action_finished" })
	for _, l := range append(append([]line(nil), execs...), actions...) {
		if l.hasTime {
			if rep.From.IsZero() || l.t.Before(rep.From) {
				rep.From = l.t
			}
			if l.t.After(rep.To) {
				rep.To = l.t
			}
		}
	}
	counts := map[string]*RuleCount{}
	outcomes := map[string]*RuleOutcome{}
	timings := map[string][]int64{}
	for _, e := range execs {
		// An audit execution (docs/rollout.md) ran nothing: it is no
		// remediation run, only an outcome of its own (AUDIT).
		if e.status != "audit" {
			c := counts[e.rule]
			if c == nil {
				c = &RuleCount{Rule: e.rule}
				counts[e.rule] = c
			}
			c.Executions++
			if e.t.After(c.Last) {
				c.Last = e.t
			}
		}
		o := outcomes[e.rule]
		if o == nil {
			o = &RuleOutcome{Rule: e.rule, ByStatus: map[string]int{}}
			outcomes[e.rule] = o
		}
		o.ByStatus[e.status]++
		o.Executions++
		switch e.status {
		case "success", "failure", "interrupted", "remediated", "ineffective":
			timings[e.rule] = append(timings[e.rule], e.elapsed)
		}
	}
	targets := map[[3]string]*Target{}
	for _, a := range actions {
		c := counts[a.rule]
		if c == nil {
			c = &RuleCount{Rule: a.rule}
			counts[a.rule] = c
		}
		c.HostRuns++
		if a.t.After(c.Last) {
			c.Last = a.t
		}
		k := [3]string{a.action, a.entity, a.rule}
		t := targets[k]
		if t == nil {
			t = &Target{Action: a.action, Entity: a.entity, Rule: a.rule}
			targets[k] = t
		}
		t.Count++
		switch a.status {
		case "success":
			t.Success++
		case "failure":
			t.Failure++
		}
		if a.t.After(t.Last) {
			t.Last = a.t
		}
	}
	for _, c := range counts {
		rep.Remediation = append(rep.Remediation, *c)
	}
	sort.Slice(rep.Remediation, func(i, j int) bool {
		a, b := rep.Remediation[i], rep.Remediation[j]
		if a.Executions != b.Executions {
			return a.Executions > b.Executions
		}
		return a.Rule < b.Rule
	})
	for _, o := range outcomes {
		if ok, ran := succeededRan(*o); ran > 0 {
			o.SuccessRate = float64(ok) / float64(ran)
		}
		rep.Outcomes = append(rep.Outcomes, *o)
	}
	sort.Slice(rep.Outcomes, func(i, j int) bool { return rep.Outcomes[i].Rule < rep.Outcomes[j].Rule })
	for rule, ms := range timings {
		sort.Slice(ms, func(i, j int) bool { return ms[i] < ms[j] })
		var sum int64
		for _, v := range ms {
			sum += v
		}
		rep.Durations = append(rep.Durations, RuleTiming{
			Rule: rule, Count: len(ms), P50: percentile(ms, 50), P90: percentile(ms, 90),
			Max: ms[len(ms)-1], Mean: sum / int64(len(ms)),
		})
	}
	sort.Slice(rep.Durations, func(i, j int) bool { return rep.Durations[i].Rule < rep.Durations[j].Rule })
	for _, t := range targets {
		rep.Targets = append(rep.Targets, *t)
	}
	sort.Slice(rep.Targets, func(i, j int) bool {
		a, b := rep.Targets[i], rep.Targets[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		if a.Entity != b.Entity {
			return a.Entity < b.Entity
		}
		return a.Rule < b.Rule
	})
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// parse reads one logfmt or JSON line; ok is false for lines that are
// neither, and for lines that are not from the action handler.
func parse(raw []byte) (line, bool) {
	kv := map[string]string{}
	if raw[0] == '{' {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return line{}, false
		}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				kv[k] = x
			case float64:
				kv[k] = strconv.FormatFloat(x, 'f', -1, 64)
			default:
				kv[k] = fmt.Sprint(x)
			}
		}
	} else {
		dec := logfmt.NewDecoder(bytes.NewReader(raw))
		for dec.ScanRecord() {
			for dec.ScanKeyval() {
				kv[string(dec.Key())] = string(dec.Value())
			}
		}
		if dec.Err() != nil || len(kv) == 0 {
			return line{}, false
		}
	}
	if kv["event"] == "" {
		return line{}, false
	}
	l := line{
		event: kv["event"], rule: kv["rule_name"], entity: kv["entity"], action: kv["action"],
		status: kv["action_status"], execution: kv["execution_id"], reason: kv["reason"],
	}
	if svc, ok := kv["service"]; ok && svc != "actionhandler" {
		// Other services' lines count only as refusals (the classifier's
		// no_handler).
		l.event = "other"
	}
	if t, err := time.Parse(time.RFC3339Nano, kv["time"]); err == nil {
		l.t, l.hasTime = t, true
	}
	l.elapsed, _ = strconv.ParseInt(kv["elapsed_ms"], 10, 64)
	l.verify = kv["task_index"] == "-1"
	return l, true
}

// WriteText prints the four answers as tables.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	span := "no timed lines"
	if !rep.From.IsZero() {
		span = rep.From.Format(time.RFC3339) + " .. " + rep.To.Format(time.RFC3339)
	}
	p("lines read: %d (unparsed: %d); period: %s\n\n", rep.Lines, rep.Unparsed, span)

	p("1. What remediations run\n")
	p("RULE\tEXECUTIONS\tHOST ACTIONS\tLAST RUN\n")
	for _, r := range rep.Remediation {
		p("%s\t%d\t%d\t%s\n", r.Rule, r.Executions, r.HostRuns, stamp(r.Last))
	}
	p("\n2. Are they successful (executions by status)\n")
	// AUDIT: rules in audit mode (docs/rollout.md), which ran nothing:
	// never in the success rate. VERIFYING, REMEDIATED, INEFFECTIVE:
	// verification (docs/rollout.md); see succeededRan.
	// DENIED, EXPIRED: approvals (docs/rollout.md): nothing ran, never in
	// the success rate.
	p("RULE\tEXECUTIONS\tSUCCESS\tFAILURE\tSKIPPED\tREFUSED\tINTERRUPTED\tDRY RUN\tAUDIT\tDENIED\tEXPIRED\tVERIFYING\tREMEDIATED\tINEFFECTIVE\tSUCCESS RATE\n")
	for _, o := range rep.Outcomes {
		p("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", o.Rule, o.Executions, o.ByStatus["success"], o.ByStatus["failure"],
			o.ByStatus["skipped"], o.ByStatus["refused"], o.ByStatus["interrupted"], o.ByStatus["dry_run"], o.ByStatus["audit"],
			o.ByStatus["denied"], o.ByStatus["expired"],
			o.ByStatus["verifying"], o.ByStatus["remediated"], o.ByStatus["ineffective"], rate(o))
	}
	p("\n3. How long they take (execution wall time, ms)\n")
	p("RULE\tCOUNT\tP50\tP90\tMAX\tMEAN\n")
	for _, d := range rep.Durations {
		p("%s\t%d\t%d\t%d\t%d\t%d\n", d.Rule, d.Count, d.P50, d.P90, d.Max, d.Mean)
	}
	p("\n4. How many times each action was done to each entity\n")
	p("ACTION\tENTITY\tRULE\tTIMES\tSUCCESS\tFAILURE\tLAST\n")
	for _, t := range rep.Targets {
		p("%s\t%s\t%s\t%d\t%d\t%d\t%s\n", dash(t.Action), t.Entity, t.Rule, t.Count, t.Success, t.Failure, stamp(t.Last))
	}
	p("\n5. What did not run, and why (refusals by reason)\n")
	p("REASON\tRULE\tSTATUS\tTIMES\tLAST\n")
	for _, r := range rep.Refusals {
		p("%s\t%s\t%s\t%d\t%s\n", r.Reason, dash(r.Rule), r.Status, r.Count, stamp(r.Last))
	}
	return tw.Flush()
}

// WriteJSON prints the report as one JSON document.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// succeededRan counts what the success rate divides: executions that
// ran to an outcome (success, failure, interrupted, remediated,
// ineffective) and, of them, those that worked (success, remediated).
// Verifying ones have no outcome yet; skipped, refused, dry-run and audit
// ones ran nothing (or were stopped before running).
func succeededRan(o RuleOutcome) (ok, ran int) {
	b := o.ByStatus
	return b["success"] + b["remediated"],
		b["success"] + b["failure"] + b["interrupted"] + b["remediated"] + b["ineffective"]
}

func rate(o RuleOutcome) string {
	if _, ran := succeededRan(o); ran == 0 {
		return "-"
	}
	return strconv.FormatFloat(o.SuccessRate*100, 'f', 1, 64) + "%"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
