// Package jsonx reads JSON the one way every Alexis service must: a
// document whose objects repeat a key, at any depth, is refused, because
// readers disagree about which copy counts (gjson takes the first,
// encoding/json the last). With duplicates refused, the classifier and the
// action handler, and any other reader, see the same values.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DuplicateKeyError is a key that appears twice in one object.
type DuplicateKeyError struct {
	Key  string // the repeated key, unescaped
	Path string // the object holding it: "$", "$.details", "$.alerts[2].labels"
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("duplicate key %s at %s", strconv.Quote(e.Key), e.Path)
}

// ErrSyntax is wrapped by the error for data that is not one JSON value.
var ErrSyntax = errors.New("malformed JSON")

// CheckUnique reports the first object in data (one JSON value) that holds
// a key twice, at any depth, as a *DuplicateKeyError. Keys are compared as
// encoding/json decodes them (escapes resolved, invalid UTF-8 replaced), so
// "env" and "\u0065nv" are the same key. Data that is not one JSON value is
// an error wrapping ErrSyntax.
//
// It is on every request's path: data is validated by encoding/json's
// scanner, then walked once without decoding any value; keys are compared
// in place, and only keys with escapes are copied.
func CheckUnique(data []byte) error {
	_, err := walk(data, false)
	return err
}

// Inspect is CheckUnique that also reports whether data is already in the
// form encoding/json writes a json.RawMessage in (compact, with <, >, &,
// U+2028 and U+2029 escaped): then marshalling it changes no byte, and a
// caller keeping that form can skip re-encoding it.
func Inspect(data []byte) (canonical bool, err error) {
	return walk(data, true)
}

func walk(data []byte, canon bool) (bool, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // only to phrase the problem
		return false, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	w := walker{data: data, canon: canon, canonical: true}
	w.value()
	if w.err != nil {
		return false, w.err
	}
	return canon && w.canonical && w.pos == len(data), nil
}

// walker walks JSON already known to be valid.
type walker struct {
	data  []byte
	pos   int
	stack []segment // the path to the value being read
	err   error
	// canon: also find out whether data is canonical (see Inspect).
	canon, canonical bool
}

// segment is one step of a path: a key of an object or an index of an array.
type segment struct {
	key   []byte
	index int // -1 for an object key
}

// maxLinear is how many keys an object holds before they go into a map.
const maxLinear = 16

func (w *walker) skipSpace() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
			w.canonical = false
		default:
			return
		}
	}
}

// value reads one value starting at (or after whitespace at) pos.
func (w *walker) value() {
	w.skipSpace()
	switch w.data[w.pos] {
	case '{':
		w.object()
	case '[':
		w.array()
	case '"':
		w.str()
	default: // number, true, false, null: up to the next delimiter
		for w.pos < len(w.data) {
			switch w.data[w.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			w.pos++
		}
	}
}

// str skips a string and returns where it starts (its opening quote) and
// whether it holds an escape.
func (w *walker) str() (start int, escaped bool) {
	start = w.pos
	w.pos++ // opening quote
	for {
		i := bytes.IndexAny(w.data[w.pos:], `"\`)
		if w.canon && w.canonical && !plain(w.data[w.pos:w.pos+i]) {
			w.canonical = false
		}
		w.pos += i
		if w.data[w.pos] == '"' {
			w.pos++
			return start, escaped
		}
		escaped = true
		w.pos += 2 // a backslash and the character it escapes (\uXXXX: the rest is plain)
	}
}

// plain reports whether string content needs no escaping by
// encoding/json's compact form: no <, >, &, U+2028 or U+2029.
func plain(b []byte) bool {
	for i, c := range b {
		switch c {
		case '<', '>', '&':
			return false
		case 0xe2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
			if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xa8 || b[i+2] == 0xa9) {
				return false
			}
		}
	}
	return true
}

func (w *walker) array() {
	w.pos++ // [
	w.stack = append(w.stack, segment{index: 0})
	top := len(w.stack) - 1
	w.skipSpace()
	if w.data[w.pos] == ']' {
		w.pos++
		w.stack = w.stack[:top]
		return
	}
	for {
		w.value()
		if w.err != nil {
			return
		}
		w.skipSpace()
		c := w.data[w.pos]
		w.pos++
		if c == ']' {
			w.stack = w.stack[:top]
			return
		}
		w.stack[top].index++ // c == ','
	}
}

func (w *walker) object() {
	w.pos++ // {
	w.stack = append(w.stack, segment{index: -1})
	top := len(w.stack) - 1
	var linear [maxLinear][]byte
	keys := linear[:0]
	var set map[string]struct{}
	for {
		w.skipSpace()
		if w.data[w.pos] == '}' {
			w.pos++
			w.stack = w.stack[:top]
			return
		}
		start, escaped := w.str()
		quoted := w.data[start:w.pos]
		key := quoted[1 : len(quoted)-1]
		if escaped || !utf8.Valid(key) {
			key = decodeKey(quoted)
		}
		dup := false
		if set != nil {
			_, dup = set[string(key)]
			set[string(key)] = struct{}{}
		} else {
			for _, k := range keys {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			if keys = append(keys, key); len(keys) > maxLinear {
				set = make(map[string]struct{}, 2*maxLinear)
				for _, k := range keys {
					set[string(k)] = struct{}{}
				}
			}
		}
		if dup {
			w.err = &DuplicateKeyError{Key: string(key), Path: w.path(top)}
			return
		}
		w.stack[top].key = key
		w.skipSpace()
		w.pos++ // :
		w.value()
		if w.err != nil {
			return
		}
		w.skipSpace()
		if w.data[w.pos] == ',' {
			w.pos++
		}
	}
}

// decodeKey unescapes a key (with its quotes) as encoding/json does.
func decodeKey(quoted []byte) []byte {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return quoted // cannot happen: the document is valid
	}
	return []byte(s)
}

// path names the object at stack[top] in the style of rule field errors:
// $ for the document, .key for identifier-like keys, ["key"] otherwise,
// [i] for array elements.
func (w *walker) path(top int) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range w.stack[:top] {
		switch {
		case s.index >= 0:
			b.WriteString("[")
			b.WriteString(strconv.Itoa(s.index))
			b.WriteString("]")
		case ident(s.key):
			b.WriteString(".")
			b.Write(s.key)
		default:
			b.WriteString("[")
			b.WriteString(strconv.Quote(string(s.key)))
			b.WriteString("]")
		}
	}
	return b.String()
}

func ident(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for i, r := range s {
		if r == '_' || r == '-' && i > 0 || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' && i > 0 {
			continue
		}
		return false
	}
	return true
}
