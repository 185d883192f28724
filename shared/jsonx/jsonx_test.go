package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestCheckUnique(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      string // "" : no error; else the error text
		syntax    bool
	}{
		{name: "flat", doc: `{"a":1,"b":2}`},
		{name: "same key in sibling objects", doc: `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`},
		{name: "scalar", doc: `42`},
		{name: "empty containers", doc: `{"a":{},"b":[],"c":[[]],"d":[{}]}`},
		{name: "top level", doc: `{"details":{"env":"staging"},"details":{"env":"prod"}}`, want: `duplicate key "details" at $`},
		{name: "alexis block", doc: `{"alexis":{"unique_value":"1"},"alexis":{"unique_value":"2"}}`, want: `duplicate key "alexis" at $`},
		{name: "nested", doc: `{"details":{"env":"staging","env":"prod"}}`, want: `duplicate key "env" at $.details`},
		{name: "in array", doc: `{"alerts":[{"a":1},{"labels":{"x":1,"y":2,"x":3}}]}`, want: `duplicate key "x" at $.alerts[1].labels`},
		{name: "after nested array", doc: `{"a":[1,[2,3],{"b":[]}],"c":{"d":[0,{"e":1,"e":1}]}}`, want: `duplicate key "e" at $.c.d[1]`},
		{name: "escaped spelling", doc: `{"env":1,"\u0065nv":2}`, want: `duplicate key "env" at $`},
		{name: "odd key in path", doc: `{"a b":{"k":1,"k":2}}`, want: `duplicate key "k" at $["a b"]`},
		{name: "top level array", doc: `[{"k":1},{"k":1,"k":2}]`, want: `duplicate key "k" at $[1]`},
		{name: "empty key twice", doc: `{"":1,"":2}`, want: `duplicate key "" at $`},
		{name: "truncated", doc: `{"a":1`, syntax: true},
		{name: "trailing data", doc: `{"a":1} {"a":2}`, syntax: true},
		{name: "trailing brace", doc: `{"a":1}}`, syntax: true},
		{name: "empty", doc: ``, syntax: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUnique([]byte(tc.doc))
			switch {
			case tc.syntax:
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("err = %v, want a syntax error", err)
				}
			case tc.want == "":
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			default:
				var de *DuplicateKeyError
				if !errors.As(err, &de) || err.Error() != tc.want {
					t.Fatalf("err = %v, want %s", err, tc.want)
				}
			}
		})
	}
}

// envelope is a typical alert envelope of about 2 KB.
func envelope() []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":"70413a06-38d6-4c85-92b8-5ebc900d42e2","tinyId":"1791","alias":"event_573","message":"duplicator: Long garbage-collection time",`)
	b.WriteString(`"status":"open","acknowledged":false,"isSeen":true,"tags":["syn.day","syn.duplicator","OverwritesQuietHours"],`)
	b.WriteString(`"snoozed":false,"count":79,"lastOccurredAt":"2026-11-17T14:41:00.000Z","createdAt":"2026-11-17T09:13:00.000Z","updatedAt":"2026-11-17T14:41:00.000Z",`)
	b.WriteString(`"source":"Zabbix","owner":"alice@example.com","priority":"P3","responders":[{"type":"team","id":"4513b7ea"},{"type":"user","id":"bb4d9938"}],`)
	b.WriteString(`"integration":{"id":"4513b7ea-3b91-438f-b7e4-e3e54af9147c","name":"Zabbix","type":"Zabbix"},`)
	b.WriteString(`"description":"JVM reports Long garbage-collection time on duplicator; ` + strings.Repeat("detail text ", 40) + `",`)
	b.WriteString(`"details":{"host":"app01.example.com","env":"prod","service":"duplicator","restarts":"2","region":"eu-west-1","cluster":"day"},`)
	b.WriteString(`"entity":"app01.example.com",`)
	b.WriteString(`"alexis":{"unique_key":"tinyId","unique_value":"1791","feed_type":"OpsGenie","feed_name":"incoming"}}`)
	return b.Bytes()
}

