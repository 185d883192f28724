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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/jsonx"
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

// MarshalJSON writes the merged wire form: the alert's bytes as they are
// (alert.Envelope.Raw, already in encoding/json's form) with "rule" (and
// "requested_by" when set) added as the last keys, so Decode gives back
// exactly the same alert bytes.
func (r *Request) MarshalJSON() ([]byte, error) {
	raw := bytes.TrimSpace(r.Alert.Raw)
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return nil, errors.New("alert: not a JSON object")
	}
	rb, err := json.Marshal(r.Rule)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(raw[1 : len(raw)-1])
	out := make([]byte, 0, len(raw)+len(rb)+len(RuleKey)+len(r.RequestedBy)+24)
	out = append(out, '{')
	out = append(out, body...)
	if len(body) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"`+RuleKey+`":`...)
	out = append(out, rb...)
	if r.RequestedBy != "" {
		by, err := json.Marshal(r.RequestedBy)
		if err != nil {
			return nil, err
		}
		out = append(out, `,"`+RequestedByKey+`":`...)
		out = append(out, by...)
	}
	return append(out, '}'), nil
}

// Decode parses and validates a request. The rule is checked as strictly as
// a rule file: a request carrying an invalid rule is refused whole. A key
// repeated in any object of the request is refused (*jsonx.DuplicateKeyError).
// The alert is the request's bytes with the "rule" member cut out, nothing
// re-encoded, so the action handler acts on the alert the classifier
// matched, byte for byte.
func Decode(data []byte) (*Request, error) {
	data = bytes.TrimSpace(data)
	var dup *jsonx.DuplicateKeyError
	if err := jsonx.CheckUnique(data); errors.As(err, &dup) {
		return nil, err
	} else if err != nil || len(data) == 0 || data[0] != '{' {
		// Let alert.Decode phrase the syntax problem.
		if _, aerr := alert.Decode(data); aerr != nil {
			return nil, aerr
		}
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	rawRule, rest, err := cutMember(data, RuleKey)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if rawRule == nil {
		return nil, fmt.Errorf("rule: required object is missing")
	}
	r, err := rule.Parse(rawRule)
	if err != nil {
		return nil, fmt.Errorf("rule: %w", err)
	}
	rawBy, rest, err := cutMember(rest, RequestedByKey)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	var by string
	if rawBy != nil {
		if err := json.Unmarshal(rawBy, &by); err != nil {
			return nil, fmt.Errorf("%s: want a string", RequestedByKey)
		}
	}
	env, err := alert.Decode(rest)
	if err != nil {
		return nil, err
	}
	return &Request{Alert: env, Rule: r, RequestedBy: by}, nil
}

// cutMember finds the top-level member key of the JSON object obj (valid,
// keys unique) and returns its value and obj without the member (and the
// comma that separated it), every other byte kept. value is nil when obj has
// no such key.
func cutMember(obj []byte, key string) (value, rest []byte, err error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		return nil, nil, err
	}
	for first := true; dec.More(); first = false {
		start := dec.InputOffset() // end of "{" or of the previous value
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if tok != key {
			continue
		}
		end := int(dec.InputOffset())
		if first {
			// The member after it (if any) starts with its comma: drop it.
			after := bytes.TrimLeft(obj[end:], " \t\r\n")
			if len(after) > 0 && after[0] == ',' {
				end = len(obj) - len(after) + 1
			}
		}
		rest = append(append(make([]byte, 0, len(obj)), obj[:start]...), obj[end:]...)
		return v, rest, nil
	}
	return nil, obj, nil
}
