package ident

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		max     int
		want    string // "" : accepted
	}{
		{"host", "app01.example.com", MaxEntity, ""},
		{"unicode letters", "häst-01", MaxEntity, ""},
		{"longest", strings.Repeat("a", MaxEntity), MaxEntity, ""},
		{"too long", strings.Repeat("a", MaxEntity+1), MaxEntity, "longer than 253 bytes (254)"},
		{"NUL", "h\x00x", MaxEntity, `"h\x00x": control character U+0000 at byte 1`},
		{"newline", "h\nx", MaxEntity, "control character U+000A"},
		{"tab", "h\tx", MaxEntity, "control character U+0009"},
		{"escape", "h\x1b[31mx", MaxEntity, "control character U+001B"},
		{"DEL", "h\x7fx", MaxEntity, "control character U+007F"},
		{"C1 NEL", "h\u0085x", MaxEntity, "control character U+0085"},
		{"C1 CSI", "h\u009bx", MaxEntity, "control character U+009B"},
		{"line separator", "h\u2028x", MaxEntity, "control character U+2028"},
		{"paragraph separator", "h\u2029x", MaxEntity, "control character U+2029"},
		{"bidi override", "h\u202ex", MaxEntity, "control character U+202E"},
		{"zero width space", "h\u200bx", MaxEntity, "control character U+200B"},
		{"BOM", "\ufeffh", MaxEntity, "control character U+FEFF"},
		{"invalid UTF-8", "h\xffx", MaxEntity, "not valid UTF-8 at byte 1"},
		{"replacement character itself", "h\ufffdx", MaxEntity, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check("entity", tc.s, tc.max)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\x00\n\x1b\u2028") || len(err.Error()) > 200 {
				t.Fatalf("the error itself carries the bad input: %q", err)
			}
		})
	}
}
