package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rule"
)

type runOptions struct {
	rule, alert string
	noWait      bool
	watch       watchOptions
}

func (o *runOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.rule, "rule", "", "the rule file to run (required)")
	fs.StringVar(&o.alert, "alert", "", "the alert envelope it runs for: the alert with its \"alexis\" object (required)")
	fs.BoolVar(&o.noWait, "no-wait", false, "print the execution id and return; do not watch it")
	o.watch.register(fs)
}

// runAction posts a rule and an alert, merged as the classifier does
// (shared/action), to POST /v1/action.
func runAction(ctx context.Context, a *app, args []string) error {
	var o runOptions
	fs := a.flags("run")
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("run: unexpected argument %q (use -rule FILE.json -alert ALERT.json)", cleanLine(pos[0]))
	}
	if o.rule == "" || o.alert == "" {
		return usagef("run: want -rule FILE.json and -alert ALERT.json")
	}
	body, err := actionBody(o.rule, o.alert)
	if err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var acc api.ActionAccepted
	status, raw, err := c.post(ctx, "/v1/action", nil, body, &acc)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusForbidden && ae.missingScope == "adhoc" {
			return fmt.Errorf("%w\n(a rule you post runs only if it is identical to a deployed rule file, or with scope adhoc, recorded as ad-hoc with your name)", err)
		}
		return err
	}
	if a.json() && o.noWait {
		return a.printJSON(raw)
	}
	if !a.json() {
		if status == http.StatusOK {
			fmt.Fprintf(a.stdout, "execution %s exists already for this alert and rule (dedup window): %s\n", cell(acc.ExecutionID, 0), cell(acc.Status, 0))
		} else {
			fmt.Fprintf(a.stdout, "execution %s %s on %s\n", cell(acc.ExecutionID, 0), cell(acc.Status, 0), list(acc.Entities, 10))
		}
		if acc.Status == api.ExecAwaitingApproval {
			fmt.Fprintf(a.stdout, "it waits for approval: %s approve %s -reason WHY (or deny), a token with scope approve\n",
				name, cell(acc.ExecutionID, 0))
		}
	}
	if o.noWait {
		return nil
	}
	return a.watch(ctx, c, acc.ExecutionID, o.watch)
}

// actionBody reads and checks the two files and merges them; a mistake in
// either is named before anything is sent.
func actionBody(rulePath, alertPath string) ([]byte, error) {
	rb, err := readInput(rulePath, maxRuleFile, "-rule")
	if err != nil {
		return nil, err
	}
	r, err := rule.Parse(rb)
	if err != nil {
		return nil, usagef("-rule %s: %v", cleanLine(rulePath), cleanLine(err.Error()))
	}
	ab, err := readInput(alertPath, maxRuleFile, "-alert")
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(ab, &top) == nil {
		for _, k := range []string{action.RuleKey, action.RequestedByKey} {
			if _, ok := top[k]; ok {
				return nil, usagef("-alert %s: has a top-level %q key: give the alert alone (its rule goes in -rule)", cleanLine(alertPath), k)
			}
		}
	}
	env, err := alert.Decode(ab)
	if err != nil {
		return nil, usagef("-alert %s: %v", cleanLine(alertPath), cleanLine(err.Error()))
	}
	body, err := (&action.Request{Alert: env, Rule: r}).MarshalJSON()
	if err != nil {
		return nil, usagef("merge -rule and -alert: %v", err)
	}
	if _, err := action.Decode(body); err != nil {
		return nil, usagef("merge -rule and -alert: %v", cleanLine(err.Error()))
	}
	return body, nil
}
