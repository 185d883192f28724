package command

import (
	"strings"
	"testing"
)

// unquote reads back one word written by Quote, independently of it: a
// run of '...' strings and \' escapes, as a POSIX shell reads them.
func unquote(t *testing.T, q string) string {
	var b strings.Builder
	for i := 0; i < len(q); {
		switch {
		case q[i] == '\'':
			end := strings.IndexByte(q[i+1:], '\'')
			if end < 0 {
				t.Fatalf("unterminated quote in %q", q)
			}
			b.WriteString(q[i+1 : i+1+end])
			i += end + 2
		case strings.HasPrefix(q[i:], `\'`):
			b.WriteByte('\'')
			i += 2
		default:
			t.Fatalf("unquoted byte %q at %d in %q", q[i], i, q)
		}
	}
	return b.String()
}

func FuzzQuote(f *testing.F) {
	for _, v := range hostile {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Quote(s)
		if strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Fatal("quoted a NUL")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := unquote(t, q); got != s {
			t.Fatalf("Quote(%q) = %q reads back as %q", s, q, got)
		}
	})
}

// FuzzRender parses arbitrary templates and renders them for arbitrary
// alerts: nothing panics, and a rendered command never holds a NUL byte or
// exceeds MaxLen.
func FuzzRender(f *testing.F) {
	f.Add("sudo systemctl restart {{ .details.service }}", testAlert)
	f.Add(`echo {{ alert "tags.0" }} {{ alert_or "x" "y" }}`, testAlert)
	f.Add("{{ range .tags }}echo {{ . }};{{ end }}", testAlert)
	f.Add("echo '{{ .id }}'", testAlert)
	f.Add("tar {{ .details.service | raw_unsafe }}", `{"details":{"service":"a\u0000"}}`)
	f.Add("if [[ {{ .details.n | int }} -gt 3 ]]; then kill {{ .details.pid | int }}; fi", `{"details":{"n":"a[$(id)]","pid":5}}`)
	f.Add(`sudo -u {{ .u }} systemctl restart {{ .s | match "[a-z]+" }} {{ .h | host }} {{ .p | path }}`, `{"u":"x","s":"ab","h":"h1","p":"/a/b"}`)
	f.Add("logger -t a -- {{ .m | text }}; echo {{ .m | text }}", `{"m":"-$(reboot)"}`)
	f.Fuzz(func(t *testing.T, text, alert string) {
		tmpl, err := Parse(text)
		if err != nil {
			return
		}
		out, err := tmpl.Render([]byte(alert))
		if err != nil {
			return
		}
		if strings.IndexByte(out, 0) >= 0 || len(out) > MaxLen {
			t.Fatalf("rendered %d bytes with NUL or over the limit", len(out))
		}
		if !strings.Contains(text, "{{") && out != text {
			t.Fatalf("text without actions changed: %q → %q", text, out)
		}
		// With only token, int, host and path values and no loop, the
		// alert adds no shell character to the command: every one in the
		// output is the rule's (the quotes aside).
		if tmpl.UsesRaw() || strings.Contains(text, "range") || strings.Contains(text, "text") ||
			strings.Contains(text, "match") || strings.Contains(text, "printf") {
			return
		}
		for _, c := range "$`;|&<>()\n*?[]{}!~#\\\" =\t" {
			if strings.Count(out, string(c)) > strings.Count(text, string(c)) {
				t.Fatalf("the alert added %q: %q → %q", c, text, out)
			}
		}
	})
}

// FuzzParseArgv parses and renders arbitrary argv templates: nothing
// panics, no element holds a NUL, and an element that is one action (not
// text) never starts with "-".
func FuzzParseArgv(f *testing.F) {
	f.Add("kubectl", "--namespace={{ .ns }}", "{{ .pod }}", `{"ns":"a","pod":"-x"}`)
	f.Add("logger", "--", "{{ .m | text }}", `{"m":"-x $(y)"}`)
	f.Add("sudo", "{{ .p }}", "x", `{"p":"sh"}`)
	f.Fuzz(func(t *testing.T, a0, a1, a2, alert string) {
		argv := []string{a0, a1, a2}
		a, err := ParseArgv(argv, nil)
		if err != nil {
			return
		}
		out, err := a.Render([]byte(alert), nil)
		if err != nil {
			return
		}
		for i, o := range out {
			if strings.IndexByte(o, 0) >= 0 {
				t.Fatalf("argv[%d] holds a NUL", i)
			}
			single := strings.HasPrefix(argv[i], "{{") && strings.HasSuffix(argv[i], "}}") && strings.Count(argv[i], "{{") == 1
			if single && strings.HasPrefix(o, "-") && !strings.Contains(argv[i], "raw_unsafe") && !strings.Contains(argv[i], "text") {
				t.Fatalf("argv[%d] = %q starts with - from the alert (%q)", i, o, argv[i])
			}
		}
	})
}
