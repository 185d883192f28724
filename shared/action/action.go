// Package action defines the request the classifier sends to the action
// handler (and a person may POST directly): the alert envelope with the
// matched rule merged in under "rule".
//
//	{...alert fields..., "alexis": {...}, "rule": {...rule file...},
//	 "requested_by": "poller"}
//
// requested_by (optional) is the name of the token that posted the alert to
// the classifier; the action handler trusts it only in a request the
// classifier signed.
package action

import (
	"encoding/json"
	"fmt"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/rule"
)

// RuleKey is the top-level key holding the rule.
const RuleKey = "rule"

// RequestedByKey is the top-level key holding RequestedBy.
const RequestedByKey = "requested_by"

// Request is an alert plus the rule to run for it.
type Request struct {
	Alert *alert.Envelope
	Rule  *rule.Rule
	// RequestedBy is who posted the alert to the classifier ("": not set).
	RequestedBy string
}

// MarshalJSON writes the merged wire form.
func (r *Request) MarshalJSON() ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Alert.Raw, &fields); err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	rb, err := json.Marshal(r.Rule)
	if err != nil {
		return nil, err
	}
	fields[RuleKey] = rb
	delete(fields, RequestedByKey)
	if r.RequestedBy != "" {
		fields[RequestedByKey], _ = json.Marshal(r.RequestedBy)
	}
	return json.Marshal(fields)
}

// Decode parses and validates a request. The rule is checked as strictly as
// a rule file: a request carrying an invalid rule is refused whole.
func Decode(data []byte) (*Request, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		// Let alert.Decode phrase the syntax problem.
		if _, aerr := alert.Decode(data); aerr != nil {
			return nil, aerr
		}
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	rawRule, ok := fields[RuleKey]
	if !ok {
		return nil, fmt.Errorf("rule: required object is missing")
	}
	r, err := rule.Parse(rawRule)
	if err != nil {
		return nil, fmt.Errorf("rule: %w", err)
	}
	delete(fields, RuleKey)
	var by string
	if raw, ok := fields[RequestedByKey]; ok {
		if err := json.Unmarshal(raw, &by); err != nil {
			return nil, fmt.Errorf("%s: want a string", RequestedByKey)
		}
		delete(fields, RequestedByKey)
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	env, err := alert.Decode(rest)
	if err != nil {
		return nil, err
	}
	return &Request{Alert: env, Rule: r, RequestedBy: by}, nil
}
