// Package ident checks the identifiers Alexis keeps, logs, dedups on and
// passes to other programs: entities (host names), rule names, alert ids
// and feed names. Every one of them can come from an alert, so each is
// bounded in length and may hold no character that changes how a log line,
// a terminal, a ticket note or a command line reads it.
package ident

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Length limits, in bytes (docs/rules.md, "Identifiers").
const (
	MaxEntity   = 253 // a DNS name's longest text form
	MaxRuleName = 128
	MaxAlertID  = 256 // alert ids and alexis.unique_value
	MaxFeedName = 128 // alexis.feed_name and alexis.feed_type
	MaxKey      = 256 // alexis.unique_key, a path into the record
)

// Check returns an error naming what (e.g. "entity") when s is longer than
// max bytes, is not UTF-8, or holds a character that is refused: C0
// controls (NUL, tab, newline, ...), DEL, C1 controls, the unicode line and
// paragraph separators (U+2028, U+2029) and format characters (bidi
// overrides, zero-width characters, U+FEFF). Emptiness is the caller's
// rule.
func Check(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s %s: longer than %d bytes (%d)", what, Quote(s), max, len(s))
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Errorf("%s %s: not valid UTF-8 at byte %d", what, Quote(s), i)
			}
		}
		if Refused(r) {
			return fmt.Errorf("%s %s: control character %U at byte %d", what, Quote(s), r, i)
		}
	}
	return nil
}

// Refused reports whether r may not appear in an identifier.
func Refused(r rune) bool {
	return unicode.IsControl(r) || // C0, DEL, C1
		unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
}

// Quote quotes s for an error message or log value, escaping everything
// that is not printable ASCII and cutting it to 64 bytes, so a hostile
// identifier cannot forge a line or fill a log.
func Quote(s string) string {
	const limit = 64
	more := ""
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s, more = s[:cut], fmt.Sprintf("...(%d bytes)", len(s))
	}
	return fmt.Sprintf("%+q", s) + more
}
