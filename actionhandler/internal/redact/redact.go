// Package redact removes secrets from text before it is stored, noted on
// an alert, logged or answered: the service's own (client tokens, the
// OpsGenie key, SSH key material, the PostgreSQL DSN) and the values of
// configured secrets that tasks use. Each is replaced by Mask, also in its
// JSON-escaped and percent-encoded forms, and a text ending in the first
// characters of a secret (output cut at its size cap) loses that end too.
package redact

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a secret.
const Mask = "<secret>"

// MinLen is the shortest value redacted; shorter ones would mask ordinary
// text (configuration refuses shorter secrets).
const MinLen = 4

// Redactor replaces secrets in text. The zero value and nil redact nothing.
type Redactor struct {
	values []string // longest first
	r      *strings.Replacer
}

// New returns a Redactor for values (blank and too short ones are ignored;
// surrounding white space is not part of a value).
func New(values ...string) *Redactor {
	seen := map[string]bool{}
	var list []string
	add := func(v string) {
		if len(v) >= MinLen && !seen[v] {
			seen[v] = true
			list = append(list, v)
		}
	}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinLen {
			continue
		}
		add(v)
		b, _ := json.Marshal(v) // escapes <, > and & too
		add(string(b[1 : len(b)-1]))
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		add(strings.TrimSuffix(buf.String()[1:], "\"\n"))
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
	}
	// Longest first, so a secret containing another is masked whole.
	slices.SortFunc(list, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(list))
	for _, v := range list {
		pairs = append(pairs, v, Mask)
	}
	return &Redactor{values: list, r: strings.NewReplacer(pairs...)}
}

// KeyMaterial lists the parts of a PEM private key file worth redacting:
// the whole text and each line of its body.
func KeyMaterial(pem string) []string {
	out := []string{strings.TrimSpace(pem)}
	for _, line := range strings.Split(pem, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r == nil || len(r.values) == 0 || s == "" {
		return s
	}
	s = r.r.Replace(s)
	// A secret cut short at the end (capped output) is masked too.
	for _, v := range r.values {
		for n := min(len(v)-1, len(s)); n >= MinLen; n-- {
			if strings.HasSuffix(s, v[:n]) {
				return s[:len(s)-n] + Mask
			}
		}
	}
	return s
}

// Len is how many values (forms included) are redacted.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	return len(r.values)
}
