package main

// The action handler's circuit breaker (docs/rollout.md): which rules are
// paused (GET /v1/rules on the action handler; "rules list" is the
// classifier's rule files) and resuming one (POST /v1/rules/NAME/resume,
// a token with scope admin).

import (
	"context"
	"encoding/json"
	"flag"
	"net/url"
	"strconv"

	"github.com/alexis-ops/alexis/shared/api"
)

// pausedOptions are the flags of rules paused.
type pausedOptions struct{ all bool }

func (o *pausedOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.all, "all", false, "also rules counted but not paused")
}

// resumeOptions are the flags of rules resume.
type resumeOptions struct{ reason, entity string }

func (o *resumeOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.reason, "reason", "", "why the rule may run again (required; recorded and logged)")
	fs.StringVar(&o.entity, "entity", "", "resume the rule on this host only (default: every pause of the rule)")
}

func rulesPaused(ctx context.Context, a *app, args []string) error {
	fs := a.flags("rules paused")
	var o pausedOptions
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("rules paused: takes no arguments")
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var ans api.RuleList
	raw, err := c.get(ctx, "/v1/rules", nil, &ans)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(raw)
	}
	t := newTable(a.stdout, "RULE", "HOST", "PAUSED", "SINCE", "FAILURES", "LAST EXECUTION", "REASON")
	for _, r := range ans.Rules {
		if !r.Paused && !o.all {
			continue
		}
		host := r.Entity
		if host == "" {
			host = "(all)"
		}
		t.row(cell(r.RuleName, 40), cell(host, 40), strconv.FormatBool(r.Paused), stampPtr(r.PausedAt),
			strconv.Itoa(r.Failures), cell(r.LastExecutionID, 0), cell(r.Reason, 120))
	}
	return t.flush()
}

func rulesResume(ctx context.Context, a *app, args []string) error {
	fs := a.flags("rules resume")
	var o resumeOptions
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("rules resume: want one rule name")
	}
	if o.reason == "" {
		return usagef("rules resume: -reason is required")
	}
	body, err := json.Marshal(api.ResumeRequest{Reason: o.reason, Entity: o.entity})
	if err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var ans api.ResumeAnswer
	_, raw, err := c.post(ctx, "/v1/rules/"+escapePath(pos[0])+"/resume", url.Values{}, body, &ans)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(raw)
	}
	t := newTable(a.stdout, "RULE", "HOST", "RESUMED BY")
	for _, r := range ans.Resumed {
		host := r.Entity
		if host == "" {
			host = "(all)"
		}
		t.row(cell(r.RuleName, 40), cell(host, 40), cell(r.ResumedBy, 40))
	}
	return t.flush()
}
