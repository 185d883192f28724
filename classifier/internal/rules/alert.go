package rules

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/tidwall/gjson"
)

// CreatedAtKey is the top-level alert field holding the alert's creation
// time: an RFC 3339 string (OpsGenie) or epoch milliseconds.
const CreatedAtKey = "createdAt"

// Alert is an envelope as rules read it. It remembers what it has looked up
// so that checking many rules reads each field once. Build one per request
// with NewAlert; it is not safe for concurrent use.
type Alert struct {
	Env *alert.Envelope

	tags    map[string]bool
	fields  map[string]gjson.Result
	created *createdAt
}

type createdAt struct {
	t   time.Time
	err error
}

// NewAlert wraps env.
func NewAlert(env *alert.Envelope) *Alert {
	return &Alert{Env: env}
}

// HasTags reports whether every tag in want is one of the alert's tags
// (exact string comparison). The alert's tags are the string elements of its
// top-level "tags" array; anything else there is no tag.
func (a *Alert) HasTags(want []string) bool {
	if len(want) == 0 {
		return true
	}
	if a.tags == nil {
		a.tags = map[string]bool{}
		if v := a.Env.Get("tags"); v.IsArray() {
			for _, t := range v.Array() {
				if t.Type == gjson.String {
					a.tags[t.Str] = true
				}
			}
		}
	}
	for _, t := range want {
		if !a.tags[t] {
			return false
		}
	}
	return true
}

// Field returns the alert's top-level field key (the key is escaped, so
// "details.host" names a top-level field with a dot in its name, not a path).
func (a *Alert) Field(key string) gjson.Result {
	if v, ok := a.fields[key]; ok {
		return v
	}
	if a.fields == nil {
		a.fields = map[string]gjson.Result{}
	}
	v := a.Env.Get(gjson.Escape(key))
	a.fields[key] = v
	return v
}

// Text returns a top-level field as text for a regular expression: a string
// as is, a number as written in the alert, a boolean as true or false.
// A missing field, null, an object or an array has no text (ok is false).
func (a *Alert) Text(key string) (s string, ok bool) {
	v := a.Field(key)
	switch v.Type {
	case gjson.String:
		return v.Str, true
	case gjson.Number:
		return v.Raw, true
	case gjson.True:
		return "true", true
	case gjson.False:
		return "false", true
	}
	return "", false
}

// CreatedAt returns the alert's creation time from its top-level createdAt
// field: an RFC 3339 string or a number of milliseconds since the epoch.
func (a *Alert) CreatedAt() (time.Time, error) {
	if a.created == nil {
		t, err := parseCreatedAt(a.Field(CreatedAtKey))
		a.created = &createdAt{t: t, err: err}
	}
	return a.created.t, a.created.err
}

func parseCreatedAt(v gjson.Result) (time.Time, error) {
	switch v.Type {
	case gjson.String:
		t, err := time.Parse(time.RFC3339Nano, v.Str)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s %q: not an RFC 3339 time", CreatedAtKey, v.Str)
		}
		return t, nil
	case gjson.Number:
		if math.IsNaN(v.Num) || v.Num <= 0 || v.Num > math.MaxInt64/2 {
			return time.Time{}, fmt.Errorf("%s %s: not epoch milliseconds", CreatedAtKey, v.Raw)
		}
		return time.UnixMilli(int64(v.Num)), nil
	case gjson.Null:
		if !v.Exists() {
			return time.Time{}, errors.New(CreatedAtKey + ": missing")
		}
	}
	return time.Time{}, fmt.Errorf("%s: want an RFC 3339 string or epoch milliseconds, got %s", CreatedAtKey, v.Type)
}
