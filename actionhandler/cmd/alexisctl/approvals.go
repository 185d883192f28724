package main

// Approvals (docs/rollout.md#approvals): approve or deny an execution
// awaiting approval (POST /v1/executions/ID/approve, /deny on the action
// handler, a token with scope approve). An execution that does not wait
// (any more) is a 409: exit 1, the message says where it stands.

import (
	"context"
	"encoding/json"
	"flag"
	"net/url"

	"github.com/alexis-ops/alexis/shared/api"
)

// decisionOptions are the flags of approve and deny.
type decisionOptions struct{ reason string }

func (o *decisionOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.reason, "reason", "", "why (required; recorded in history, logged and noted on the ticket)")
}

func approveCommand(ctx context.Context, a *app, args []string) error {
	return decideCommand(ctx, a, "approve", args)
}

func denyCommand(ctx context.Context, a *app, args []string) error {
	return decideCommand(ctx, a, "deny", args)
}

func decideCommand(ctx context.Context, a *app, op string, args []string) error {
	fs := a.flags(op)
	var o decisionOptions
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("%s: want one execution ID", op)
	}
	if err := checkID(op, pos[0]); err != nil {
		return err
	}
	if o.reason == "" {
		return usagef("%s: -reason is required", op)
	}
	body, err := json.Marshal(api.DecisionRequest{Reason: o.reason})
	if err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var x api.Execution
	_, raw, err := c.post(ctx, "/v1/executions/"+escapePath(pos[0])+"/"+op, url.Values{}, body, &x)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(raw)
	}
	return a.writeExecution(x)
}
