package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/breaker"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
)

const adminTok = "admin-token-0123456789abcdef"

// Bad resume requests get a 400 naming the field and change nothing; a
// good one ends the pause, records who and why, and GET /v1/rules shows
// it.
func TestResumeRule(t *testing.T) {
	a := newAPIWith(t, "admin:"+adminTok+" scopes=admin\n", func(h *Handler) {
		h.Breakers = breaker.New(breaker.Options{Store: h.Store.(*store.SQL)})
	})
	if _, p, err := a.st.(*store.SQL).RecordOutcome(context.Background(), "disk-full", "web1", "h", "x1", true, 1, "1 failure"); err != nil || !p {
		t.Fatal(p, err)
	}
	for _, tc := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"no reason", "/v1/rules/disk-full/resume", `{"entity": "web1"}`, http.StatusBadRequest, "reason: required"},
		{"blank reason", "/v1/rules/disk-full/resume", `{"reason": "  "}`, http.StatusBadRequest, "reason: required"},
		{"control character", "/v1/rules/disk-full/resume", `{"reason": "a\u001b[2Jb"}`, http.StatusBadRequest, "reason: must not contain control characters"},
		{"too long", "/v1/rules/disk-full/resume", `{"reason": "` + strings.Repeat("x", MaxResumeReason+1) + `"}`, http.StatusBadRequest, "reason: longer than"},
		{"unknown field", "/v1/rules/disk-full/resume", `{"reason": "x", "all": true}`, http.StatusBadRequest, `unknown field \"all\"`},
		{"not JSON", "/v1/rules/disk-full/resume", `reason=x`, http.StatusBadRequest, "body:"},
		{"entity *", "/v1/rules/disk-full/resume", `{"reason": "x", "entity": "*"}`, http.StatusBadRequest, "entity:"},
		{"bad name", "/v1/rules/..%2Fx/resume", `{"reason": "x"}`, http.StatusBadRequest, "name:"},
		{"not paused there", "/v1/rules/disk-full/resume", `{"reason": "x", "entity": "web2"}`, http.StatusNotFound, `on \"web2\" is not paused`},
		{"another rule", "/v1/rules/other/resume", `{"reason": "x"}`, http.StatusNotFound, `rule \"other\" is not paused`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.do(http.MethodPost, tc.path, adminTok, tc.body)
			if code != tc.code || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d %s, want %d %q", code, body, tc.code, tc.want)
			}
		})
	}
	if n, _ := a.st.(*store.SQL).CountPaused(context.Background()); n != 1 {
		t.Fatalf("a refused request resumed it")
	}
	code, body := a.do(http.MethodPost, "/v1/rules/disk-full/resume", adminTok, `{"reason": "disk cleaned"}`)
	var ans api.ResumeAnswer
	if code != http.StatusOK || json.Unmarshal(body, &ans) != nil || len(ans.Resumed) != 1 ||
		ans.Resumed[0].ResumedBy != "admin" || ans.Resumed[0].ResumeReason != "disk cleaned" || ans.Resumed[0].Paused {
		t.Fatalf("resume: %d %s", code, body)
	}
	code, body = a.do(http.MethodGet, "/v1/rules", token, "")
	var l api.RuleList
	if code != http.StatusOK || json.Unmarshal(body, &l) != nil || len(l.Rules) != 1 || l.Rules[0].Paused ||
		l.Rules[0].Entity != "web1" || l.Rules[0].RuleHash != "h" || l.Rules[0].ResumedBy != "admin" {
		t.Errorf("rules: %d %s", code, body)
	}
}
