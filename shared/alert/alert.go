// Package alert defines the envelope the poller sends and the classifier
// takes: the source's alert record (for OpsGenie, the Get Alert API's "data"
// object: id, tinyId, message, description, tags, details, entity,
// createdAt, ...) with an "alexis" object added that says where it came from.
//
//	{"id": "...", "tinyId": "42", "message": "...", "tags": [...], ...,
//	 "alexis": {"unique_key": "tinyId", "unique_value": "42",
//	            "feed_type": "OpsGenie", "feed_name": "incoming"}}
package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/alexis-ops/alexis/shared/ident"
	"github.com/alexis-ops/alexis/shared/jsonx"
	"github.com/tidwall/gjson"
)

// MetaKey is the top-level key holding Meta.
const MetaKey = "alexis"

// Meta says which feed an alert came from and how it is identified there.
type Meta struct {
	UniqueKey   string `json:"unique_key"`   // field of the record that identifies it, e.g. "tinyId"
	UniqueValue string `json:"unique_value"` // that field's value
	FeedType    string `json:"feed_type"`    // source system: "OpsGenie", "Dynatrace", ...
	FeedName    string `json:"feed_name"`    // the configured feed it was polled by
}

// Validate reports missing and malformed fields by their JSON path: each
// is bounded (shared/ident) and may hold no control character.
func (m Meta) Validate() error {
	var errs []error
	if strings.TrimSpace(m.FeedType) == "" {
		errs = append(errs, errors.New("alexis.feed_type: required"))
	}
	if strings.TrimSpace(m.UniqueValue) == "" {
		errs = append(errs, errors.New("alexis.unique_value: required"))
	}
	for _, f := range []struct {
		path, value string
		max         int
	}{
		{"alexis.unique_key", m.UniqueKey, ident.MaxKey},
		{"alexis.unique_value", m.UniqueValue, ident.MaxAlertID},
		{"alexis.feed_type", m.FeedType, ident.MaxFeedName},
		{"alexis.feed_name", m.FeedName, ident.MaxFeedName},
	} {
		if err := ident.Check(f.path, f.value, f.max); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkID checks the record's "id" (the alert id write-back and history
// use) as strictly as alexis.unique_value.
func checkID(fields map[string]json.RawMessage) error {
	raw, ok := fields["id"]
	if !ok {
		return nil
	}
	var id string
	if json.Unmarshal(raw, &id) != nil {
		return nil // not a string: ID falls back to unique_value
	}
	return ident.Check("id", id, ident.MaxAlertID)
}

// Envelope is an alert record plus its Meta. Raw is the whole JSON object as
// sent on the wire, "alexis" included, so rules can read any field by path.
// It is always in the form encoding/json writes a json.RawMessage in
// (compact, <>& escaped), so marshalling it again changes no byte: the
// classifier and the action handler hold the same bytes for one alert.
type Envelope struct {
	Raw  json.RawMessage
	Meta Meta
}

// New builds an envelope from a source record (a JSON object) and meta.
func New(record []byte, meta Meta) (*Envelope, error) {
	if err := meta.Validate(); err != nil {
		return nil, err
	}
	fields, _, err := object(record)
	if err != nil {
		return nil, fmt.Errorf("alert record: %w", err)
	}
	if err := checkID(fields); err != nil {
		return nil, fmt.Errorf("alert record: %w", err)
	}
	m, _ := json.Marshal(meta)
	fields[MetaKey] = m
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return &Envelope{Raw: raw, Meta: meta}, nil
}

// Decode parses and checks an envelope from the wire.
func Decode(data []byte) (*Envelope, error) {
	fields, canonical, err := object(data)
	if err != nil {
		return nil, err
	}
	rawMeta, ok := fields[MetaKey]
	if !ok {
		return nil, errors.New("alexis: required object is missing")
	}
	var meta Meta
	dec := json.NewDecoder(bytes.NewReader(rawMeta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return nil, fmt.Errorf("alexis: %s", describe(err))
	}
	if err := meta.Validate(); err != nil {
		return nil, err
	}
	if err := checkID(fields); err != nil {
		return nil, err
	}
	var raw []byte
	if canonical { // what the poller and the classifier send: keep it
		raw = bytes.Clone(bytes.TrimSpace(data))
	} else if raw, err = json.Marshal(json.RawMessage(data)); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	return &Envelope{Raw: raw, Meta: meta}, nil
}

// MarshalJSON writes the wire form (the record with "alexis").
func (e *Envelope) MarshalJSON() ([]byte, error) { return e.Raw, nil }

// Get reads a gjson path from the alert ("details.host", "tags.#").
func (e *Envelope) Get(path string) gjson.Result { return gjson.GetBytes(e.Raw, path) }

// ID returns the source system's identifier for write-back: the record's
// "id" field when present (OpsGenie alert id), else the unique value.
func (e *Envelope) ID() string {
	if id := e.Get("id"); id.Type == gjson.String && id.Str != "" {
		return id.Str
	}
	return e.Meta.UniqueValue
}

// Tags returns the record's "tags" array as strings.
func (e *Envelope) Tags() []string {
	var tags []string
	for _, t := range e.Get("tags").Array() {
		tags = append(tags, t.String())
	}
	return tags
}

// object decodes data as one JSON object and nothing else, and reports
// whether it is already in encoding/json's form (jsonx.Inspect). An object
// that repeats a key, at any depth, is refused (*jsonx.DuplicateKeyError):
// gjson reads the first copy, a map decode the last, so a duplicate could
// make conditions and actions see different alerts.
func object(data []byte) (map[string]json.RawMessage, bool, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, false, errors.New("body is empty: want a JSON object")
	}
	if data[0] != '{' {
		return nil, false, errors.New("body must be a JSON object")
	}
	var dup *jsonx.DuplicateKeyError
	canonical, err := jsonx.Inspect(data)
	if errors.As(err, &dup) {
		return nil, false, err
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil {
		return nil, false, fmt.Errorf("malformed JSON: %s", describe(err))
	}
	if dec.More() {
		return nil, false, errors.New("malformed JSON: data after the object")
	}
	for _, k := range ReservedKeys {
		if _, ok := fields[k]; ok {
			return nil, false, fmt.Errorf("reserved key %q at $: an alert may not have it (the action request adds it beside the alert)", k)
		}
	}
	return fields, canonical, nil
}

// ReservedKeys are the top-level keys the action request (shared/action)
// puts beside the alert's own: an alert holding one is refused, so the
// classifier and the action handler never read two different values.
var ReservedKeys = []string{"rule", "requested_by"}

// describe turns encoding/json errors into messages naming the field.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}
