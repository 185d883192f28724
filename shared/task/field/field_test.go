package field

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/command"
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

func TestRenderArgvAndEnv(t *testing.T) {
	d := TemplateData{Alert: []byte(alertJSON), Entity: "app01:2222", Secret: secrets}
	for _, tc := range []struct {
		name string
		argv []string
		want []string
		err  string
	}{
		{name: "values stay one argument each", argv: []string{"systemctl", "restart", "{{ .details.unit }}", "{{ entity }}", "n={{ .details.n }}"},
			want: []string{"systemctl", "restart", "duplicator", "app01:2222", "n=3"}},
		{name: "gjson path and fallback", argv: []string{"x", `{{ alert "details.host" }}`, `{{ alert_or "details.ns" "default" }}`},
			want: []string{"x", "app01", "default"}},
		{name: "option injection refused", argv: []string{"kubectl", "delete", "pod", "{{ .details.dash }}"}, err: `argv[3]: value of details.dash refused by type token: starts with "-"`},
		{name: "option written by the rule", argv: []string{"x", "--pod={{ .details.unit }}"}, want: []string{"x", "--pod=duplicator"}},
		{name: "space refused", argv: []string{"x", "--pod={{ .details.svc }}"}, err: "holds a space"},
		{name: "quote refused", argv: []string{"x", `{{ alert "details.quote" }}`}, err: `holds '"'`},
		{name: "path", argv: []string{"du", "-sh", "{{ .details.dir | path }}"}, want: []string{"du", "-sh", "/var/log"}},
		{name: "int refuses a sign", argv: []string{"kill", "{{ .details.pid | int }}"}, err: "refused by type int: has a sign"},
		{name: "arithmetic refused", argv: []string{"/usr/local/bin/scale", "{{ .details.args }}"}, err: "refused by type token"},
		{name: "text after logger --", argv: []string{"logger", "-t", "alexis", "--", "{{ .details.msg | text }}"},
			want: []string{"logger", "-t", "alexis", "--", "-- disk full; $(reboot)"}},
		{name: "text dash without --", argv: []string{"echo", "{{ .details.msg | text }}"}, err: `starts with "-"`},
		{name: "missing value", argv: []string{"x", "{{ .details.nope }}"}, err: "nope"},
		{name: "object", argv: []string{"x", "{{ .details.obj }}"}, err: "object"},
		{name: "null", argv: []string{"x", "{{ .details.ns }}"}, err: "null"},
		{name: "NUL byte", argv: []string{"x", "{{ .details.nul }}"}, err: "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderArgv(tc.argv, d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if strings.Contains(tc.err, "refused") && !errors.Is(err, command.ErrValueRefused) {
					t.Errorf("not a value refusal: %v", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
	env, err := RenderEnv(map[string]string{"TOKEN": `{{ secret "lb" }}`, "HOST": "{{ entity }}"}, d)
	if err != nil || env["TOKEN"] != "s3cr3t-value" || env["HOST"] != "app01:2222" {
		t.Errorf("env %v %v", env, err)
	}
	if _, err := RenderEnv(map[string]string{"T": `{{ secret "nope" }}`}, d); err == nil {
		t.Error("unknown secret rendered")
	}
}

func TestEntityHost(t *testing.T) {
	for in, want := range map[string]string{"app01": "app01", "app01:2222": "app01", "[::1]:22": "[::1]", "::1": "[::1]", "10.0.0.1": "10.0.0.1"} {
		if got := EntityHost(in); got != want {
			t.Errorf("EntityHost(%q) = %q, want %q", in, got, want)
		}
	}
}
