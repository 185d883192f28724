package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in, line, block string
	}{
		{"plain text", "plain text", "plain text"},
		{"a\nb\tc", `a\nb\tc`, "a\nb\tc"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`, `\x1b[31mred\x1b[0m`},
		{"over\rwrite", `over\rwrite`, `over\rwrite`},
		{"bad\xffbyte", `bad\xffbyte`, `bad\xffbyte`},
		{"c1\u009bcsi", `c1\u009bcsi`, `c1\u009bcsi`},
		{"bidi\u202e\u2066x", `bidi\u202e\u2066x`, `bidi\u202e\u2066x`},
		{"sep\u2028x", `sep\u2028x`, `sep\u2028x`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
	} {
		if got := cleanLine(tc.in); got != tc.line {
			t.Errorf("cleanLine(%q) = %q, want %q", tc.in, got, tc.line)
		}
		if got := cleanBlock(tc.in); got != tc.block {
			t.Errorf("cleanBlock(%q) = %q, want %q", tc.in, got, tc.block)
		}
	}
}

func TestSafeJSON(t *testing.T) {
	// Valid JSON may carry invalid UTF-8, DEL, C1 and bidi controls raw.
	raw := []byte("{\"a\":\"x\xff\x7f\u009b\u202ey\",\"b\":[1,2]}")
	out, err := safeJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) || !strings.Contains(string(out), `x\ufffd\u007f\u009b\u202ey`) {
		t.Errorf("got %s", out)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil || v["a"] != "x\ufffd\x7f\u009b\u202ey" {
		t.Errorf("%v %q", err, v["a"])
	}
	if _, err := safeJSON([]byte("{\"a\":\"\x1b\"}")); err == nil {
		t.Error("a raw control character in a JSON string passed")
	}
	if _, err := safeJSON([]byte("not json")); err == nil {
		t.Error("not JSON passed")
	}
}
