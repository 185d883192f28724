package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	r := New("s3cr3t-token", "  padded-value\n", "ab", "", `quo"te&x=1`)
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "token=s3cr3t-token; ok", "token=<secret>; ok"},
		{"twice", "s3cr3t-token s3cr3t-token", "<secret> <secret>"},
		{"trimmed value", "v=padded-value.", "v=<secret>."},
		{"short values ignored", "ab cd", "ab cd"},
		{"JSON-escaped form", `{"t": "quo\"te&x=1"}`, `{"t": "<secret>"}`},
		{"percent-encoded form", "?t=quo%22te%26x%3D1", "?t=<secret>"},
		{"cut at the end", "out: s3cr3t-to", "out: <secret>"},
		{"short tail kept", "out: s3c", "out: s3c"},
		{"nothing", "all good", "all good"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.String(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	var none *Redactor
	if none.String("x s3cr3t-token") != "x s3cr3t-token" || New().String("abc") != "abc" {
		t.Error("empty redactor changed text")
	}
}

func TestKeyMaterial(t *testing.T) {
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
	r := New(KeyMaterial(pem)...)
	out := r.String("leak: b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ and " + pem)
	if strings.Contains(out, "b3BlbnNz") || strings.Contains(out, "BEGIN") {
		t.Errorf("key material left: %q", out)
	}
}

func FuzzString(f *testing.F) {
	f.Add("hello s3cr3t-token world", "s3cr3t-token")
	f.Fuzz(func(t *testing.T, text, secret string) {
		secret = strings.TrimSpace(secret)
		if len(secret) < MinLen || strings.Contains(Mask, secret) || strings.Contains(secret, Mask) {
			return
		}
		if out := New(secret).String(text); strings.Contains(out, secret) {
			t.Fatalf("secret %q left in %q", secret, out)
		}
	})
}
