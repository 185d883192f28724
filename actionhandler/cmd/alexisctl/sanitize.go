package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Everything a server says is printed through cleanLine (a table cell, a
// one-line field) or cleanBlock (command output, messages): an alert's
// summary, a rule name or a command's output may hold terminal escape
// sequences (ANSI CSI/OSC, which can retitle the window, move the cursor,
// hide text or, on some terminals, write files), carriage returns that
// overwrite what came before, or bidirectional overrides that reorder what
// is shown. They are printed as visible escapes (\x1b, \r, \u202e)
// instead.

// unsafeRune reports whether r must not reach a terminal as it is: C0 and
// C1 controls, DEL, bidirectional controls, line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true // bidirectional marks, embeddings, overrides, isolates
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// cleanLine makes s safe on one line: every unsafe rune (newlines and tabs
// too) and every invalid UTF-8 byte is escaped.
func cleanLine(s string) string { return clean(s, false) }

// cleanBlock makes multi-line text safe: newlines and tabs stay, anything
// else unsafe is escaped.
func cleanBlock(s string) string { return clean(s, true) }

func clean(s string, block bool) string {
	if safe(s, block) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case block && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func safe(s string, block bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if unsafeRune(r) && !(block && (r == '\n' || r == '\t')) {
			return false
		}
		i += size
	}
	return true
}

// truncate shortens s to n runes, ending in "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// cell is a table cell: one safe line, at most n runes (0: no limit), "-"
// when empty.
func cell(s string, n int) string {
	s = cleanLine(s)
	if n > 0 {
		s = truncate(s, n)
	}
	if s == "" {
		return "-"
	}
	return s
}

// safeJSON indents a JSON answer (key order kept) and makes it
// terminal-safe: valid JSON holds no raw C0 controls, and the other unsafe
// runes and invalid UTF-8 are escaped as \uXXXX, which keeps it JSON.
func safeJSON(data []byte) ([]byte, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("the answer is not valid JSON")
	}
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return nil, err
	}
	b := out.Bytes()
	if safe(string(b), true) {
		return append(b, '\n'), nil
	}
	var e bytes.Buffer
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			e.WriteString(`\ufffd`)
		case r == '\n' || r == '\t':
			e.WriteRune(r)
		case unsafeRune(r):
			// Only inside strings: JSON's own syntax is ASCII.
			fmt.Fprintf(&e, `\u%04x`, r)
		default:
			e.WriteRune(r)
		}
		i += size
	}
	return append(e.Bytes(), '\n'), nil
}
