package feed

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDecodeStrict(t *testing.T) {
	type block struct {
		A string `yaml:"a"`
		B int    `yaml:"b"`
	}
	tests := []struct {
		name    string
		yaml    string
		want    block
		wantErr string
	}{
		{name: "values over defaults", yaml: "v: {a: x}", want: block{A: "x", B: 7}},
		{name: "unknown key", yaml: "v: {a: x, c: 1}", wantErr: "field c not found in type feed.block"},
		{name: "wrong type", yaml: "v: {b: many}", wantErr: "cannot unmarshal !!str `many` into int"},
		{name: "alias", yaml: "x: &x {a: y}\nv: *x", want: block{A: "y", B: 7}},
		{name: "merge key", yaml: "x: &x {a: y}\nv: {<<: *x, b: 2}", want: block{A: "y", B: 2}},
		{name: "alias bomb", yaml: "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
			"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\nv: {a: x, c: [*d,*d]}", wantErr: "too many values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc struct {
				Rest map[string]yaml.Node `yaml:",inline"`
			}
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			n := doc.Rest["v"]
			got := block{B: 7}
			err := DecodeStrict(&n, &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "line ") {
					t.Fatalf("err %v, want %q without a line number", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if err := DecodeStrict(nil, &struct{}{}); err != nil {
		t.Errorf("nil node: %v", err)
	}
}

func TestLookup(t *testing.T) {
	ts := Types{{Name: "OpsGenie", Key: "opsgenie"}, {Name: "Dynatrace", Key: "dynatrace"}}
	for in, want := range map[string]string{"opsgenie": "OpsGenie", " DYNATRACE": "Dynatrace", "OpsGenie": "OpsGenie", "jira": ""} {
		got, ok := ts.Lookup(in)
		if got.Name != want || ok != (want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", in, got.Name, ok, want)
		}
	}
	if ts.String() != "opsgenie, dynatrace" {
		t.Errorf("String() = %q", ts.String())
	}
}
