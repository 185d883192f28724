package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

// TestServiceConsole starts the action handler for real, runs an action
// over SSH, and follows it in the console: log in, find it on the
// timeline, open its alert page with the command and its output.
func TestServiceConsole(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "session_key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startWith(t, false, "5s", "console:\n  session_key_file: "+key+
		"\n  ticket_links: {OpsGenie: \"https://acme.example/alert/{alert_id}\"}\n", nil)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "<b>disk</b> full", Teams: []string{"incoming"}})
	if status, _ := s.post(t, a, "echo console-marker-$((6*7))"); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/console/")
	if code != http.StatusOK || !strings.Contains(body, `id="login-form"`) {
		t.Fatalf("not logged in: %d %s", code, body)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	resp, err := c.PostForm(s.url+"/console/login", url.Values{"token": {token}, "csrf": {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `id="timeline"`) {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}

	var alertPath string
	waitFor(t, "a finished execution on the timeline", func() bool {
		_, body := get("/console/?q=" + url.QueryEscape(a.TinyID))
		m := regexp.MustCompile(`class="alert-link" href="(/console/alerts/[^"]+)"`).FindStringSubmatch(body)
		if m != nil && strings.Contains(body, "chip-success") {
			alertPath = m[1]
			return true
		}
		return false
	})
	_, body = get(alertPath)
	for _, want := range []string{`<pre class="command">echo console-marker-$((6*7))</pre>`,
		`<pre class="stdout">console-marker-42`, `href="https://acme.example/alert/` + url.PathEscape(a.ID) + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("alert page lacks %s:\n%s", want, body)
		}
	}
	// Replay from the console through the real binary: two candidate
	// files larger together than body_limit (the route has replay's own),
	// the recorded alert skipped (posted here directly), counted in
	// /metrics as the API's replays are.
	_, body = get("/console/replay")
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("csrf", csrf[1])
	_ = mw.WriteField("range", "24h")
	for _, name := range []string{"a.json", "b.json"} {
		fw, _ := mw.CreateFormFile("rules", name)
		_, _ = io.WriteString(fw, `{"rule_name": "`+strings.TrimSuffix(name, ".json")+`_rule", "enabled": "true", "os_type": "linux", "alert_feed": "OpsGenie",
		 "evaluation_list": [{"evaluation": {"tags": ["never"]}}], "entity_type": "explicit", "entities": ["web01"],
		 "task_list": [{"task": {"task_type": "remote_ssh", "action": "noop", "run_command": "true"}}], "route_to_team": "ops"}`+
			strings.Repeat(" ", 700<<10))
	}
	_ = mw.Close()
	resp, err = c.Post(s.url+"/console/replay", mw.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `<td class="replay-skipped-not_classified">1</td>`) {
		t.Errorf("console replay: %d %s", resp.StatusCode, b)
	}
	mreq, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(mreq); err != nil {
		t.Error(err)
	} else {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), `actionhandler_replays_total{outcome="unchanged"} 1`) ||
			!strings.Contains(string(m), "actionhandler_replay_duration_seconds_count 1") {
			t.Errorf("replay metrics: %s", m)
		}
	}
	if !strings.Contains(s.logs.String(), "event=replay") || !strings.Contains(s.logs.String(), "path=/console/replay") {
		t.Errorf("no event=replay from the console in the logs")
	}

	// The API's bearer tokens open no console page, and the console's
	// cookie opens no API endpoint.
	req, _ := http.NewRequest(http.MethodGet, s.url+"/console/hosts", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bearer token on the console: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _ := get("/v1/executions"); code != http.StatusUnauthorized {
		t.Errorf("session cookie on the API: %d", code)
	}
	assertNoSecrets(t, s, body)
	if strings.Contains(s.logs.String(), token) {
		t.Error("the token is in the logs")
	}
}
