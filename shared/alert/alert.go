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

// Validate reports missing fields by their JSON path.
func (m Meta) Validate() error {
	var errs []error
	if strings.TrimSpace(m.FeedType) == "" {
		errs = append(errs, errors.New("alexis.feed_type: required"))
	}
	if strings.TrimSpace(m.UniqueValue) == "" {
		errs = append(errs, errors.New("alexis.unique_value: required"))
	}
	return errors.Join(errs...)
}

// Envelope is an alert record plus its Meta. Raw is the whole JSON object as
// sent on the wire, "alexis" included, so rules can read any field by path.
type Envelope struct {
	Raw  json.RawMessage
	Meta Meta
}

// New builds an envelope from a source record (a JSON object) and meta.
func New(record []byte, meta Meta) (*Envelope, error) {
	if err := meta.Validate(); err != nil {
		return nil, err
	}
	fields, err := object(record)
	if err != nil {
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
	fields, err := object(data)
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
	return &Envelope{Raw: json.RawMessage(bytes.TrimSpace(data)), Meta: meta}, nil
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

// object decodes data as one JSON object and nothing else.
func object(data []byte) (map[string]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("body is empty: want a JSON object")
	}
	if data[0] != '{' {
		return nil, errors.New("body must be a JSON object")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("malformed JSON: %s", describe(err))
	}
	if dec.More() {
		return nil, errors.New("malformed JSON: data after the object")
	}
	return fields, nil
}

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
