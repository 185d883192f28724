package httptask

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/task/field"
)

const alertJSON = `{"id": "a1", "details": {"host": "app01", "svc": "dup licator", "quote": "a\"b", "n": 3, "unit": "duplicator",
	"dir": "/var/log", "pid": "-1", "args": "a[$(touch x)]", "msg": "-- disk full; $(reboot)",
	"dash": "--all", "obj": {"x": 1}, "nul": "a\u0000b", "ns": null}}`

func secrets(name string) (string, error) {
	if name == "lb" {
		return "s3cr3t-value", nil
	}
	return "", errors.New("no secret " + name)
}

func TestRenderHTTP(t *testing.T) {
	d := field.TemplateData{Alert: []byte(alertJSON), Entity: "app01", Secret: secrets}
	for _, tc := range []struct {
		name string
		task Params
		want Request
		err  string
	}{
		{name: "entity host drops the SSH port", task: Params{URL: "https://{{ entity }}/x"},
			want: Request{Method: "GET", URL: "https://app01/x", Headers: map[string]string{}}},
		{name: "json body escapes values", task: Params{URL: "https://lb/pools/{{ .details.svc }}/members?host={{ entity }}",
			Headers: map[string]string{"Authorization": `Bearer {{ secret "lb" }}`},
			Body:    `{"host": "{{ entity }}", "why": "{{ .details.quote }}", "n": {{ .details.n }}}`},
			want: Request{Method: "POST", URL: "https://lb/pools/dup%20licator/members?host=app01",
				Headers: map[string]string{"Authorization": "Bearer s3cr3t-value", "Content-Type": "application/json"},
				Body:    `{"host": "app01", "why": "a\"b", "n": 3}`}},
		{name: "injection breaks the JSON and is refused", task: Params{URL: "http://x/", Body: `{"n": {{ .details.svc }}}`},
			err: "not valid JSON"},
		{name: "form body", task: Params{URL: "http://x/", Method: "put", Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"},
			Body: "svc={{ .details.svc }}&q={{ .details.quote }}"},
			want: Request{Method: "PUT", URL: "http://x/", Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"},
				Body: "svc=dup+licator&q=a%22b"}},
		{name: "GET without body", task: Params{URL: "http://x/health/{{ entity }}"},
			want: Request{Method: "GET", URL: "http://x/health/app01", Headers: map[string]string{}}},
		{name: "url value cannot add a path or query", task: Params{URL: "http://x/{{ .details.quote }}/{{ alert \"details.dash\" }}?a={{ alert_or \"details.q\" \"1&b=2\" }}"},
			want: Request{Method: "GET", URL: "http://x/a%22b/--all?a=1%26b%3D2", Headers: map[string]string{}}},
		{name: "url value never a dot-segment", task: Params{URL: `http://x/a/{{ alert_or "nope" ".." }}/{{ alert_or "nope" "." }}/.{{ alert_or "nope" "." }}/b?q={{ alert_or "nope" "a.b" }}`},
			want: Request{Method: "GET", URL: "http://x/a/%2E%2E/%2E/.%2E/b?q=a%2Eb", Headers: map[string]string{}}},
		{name: "entity as host", task: Params{URL: "http://{{ entity }}:8080/health/{{ entity }}"},
			want: Request{Method: "GET", URL: "http://app01:8080/health/app01", Headers: map[string]string{}}},
		{name: "header line break", task: Params{URL: "http://x/", Headers: map[string]string{"X": "{{ alert_or \"nope\" \"a\\nb\" }}"}}, err: "line break"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.task.Render(d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tc.want.Method || got.URL != tc.want.URL || got.Body != tc.want.Body || len(got.Headers) != len(tc.want.Headers) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			for k, v := range tc.want.Headers {
				if got.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, got.Headers[k], v)
				}
			}
		})
	}
}

func FuzzRenderHTTP(f *testing.F) {
	f.Add(`{"a": "{{ .details.svc }}"}`, "x")
	f.Add(`{{ range .tags }}{{ . }}{{ end }}`, `"`)
	f.Fuzz(func(t *testing.T, body, value string) {
		alert, _ := json.Marshal(map[string]any{"details": map[string]any{"svc": value}, "tags": []string{value}})
		req, err := (&Params{URL: "http://x/", Body: body}).Render(field.TemplateData{Alert: alert})
		if err == nil && !json.Valid([]byte(req.Body)) {
			t.Fatalf("rendered invalid JSON %q", req.Body)
		}
	})
}
