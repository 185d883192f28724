package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/breaker"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/rs/zerolog"
)

// The rules page lists paused rules with their reason; only an admin
// session gets (and may use) the resume form, with its CSRF token and a
// reason.
func TestRulesPausedAndResume(t *testing.T) {
	logs := &syncBuf{}
	e := newEnv(t, func(o *Options) {
		o.Breakers = breaker.New(breaker.Options{Store: o.Store.(*store.SQL), Log: zerolog.New(logs)})
	})
	if _, paused, err := e.st.RecordOutcome(ctx, "disk-full", "web1", "h1", "x1", true, 1, "1 consecutive failed executions"); err != nil || !paused {
		t.Fatalf("pause: %v %v", paused, err)
	}
	reader := e.login(readToken)
	_, body := e.get(reader, "/console/rules")
	for _, want := range []string{`id="paused-rules"`, `<span class="chip chip-paused">paused</span>`, "web1",
		"1 consecutive failed executions"} {
		if !strings.Contains(body, want) {
			t.Errorf("rules page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "resume-form") {
		t.Errorf("a reader sees the resume form")
	}
	token := csrfOf(t, body)
	form := url.Values{"csrf": {token}, "entity": {"web1"}, "reason": {"fixed"}}
	if resp, _ := e.post(reader, "/console/rules/disk-full/resume", form, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reader resumed: %d", resp.StatusCode)
	}

	admin := e.login(adminToken)
	_, body = e.get(admin, "/console/rules")
	if !strings.Contains(body, `class="resume-form" method="post" action="/console/rules/disk-full/resume"`) {
		t.Fatalf("no resume form for admin:\n%s", body)
	}
	token = csrfOf(t, body[strings.Index(body, "resume-form"):])
	for _, tc := range []struct {
		name string
		form url.Values
		code int
	}{
		{"no csrf", url.Values{"entity": {"web1"}, "reason": {"fixed"}}, http.StatusForbidden},
		{"no reason", url.Values{"csrf": {token}, "entity": {"web1"}, "reason": {"  "}}, http.StatusBadRequest},
		{"another host", url.Values{"csrf": {token}, "entity": {"web2"}, "reason": {"fixed"}}, http.StatusNotFound},
	} {
		if resp, body := e.post(admin, "/console/rules/disk-full/resume", tc.form, nil); resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if n, _ := e.st.CountPaused(ctx); n != 1 {
		t.Fatalf("refused forms resumed it")
	}
	resp, _ := e.post(admin, "/console/rules/disk-full/resume",
		url.Values{"csrf": {token}, "entity": {"web1"}, "reason": {"disk cleaned"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	if n, _ := e.st.CountPaused(ctx); n != 0 {
		t.Errorf("still paused")
	}
	if l := logs.String(); !strings.Contains(l, `"event":"rule_resumed"`) || !strings.Contains(l, `"client":"admin"`) {
		t.Errorf("no rule_resumed log: %s", l)
	}
	_, body = e.get(admin, "/console/rules")
	if strings.Contains(body, `id="paused-rules"`) {
		t.Errorf("still listed")
	}
}
