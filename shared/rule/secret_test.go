package rule

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/alexis-ops/alexis/shared/task/field"
)

// builtins are every function text/template predefines.
var builtins = []string{"and", "call", "html", "index", "slice", "js", "len", "not", "or",
	"print", "printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"}

func TestBuiltinsListed(t *testing.T) {
	// Each name is a builtin: it parses with no functions added.
	for _, f := range builtins {
		if _, err := template.New("x").Parse("{{ " + f + " 1 }}"); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// httpRule is a rule whose only task is an http task with field set to text.
func httpRule(t *testing.T, field, text string) []byte {
	t.Helper()
	task := map[string]any{"task_type": "http", "url": "https://lb.example.com/x", "method": "POST"}
	switch {
	case strings.HasPrefix(field, "headers."):
		task["headers"] = map[string]string{strings.TrimPrefix(field, "headers."): text}
	case strings.HasPrefix(field, "env."):
		task = map[string]any{"task_type": "local", "argv": []string{"true"}, "env": map[string]string{strings.TrimPrefix(field, "env."): text}}
	case field == "form":
		task["headers"] = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		task["body"] = text
		field = "body"
	case field == "text":
		task["headers"] = map[string]string{"Content-Type": "text/plain"}
		task["body"] = text
		field = "body"
	default:
		task[field] = text
	}
	list, _ := json.Marshal([]any{map[string]any{"task": task}})
	return ruleWith(t, string(list), nil)
}

// loadErr parses a rule and returns the message of its error at path.
func loadErr(t *testing.T, data []byte, path string) string {
	t.Helper()
	_, err := Parse(data)
	var re Errors
	if !errors.As(err, &re) {
		return ""
	}
	for _, e := range re {
		if e.Path == path {
			return e.Msg
		}
	}
	t.Errorf("errors %v, none at %s", err, path)
	return ""
}

// TestSecretFunctionsRefused: every builtin function, and the template's
// own, applied to a secret, by argument or by pipeline, in every field
// that may hold a secret, is a load error naming the field.
func TestSecretFunctionsRefused(t *testing.T) {
	type form struct{ name, text string }
	var forms []form
	for _, f := range append(slices.Clone(builtins), "alert", "alert_or", field.FuncEntity, field.FuncSecret) {
		forms = append(forms,
			form{f + " (secret)", `{{ ` + f + ` (secret "lb") }}`},
			form{"secret | " + f, `{{ secret "lb" | ` + f + ` }}`},
			form{f + " with other args", `{{ ` + f + ` "%x" (secret "lb") 1 }}`})
	}
	forms = append(forms,
		form{"issue: printf %x", `{{ printf "%x" (secret "lb") }}`},
		form{"issue: slice", `{{ slice (secret "lb") 0 4 }}{{ slice (secret "lb") 4 }}`},
		form{"variable", `{{ $s := secret "lb" }}{{ $s }}`},
		form{"variable printed by printf", `{{ $s := secret "lb" }}{{ printf "%x" $s }}`},
		form{"parenthesised", `{{ (secret "lb") }}`},
		form{"name from the alert", `{{ secret .details.name }}`},
		form{"computed name", `{{ secret (print "l" "b") }}`},
		form{"two arguments", `{{ secret "lb" "x" }}`},
		form{"if on a secret", `{{ if secret "lb" }}yes{{ end }}`},
		form{"secret inside if", `{{ if .details.x }}{{ secret "lb" }}{{ end }}`},
		form{"with", `{{ with secret "lb" }}{{ . }}{{ end }}`},
		form{"range", `{{ range secret "lb" }}{{ . }}{{ end }}`},
		form{"secret inside range", `{{ range .tags }}{{ secret "lb" }}{{ end }}`},
		form{"comparison", `{{ if eq (secret "lb") "abcd" }}1{{ else }}0{{ end }}`},
		form{"chained field", `{{ (secret "lb").x }}`},
	)
	for _, field := range []string{"headers.Authorization", "body", "env.TOKEN"} {
		for _, f := range forms {
			t.Run(field+"/"+f.name, func(t *testing.T) {
				text := f.text
				if field == "body" {
					text = `{"v": "` + text + `"}`
				}
				msg := loadErr(t, httpRule(t, field, text), "task_list[0].task."+field)
				if !strings.Contains(msg, "secret") {
					t.Errorf("%s: load error %q, want one about the secret", text, msg)
				}
			})
		}
	}
}

// TestSecretPlacement: where a secret may stand whole, and where not.
func TestSecretPlacement(t *testing.T) {
	for _, tc := range []struct {
		name, field, text string
		ok                bool
	}{
		{"header whole", "headers.X-Token", `{{ secret "lb" }}`, true},
		{"header after an auth scheme", "headers.Authorization", `Bearer {{ secret "lb" }}`, true},
		{"header trims", "headers.X-Token", `{{- secret "lb" -}}`, true},
		{"header suffix", "headers.X-Token", `{{ secret "lb" }}x`, false},
		{"header prefix not a scheme", "headers.X-Token", `a=b; {{ secret "lb" }}`, false},
		{"header alert value before", "headers.X-Token", `{{ .details.x }}{{ secret "lb" }}`, false},
		{"header two secrets", "headers.Authorization", `Basic {{ secret "lb" }}{{ secret "lb" }}`, false},
		{"json string value", "body", `{"token": "{{ secret "lb" }}", "host": "{{ entity }}"}`, true},
		{"json array element", "body", `{"tokens": ["{{ secret "lb" }}", "{{ secret "lb" }}"]}`, true},
		{"json unquoted", "body", `{"token": {{ secret "lb" }}}`, false},
		{"json part of a string", "body", `{"token": "x{{ secret "lb" }}"}`, false},
		{"json key", "body", `{"{{ secret "lb" }}": 1}`, false},
		{"json next to a value", "body", `{"token": "{{ secret "lb" }}{{ entity }}"}`, false},
		{"form value", "form", `token={{ secret "lb" }}&host={{ entity }}`, true},
		{"form part of a value", "form", `token=x{{ secret "lb" }}`, false},
		{"form name", "form", `{{ secret "lb" }}=1`, false},
		{"other body whole", "text", `{{ secret "lb" }}`, true},
		{"other body part", "text", `token: {{ secret "lb" }}`, false},
		{"env whole", "env.TOKEN", `{{ secret "lb" }}`, true},
		{"env part", "env.DSN", `postgres://u:{{ secret "lb" }}@db/x`, false},
		{"url query", "url", `https://lb.example.com/x?token={{ secret "lb" }}`, false},
		{"url path", "url", `https://lb.example.com/{{ secret "lb" }}/x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field := tc.field
			if field == "form" || field == "text" {
				field = "body"
			}
			data := httpRule(t, tc.field, tc.text)
			_, err := Parse(data)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if msg := loadErr(t, data, "task_list[0].task."+field); !strings.Contains(msg, "secret") {
				t.Errorf("load error %q, want one about the secret", msg)
			}
		})
	}
}

// TestSecretRendersWhole: render refuses what load refuses (a task that
// did not come from a validated rule), and a placed secret arrives whole,
// escaped only as its JSON or form value.
func TestSecretRendersWhole(t *testing.T) {
	d := TemplateData{Alert: []byte(alertJSON), Entity: "app01", Secret: func(string) (string, error) { return `s3"cr&t=1`, nil }}
	for _, tc := range []flat{
		{URL: "http://x/", Headers: map[string]string{"X": `{{ printf "%x" (secret "lb") }}`}},
		{URL: "http://x/", Body: `{"a": "{{ slice (secret "lb") 0 2 }}"}`},
		{URL: `http://x/?t={{ secret "lb" }}`},
	} {
		if _, err := tc.RenderHTTP(d); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v rendered: %v", tc, err)
		}
	}
	if _, err := (flat{Env: map[string]string{"T": `{{ secret "lb" | len }}`}}).RenderEnv(d); !errors.Is(err, field.ErrSecretPlacement) {
		t.Errorf("env: %v", err)
	}
	req, err := flat{URL: "http://x/", Headers: map[string]string{"Authorization": `Bearer {{ secret "lb" }}`},
		Body: `{"token": "{{ secret "lb" }}"}`}.RenderHTTP(d)
	if err != nil || req.Headers["Authorization"] != `Bearer s3"cr&t=1` || req.Body != `{"token": "s3\"cr\u0026t=1"}` {
		t.Errorf("json: %+v %v", req, err)
	}
	req, err = flat{URL: "http://x/", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body: `t={{ secret "lb" }}&h={{ entity }}`}.RenderHTTP(d)
	if err != nil || req.Body != "t=s3%22cr%26t%3D1&h=app01" {
		t.Errorf("form: %+v %v", req, err)
	}
}

// FuzzSecretOpaque: whatever template a field holds, if it loads and
// renders, the secret appears in the output only whole (as it is, or
// JSON- or form-escaped whole), never in part or transformed.
func FuzzSecretOpaque(f *testing.F) {
	for _, s := range []string{`Bearer {{ secret "lb" }}`, `{{ printf "%x" (secret "lb") }}`, `{{ slice (secret "lb") 1 }}`,
		`{"t": "{{ secret "lb" }}", "h": "{{ .details.host }}"}`, `t={{ secret "lb" }}&x={{ .details.svc }}`,
		`{{ $s := secret "lb" }}{{ $s }}`, `{{ secret "lb" | html }}`, `{{ index (secret "lb") 0 }}`} {
		for field := range 5 {
			f.Add(uint8(field), s)
		}
	}
	const secret = "Zk9qW3xYpT7v" // JSON and form escaping leave it as it is
	f.Fuzz(func(t *testing.T, field uint8, text string) {
		task := flat{URL: "http://x/"}
		switch field % 5 {
		case 0:
			task.Headers = map[string]string{"X": text}
		case 1:
			task.Body = text
		case 2:
			task.Headers = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			task.Body = text
		case 3:
			task.Headers = map[string]string{"Content-Type": "text/plain"}
			task.Body = text
		case 4:
			task = flat{Env: map[string]string{"X": text}}
		}
		d := TemplateData{Alert: []byte(alertJSON), Entity: "app01", Secret: func(string) (string, error) { return secret, nil }}
		var out string
		if task.Env != nil {
			env, err := task.RenderEnv(d)
			if err != nil {
				return
			}
			out = env["X"]
		} else {
			req, err := task.RenderHTTP(d)
			if err != nil {
				return
			}
			out = req.Body
			for _, v := range req.Headers {
				out += "\n" + v
			}
		}
		out = strings.ReplaceAll(out, secret, "") // whole: fine
		for n := 3; n < len(secret); n++ {
			for i := 0; i+n <= len(secret); i++ {
				if strings.Contains(out, secret[i:i+n]) {
					t.Fatalf("%q rendered part of the secret %q: %q", text, secret[i:i+n], out)
				}
			}
		}
		if strings.Contains(strings.ToLower(out), "5a6b3971") || strings.Contains(out, "90 107 57") {
			t.Fatalf("%q rendered the secret encoded: %q", text, out)
		}
	})
}
