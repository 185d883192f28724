package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestLintEndpoint(t *testing.T) {
	h := newHarness(t, setup{rules: []string{"gc_restart.json"}})
	literal := ruleWith(t, map[string]any{"rule_name": "literal", "evaluation_list": []any{map[string]any{"evaluation": map[string]any{
		"tags": []string{"syn.day"}, "search_key": "description", "search_text": "GC (long)"}}}})
	tests := []struct {
		name, query, body string
		wantCode          int
		wantOK            bool
		want              []string // each in one problem's String()
	}{
		{name: "valid", query: "?name=new.json", body: ruleWith(t, map[string]any{"rule_name": "new"}), wantCode: 200, wantOK: true},
		{name: "editing the loaded file", query: "?name=gc_restart.json", body: ruleWith(t, nil), wantCode: 200, wantOK: true},
		{name: "duplicate rule_name", query: "?name=copy.json", body: ruleWith(t, nil), wantCode: 200,
			want: []string{`copy.json: rule_name: duplicate rule_name "day_duplicator_gc_restart", already defined in gc_restart.json`}},
		{name: "warning only", query: "?name=literal.json", body: literal, wantCode: 200, wantOK: true,
			want: []string{`literal.json: evaluation_list[0].evaluation.search_text: warning: regular expression "GC (long)" does not match its own text`}},
		{name: "invalid", query: "?name=bad.json", body: ruleWith(t, map[string]any{"rule_name": "bad", "os_typ": "linux"}), wantCode: 200,
			want: []string{"bad.json: os_typ: "}},
		{name: "not JSON, default name", body: `{"enabled": `, wantCode: 200, want: []string{"rule.json: $: "}},
		{name: "name not a rule file", query: "?name=rule.yaml", body: ruleWith(t, map[string]any{"rule_name": "y"}), wantCode: 200,
			want: []string{"rule.yaml: $: not a rule file name"}},
		{name: "name with a control character", query: "?name=a%1b.json", body: "{}", wantCode: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(t, http.MethodPost, "/v1/rules/lint"+tc.query, []byte(tc.body), clientToken)
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
			if tc.wantCode != 200 {
				return
			}
			var ans LintAnswer
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
				t.Fatal(err)
			}
			if ans.OK != tc.wantOK || ans.Errors == nil {
				t.Errorf("answer %s", rec.Body)
			}
			var lines []string
			for _, p := range ans.Errors {
				lines = append(lines, p.String())
			}
			out := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("problems lack %q:\n%s", w, out)
				}
			}
			if len(tc.want) == 0 && len(ans.Errors) != 0 {
				t.Errorf("problems:\n%s", out)
			}
		})
	}
	if rec := h.do(t, http.MethodPost, "/v1/rules/lint", []byte("{}"), ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", rec.Code)
	}
}