func BenchmarkCheckUnique(b *testing.B) {
	doc := envelope()
	if err := CheckUnique(doc); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckUnique(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapDecode is what every service already spends on the same
// body (alert.Decode's top-level map), for comparison.
func TestInspect(t *testing.T) {
	for _, tc := range []struct {
		doc       string
		canonical bool
	}{
		{`{"a":1,"b":[true,null,"x"]}`, true},
		{`{"a": 1}`, false},
		{` {"a":1}`, false},
		{`{"a":1}` + "\n", false},
		{`{"a":"<b>"}`, false},
		{`{"a":"x&y"}`, false},
		{`{"a":"\u003cb\u003e"}`, true},
		{"{\"a\":\"line\u2028sep\"}", false},
		{"{\"a\":\"dash \u2013 ok\"}", true},
		{`{"a":"esc\"aped"}`, true},
	} {
		got, err := Inspect([]byte(tc.doc))
		if err != nil || got != tc.canonical {
			t.Errorf("Inspect(%q) = %t, %v; want %t", tc.doc, got, err, tc.canonical)
		}
	}
}

func BenchmarkReferenceCheck(b *testing.B) {
	doc := envelope()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := referenceCheck(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapDecode(b *testing.B) {
	doc := envelope()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCheckUnique(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":2}]}}`, `[1,2,{"x":null}]`, `{"\u0061":1,"a":2}`, `"s"`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckUnique(data)
		valid := json.Valid(data)
		canonical, ierr := Inspect(data)
		if fmt.Sprint(ierr) != fmt.Sprint(err) {
			t.Fatalf("%q: Inspect says %v, CheckUnique %v", data, ierr, err)
		}
		if valid {
			m, merr := json.Marshal(json.RawMessage(data))
			if merr != nil {
				t.Fatalf("marshal valid %q: %v", data, merr)
			}
			if same := bytes.Equal(m, data); same != canonical && !(same && err != nil) {
				t.Fatalf("%q: Inspect says canonical=%t, but marshalling gives %q", data, canonical, m)
			}
		}
		if ref := referenceCheck(data); valid && fmt.Sprint(ref) != fmt.Sprint(err) {
			t.Fatalf("%q: CheckUnique says %v, the Token reference %v", data, err, ref)
		}
		var de *DuplicateKeyError
		switch {
		case valid && errors.Is(err, ErrSyntax):
			t.Fatalf("valid JSON %q called malformed: %v", data, err)
		case !valid && err == nil:
			t.Fatalf("malformed JSON %q accepted", data)
		case errors.As(err, &de):
			if !strings.HasPrefix(de.Path, "$") {
				t.Fatalf("path %q", de.Path)
			}
			if !valid {
				break // a duplicate found before the syntax error
			}
			// Re-encoding through a map loses the duplicate: the document
			// really did hold one (the map is smaller than the key count).
			if n, m := countKeys(t, data); n == m {
				t.Fatalf("%q: reported %v but every object's keys are distinct", data, err)
			}
		case err == nil && valid:
			if n, m := countKeys(t, data); n != m {
				t.Fatalf("%q: %d keys read, %d distinct: a duplicate was missed", data, n, m)
			}
		}
	})
}

// countKeys returns how many object keys data (valid JSON) holds as
// written and how many remain after decoding into maps (one per name).
func countKeys(t *testing.T, data []byte) (written, distinct int) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				if _, err := dec.Token(); err != nil {
					return err
				}
				written++
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	if err := walk(); err != nil {
		t.Fatalf("walk: %v", err)
	}
	var v any
	dec2 := json.NewDecoder(bytes.NewReader(data))
	dec2.UseNumber()
	if err := dec2.Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return written, countMapKeys(v)
}

func countMapKeys(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		n += len(x)
		for _, e := range x {
			n += countMapKeys(e)
		}
	case []any:
		for _, e := range x {
			n += countMapKeys(e)
		}
	}
	return n
}

// referenceCheck is the same check written the plain way, with
// encoding/json's Decoder.Token: slower, and the oracle the fuzz target
// compares CheckUnique with.
func referenceCheck(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are not converted: only their presence matters
	var stack []refFrame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			// Only reached before a complete value: after one, the loop
			// returns.
			return fmt.Errorf("%w: unexpected end of input", ErrSyntax)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		top := len(stack) - 1
		// A key is a string token read in an object where a key is due.
		if top >= 0 && stack[top].object && stack[top].wantKey {
			if d, ok := tok.(json.Delim); !ok || d != '}' {
				key := tok.(string) // the decoder only yields strings here
				f := &stack[top]
				if f.keys == nil {
					f.keys = make(map[string]struct{}, 8)
				}
				if _, dup := f.keys[key]; dup {
					return &DuplicateKeyError{Key: key, Path: refPath(stack)}
				}
				f.keys[key] = struct{}{}
				f.key = key
				f.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, refFrame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, refFrame{index: -1})
			if dec.More() {
				stack[len(stack)-1].index = 0
			}
			continue
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:top]
		}
		if err := afterValue(stack, dec); err != nil {
			return err
		}
		if len(stack) == 0 {
			// One value only: anything after it is malformed.
			if dec.More() {
				return fmt.Errorf("%w: data after the value", ErrSyntax)
			}
			if _, err := dec.Token(); err != io.EOF {
				return fmt.Errorf("%w: data after the value", ErrSyntax)
			}
			return nil
		}
	}
}

// refFrame is one open object or array.
type refFrame struct {
	object  bool
	wantKey bool
	key     string // object: the key whose value is being read
	index   int    // array: the element being read
	keys    map[string]struct{}
}

// afterValue moves the enclosing container past the value just read.
func afterValue(stack []refFrame, dec *json.Decoder) error {
	if len(stack) == 0 {
		return nil
	}
	f := &stack[len(stack)-1]
	if f.object {
		f.wantKey = true
	} else if dec.More() {
		f.index++
	}
	return nil
}

// path names the innermost open object in the style of rule field errors:
// $ for the document, .key for identifier-like keys, ["key"] otherwise, [i]
// for array elements.
func refPath(stack []refFrame) string {
	var b strings.Builder
	b.WriteString("$")
	for i := 0; i < len(stack)-1; i++ {
		f := stack[i]
		if f.object {
			if refIdent(f.key) {
				b.WriteString(".")
				b.WriteString(f.key)
			} else {
				b.WriteString("[")
				b.WriteString(strconv.Quote(f.key))
				b.WriteString("]")
			}
		} else {
			fmt.Fprintf(&b, "[%d]", f.index)
		}
	}
	return b.String()
}

func refIdent(s string) bool {
	if s == "" {
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

func ExampleCheckUnique() {
	fmt.Println(CheckUnique([]byte(`{"details":{"env":"staging"},"details":{"env":"prod"}}`)))
	// Output: duplicate key "details" at $
}
