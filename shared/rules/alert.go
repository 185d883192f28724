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

	raw      string // Env.Raw, so lookups return substrings instead of copies
	tags     []string
	tagsDone bool
	tagBits  []uint64 // bit i: the alert has the tag interned as i
	tagN     int      // tags interned when tagBits was made
	fields   []field  // looked-up paths; few, so a slice beats a map
	buf      [8]field
	slots    []slot // by interned path number
	created  *createdAt
}

type slot struct {
	str  string
	t    gjson.Type
	done bool
}

type field struct {
	path string
	v    gjson.Result
}

type createdAt struct {
	t   time.Time
	err error
}

// NewAlert wraps env.
func NewAlert(env *alert.Envelope) *Alert {
	a := &Alert{Env: env, raw: string(env.Raw)}
	a.fields = a.buf[:0]
	return a
}

// Get returns the value at a gjson path into the alert.
func (a *Alert) Get(path string) gjson.Result {
	for i := range a.fields {
		if a.fields[i].path == path {
			return a.fields[i].v
		}
	}
	v := gjson.Get(a.raw, path)
	a.fields = append(a.fields, field{path, v})
	return v
}

// text returns the string at path (interned as id) and the value's type.
func (a *Alert) text(id int, path string) (string, gjson.Type) {
	if id < 0 || id >= maxPathIDs {
		v := a.Get(path)
		return v.Str, v.Type
	}
	if id >= len(a.slots) {
		n := min(max(2*len(a.slots), id+1, 16), maxPathIDs)
		a.slots = append(a.slots, make([]slot, n-len(a.slots))...)
	}
	s := &a.slots[id]
	if !s.done {
		v := gjson.Get(a.raw, path)
		s.str, s.t, s.done = v.Str, v.Type, true
	}
	return s.str, s.t
}

// hasTagIDs reports whether the alert has every tag numbered in ids, the
// largest of which is maxID.
func (a *Alert) hasTagIDs(ids []int, maxID int) bool {
	if len(ids) == 0 {
		return true
	}
	if a.tagBits == nil || maxID >= a.tagN {
		tagIDs.mu.RLock()
		a.tagN = tagIDs.n
		tagIDs.mu.RUnlock()
		a.tagBits = make([]uint64, 0, 2)
		for _, t := range a.Tags() {
			if id := tagIDs.lookup(t); id >= 0 {
				for id/64 >= len(a.tagBits) {
					a.tagBits = append(a.tagBits, 0)
				}
				a.tagBits[id/64] |= 1 << (id % 64)
			}
		}
	}
	for _, id := range ids {
		if id/64 >= len(a.tagBits) || a.tagBits[id/64]&(1<<(id%64)) == 0 {
			return false
		}
	}
	return true
}

// Tags returns the string elements of the alert's top-level "tags" array;
// anything else there is no tag, and a "tags" that is not an array holds
// none.
func (a *Alert) Tags() []string {
	if !a.tagsDone {
		a.tagsDone = true
		if v := a.Get("tags"); v.IsArray() {
			v.ForEach(func(_, t gjson.Result) bool {
				if t.Type == gjson.String {
					a.tags = append(a.tags, t.Str)
				}
				return true
			})
		}
	}
	return a.tags
}

// HasTags reports whether every tag in want is one of the alert's tags
// (exact string comparison).
func (a *Alert) HasTags(want []string) bool {
	tags := a.Tags()
next:
	for _, w := range want {
		for _, t := range tags {
			if t == w {
				continue next
			}
		}
		return false
	}
	return true
}

// Field returns the alert's top-level field key (the key is escaped, so
// "details.host" names a top-level field with a dot in its name, not a path).
func (a *Alert) Field(key string) gjson.Result {
	return a.Get(gjson.Escape(key))
}

// Text returns a value as text for a v1 regular expression: a string as
// is, a number as written in the alert, a boolean as true or false. A
// missing field, null, an object or an array has no text (ok is false).
func Text(v gjson.Result) (s string, ok bool) {
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
		t, err := parseCreatedAt(a.Get(CreatedAtKey))
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
