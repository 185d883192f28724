package rule

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/ticket"
)

// Write-back chosen by the rule: what is done on the alert once the action
// handler has run the rule's tasks (docs/rules.md, "Write-back").
//
//	"on_success": [{"op": "note", "value": "fixed by Alexis"},
//	               {"op": "close", "note": "closed after a successful restart"}],
//	"on_failure": [{"op": "add_tags", "values": ["alexis-failed"]},
//	               {"op": "escalate", "value": "db-escalation"}]
//
// The action handler always writes its result notes (one per host, with
// each task's outcome and output), then applies the rule's operations, in
// order:
//
//   - on_success when the execution succeeded on every host;
//   - on_failure when it did not (a task failed, the execution was
//     interrupted, or the governor refused it);
//   - neither for a dry run (development mode).
//
// Absent, each list has its default, which is what Alexis has always done
// (DefaultOnSuccess, DefaultOnFailure): on success, add the rule's
// route_to_team (when set); on failure, add the investigation queue. A list
// that is present replaces its default entirely (route_to_team is then not
// added unless the list says so); an empty list ([]) writes nothing but the
// result notes.
//
// Operations are validated when the rule loads (Op.Validate). Whether the
// feed's ticket system can do them depends on the service's "tickets"
// configuration: CheckWriteback.

// writebackKeys are the JSON fields of one operation.
var writebackKeys = map[string]bool{"op": true, "value": true, "values": true, "note": true}

// DefaultOnSuccess is what a rule without on_success does after a
// successful execution: add its route_to_team, if any.
func DefaultOnSuccess(routeToTeam string) []ticket.Op {
	if strings.TrimSpace(routeToTeam) == "" {
		return []ticket.Op{}
	}
	return []ticket.Op{{Kind: ticket.KindAddTeam, Value: routeToTeam}}
}

// DefaultOnFailure is what a rule without on_failure does after an
// execution that did not succeed: add the investigation queue (the action
// handler's investigation_queue).
func DefaultOnFailure(investigationQueue string) []ticket.Op {
	if strings.TrimSpace(investigationQueue) == "" {
		return []ticket.Op{}
	}
	return []ticket.Op{{Kind: ticket.KindAddTeam, Value: investigationQueue}}
}

// SuccessOps are the operations to apply after a successful execution:
// on_success, or DefaultOnSuccess when the rule has none.
func (r *Rule) SuccessOps() []ticket.Op {
	if r.OnSuccess != nil {
		return r.OnSuccess
	}
	return DefaultOnSuccess(r.RouteToTeam)
}

// FailureOps are the operations to apply after an execution that did not
// succeed: on_failure, or DefaultOnFailure(investigationQueue) when the
// rule has none.
func (r *Rule) FailureOps(investigationQueue string) []ticket.Op {
	if r.OnFailure != nil {
		return r.OnFailure
	}
	return DefaultOnFailure(investigationQueue)
}

// EscalationDelay is delay_escalation: how long after an execution
// finished the alert may stay open before it is escalated; 0: never.
func (r *Rule) EscalationDelay() time.Duration {
	d, err := parseDuration(r.DelayEscalation)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// DefaultOnEscalation is what a rule without on_escalation does when its
// alert is still open delay_escalation after the execution: write note and
// add the investigation queue.
func DefaultOnEscalation(note, investigationQueue string) []ticket.Op {
	ops := []ticket.Op{{Kind: ticket.KindNote, Value: note}}
	if strings.TrimSpace(investigationQueue) != "" {
		ops = append(ops, ticket.Op{Kind: ticket.KindAddTeam, Value: investigationQueue})
	}
	return ops
}

// EscalationOps are the operations to apply when the alert is still open
// delay_escalation after the execution: on_escalation, or
// DefaultOnEscalation(note, investigationQueue) when the rule has none.
func (r *Rule) EscalationOps(note, investigationQueue string) []ticket.Op {
	if r.OnEscalation != nil {
		return r.OnEscalation
	}
	return DefaultOnEscalation(note, investigationQueue)
}

// validateWriteback checks every operation of on_success and on_failure.
func (r *Rule) validateWriteback() Errors {
	var errs Errors
	for _, l := range r.writebackLists() {
		for i, op := range l.ops {
			if err := op.Validate(); err != nil {
				// Op.Validate names the JSON key first: "value: ...".
				key, msg, ok := strings.Cut(err.Error(), ": ")
				if !ok || strings.ContainsAny(key, " \"") {
					key, msg = "", err.Error()
				}
				path := fmt.Sprintf("%s[%d]", l.field, i)
				if key != "" {
					path += "." + key
				}
				errs = append(errs, FieldError{Path: path, Msg: msg})
			}
		}
	}
	return errs
}

// CheckWriteback reports every operation of on_success and on_failure that
// the ticket system of the rule's alert_feed in set cannot do, or, when the
// feed type has no ticket system at all, each non-empty list. Services call
// it when rules load, with their "tickets" configuration.
func (r *Rule) CheckWriteback(set ticket.Set) Errors {
	var errs Errors
	t, ok := set.For(r.AlertFeed)
	for _, l := range r.writebackLists() {
		if len(l.ops) == 0 {
			continue
		}
		if !ok {
			errs = append(errs, FieldError{Path: l.field, Msg: fmt.Sprintf(
				"no ticket system is configured for alert_feed %q (tickets: in the service configuration), so these operations cannot be done", r.AlertFeed)})
			continue
		}
		for i, op := range l.ops {
			if op.Validate() == nil && !ticket.Supports(t, op.Kind) {
				errs = append(errs, FieldError{Path: fmt.Sprintf("%s[%d].op", l.field, i), Msg: fmt.Sprintf(
					"the ticket system of alert_feed %q cannot do %q", r.AlertFeed, op.Kind)})
			}
		}
	}
	return errs
}

type writebackList struct {
	field string
	ops   []ticket.Op
}

func (r *Rule) writebackLists() []writebackList {
	return []writebackList{{"on_success", r.OnSuccess}, {"on_failure", r.OnFailure}, {"on_escalation", r.OnEscalation}, {"on_ineffective", r.OnIneffective}}
}

// writebackUnknownKeys reports keys of on_success and on_failure items no
// field reads.
func writebackUnknownKeys(raw map[string]json.RawMessage) Errors {
	var errs Errors
	for _, field := range []string{"on_success", "on_failure", "on_escalation", "on_ineffective"} {
		var items []map[string]json.RawMessage
		if json.Unmarshal(raw[field], &items) != nil {
			continue
		}
		for i, item := range items {
			errs = append(errs, unknownKeys(item, fmt.Sprintf("%s[%d].", field, i), writebackKeys)...)
		}
	}
	return errs
}
