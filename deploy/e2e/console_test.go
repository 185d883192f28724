package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
	"github.com/alexis-ops/alexis/shared/api"
)

// consoleScreenshot: go test ./deploy/e2e -run TestConsoleInChromium -args -console-screenshot=$PWD/docs/console-timeline.png
var consoleScreenshot = flag.String("console-screenshot", "", "write a PNG of the console's timeline with the demo's alerts to this file")

// chromiumPath is Debian's Chromium, which deploy/install-deps.sh test
// installs. Without it the browser test is skipped, except in CI.
const chromiumPath = "/usr/bin/chromium"

// TestConsoleInChromium drives the console of a real stack (the demo's
// rule and alerts, the classifier recording its decisions at the action
// handler) with headless Chromium, as a person would: a wrong token is
// refused, the demo's read-only token logs in, the timeline shows both
// alerts and its filters narrow it, the alert page shows the command that
// ran on the host and its output, explain runs from the rules page, a
// replay of uploaded candidate rule files shows a changed command and a
// newly matched alert, and a form posted without its CSRF token is
// refused.
func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (in CI it must run: deploy/install-deps.sh test installs chromium)", chromiumPath, err)
		}
		t.Skipf("the console's browser test needs Debian's Chromium at %s: run `deploy/install-deps.sh test` as root", chromiumPath)
	}
	s, gc, disk := startConsoleStack(t)
	base := s.ActionHandlerURL
	b := newBrowser(t)

	// Not logged in: the console sends you to the login form.
	b.do("open the console without a session",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.ID("login-form")))
	if loc := b.location(); !strings.Contains(loc, "/console/login") {
		t.Errorf("without a session /console/ ended at %s, want the login form", loc)
	}

	// A wrong token cannot log in, and says so.
	const wrongToken = "0123456789abcdef0123456789abcdef0123456789abcdef"
	b.do("type a wrong token", chromedp.SendKeys(chromedp.ID("token"), wrongToken))
	b.submit("log in with a wrong token", http.StatusUnauthorized, chromedp.Click(chromedp.ID("login-submit")))
	b.do("see the login error", chromedp.WaitVisible(chromedp.ID("login-error")))
	if b.count("#timeline") != 0 || b.sessionCookie() != nil {
		b.fatalf("a wrong token logged in")
	}

	// The demo's read-only token logs in; the session cookie is HttpOnly
	// and SameSite=Strict.
	b.do("open the login form",
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), s.ViewerToken))
	b.submit("log in with the viewer token", http.StatusOK, chromedp.Click(chromedp.ID("login-submit")))
	b.do("see the timeline", chromedp.WaitVisible(chromedp.ID("timeline")))
	c := b.sessionCookie()
	switch {
	case c == nil:
		b.fatalf("logged in but no alexis_session cookie")
	case !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict:
		t.Errorf("session cookie HttpOnly=%t SameSite=%q, want HttpOnly and Strict", c.HTTPOnly, c.SameSite)
	case strings.Contains(c.Value, s.ViewerToken):
		t.Errorf("the session cookie carries the token")
	}

	// The timeline shows both demo alerts.
	b.waitRows("the timeline with both alerts", 2)
	rows := b.text("#timeline-rows")
	for _, want := range []string{stack.DemoGCMessage, stack.DemoDiskMessage, stack.DemoRule, s.SSH.Addr} {
		if !strings.Contains(rows, want) {
			b.fatalf("timeline lacks %q:\n%s", want, rows)
		}
	}
	if *consoleScreenshot != "" {
		b.screenshotTo(*consoleScreenshot)
	}

	// A new alert appears on the open timeline without a reload (the
	// page's script, allowed by the CSP, fetches newer rows).
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.alexisNoReload = true`))
	s.CreateAlert("db02: disk almost full", "Filesystem /srv is 96% full", "db02.example.com", "syn.db")
	b.waitRows("the new alert arriving live", 3)
	if !run(b, "no reload", chromedp.Evaluate[bool](`window.alexisNoReload === true`)) {
		t.Errorf("the timeline reloaded to show the new alert; want a live update")
	}

	// Filtering by outcome leaves the unmatched alert only.
	b.do("choose outcome unmatched", chromedp.SetValue(chromedp.ID("f-outcome"), api.ResultUnmatched))
	b.submit("filter by outcome", http.StatusOK, chromedp.Click(chromedp.ID("filter-submit")))
	if loc := b.location(); !strings.Contains(loc, "outcome=unmatched") {
		t.Errorf("after filtering by outcome the page is %s", loc)
	}
	b.waitRows("the unmatched alerts only", 2)
	if rows := b.text("#timeline-rows"); !strings.Contains(rows, stack.DemoDiskMessage) || strings.Contains(rows, stack.DemoGCMessage) {
		b.fatalf("outcome=unmatched shows:\n%s", rows)
	}

	// Filtering by rule leaves the remediated alert only; its link opens
	// the alert page.
	b.do("choose the rule", chromedp.SetValue(chromedp.ID("f-outcome"), ""), chromedp.SetValue(chromedp.ID("f-rule"), stack.DemoRule))
	b.submit("filter by rule", http.StatusOK, chromedp.Click(chromedp.ID("filter-submit")))
	if loc := b.location(); !strings.Contains(loc, "rule="+stack.DemoRule) {
		t.Errorf("after filtering by rule the page is %s", loc)
	}
	b.waitRows("the matched alert only", 1)
	if rows := b.text("#timeline-rows"); !strings.Contains(rows, stack.DemoGCMessage) || strings.Contains(rows, stack.DemoDiskMessage) {
		b.fatalf("rule=%s shows:\n%s", stack.DemoRule, rows)
	}
	b.submit("open the alert page", http.StatusOK, chromedp.Click(chromedp.CSS("#timeline-rows tr.decision a.alert-link")))
	b.do("see the classification", chromedp.WaitVisible(chromedp.ID("classification")))
	if loc := b.location(); !strings.HasSuffix(loc, "/console/alerts/"+gc.ID) {
		t.Errorf("alert link went to %s, want /console/alerts/%s", loc, gc.ID)
	}
	if cls := b.text("#classification"); !strings.Contains(cls, "matched") || !strings.Contains(cls, stack.DemoRule) {
		t.Errorf("classification section:\n%s", cls)
	}
	if cmd := b.text("pre.command"); !strings.Contains(cmd, "duplicator restarted on $(hostname)") || !strings.Contains(cmd, "tee -a") {
		t.Errorf("rendered command on the alert page: %q", cmd)
	}
	if out := b.text("pre.stdout"); !regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ duplicator restarted on \S+`).MatchString(out) {
		t.Errorf("command output on the alert page: %q", out)
	}

	// Explain from the rules page: the recorded envelope of the matched
	// alert, pasted into the form, matches the demo's rule.
	if len(gc.Payload) == 0 {
		t.Fatalf("decision %s has no payload to explain", gc.ID)
	}
	b.do("paste the alert into the rules page's explain form",
		chromedp.Navigate(base+"/console/rules"),
		chromedp.WaitVisible(chromedp.ID("explain-form")),
		chromedp.SetValue(chromedp.ID("envelope"), string(gc.Payload)))
	b.submit("explain", http.StatusOK, chromedp.Click(chromedp.ID("explain-submit")))
	b.do("see the explanation", chromedp.WaitVisible(chromedp.ID("explain-result")))
	if res := b.text("#explain-result"); !strings.Contains(res, "matched") || !strings.Contains(res, stack.DemoRule) {
		t.Errorf("explain result:\n%s", res)
	}

	// Replay from the console: candidate rule files uploaded through the
	// form (multipart, with its CSRF field) show the demo's alert running
	// a changed command and the unmatched disk alert newly matched;
	// nothing runs.
	candidates := t.TempDir()
	changed := filepath.Join(candidates, "duplicator_gc_restart.json")
	newRule := filepath.Join(candidates, "disk_cleanup.json")
	writeCandidate(t, changed, `{"enabled": "true", "os_type": "linux", "rule_name": "duplicator_gc_restart", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["syn.duplicator"], "search_key": "description", "search_text": "Long garbage-collection time", "duration": "0m"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "systemctl restart duplicator", "action": "restart_service"}}],
 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"], "route_to_team": "ops_unix"}`)
	writeCandidate(t, newRule, `{"enabled": "true", "os_type": "linux", "rule_name": "disk_cleanup", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["syn.db"], "search_key": "description", "search_text": "full", "duration": "0m"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "journalctl --vacuum-size=500M", "action": "clean_journal"}}],
 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"], "route_to_team": "ops_unix"}`)
	b.do("choose candidate rule files on the replay page",
		chromedp.Navigate(base+"/console/replay"),
		chromedp.WaitVisible(chromedp.ID("replay-form")),
		chromedp.SetUploadFiles(chromedp.ID("replay-rules"), []string{changed, newRule}))
	b.submit("replay", http.StatusOK, chromedp.Click(chromedp.ID("replay-submit")))
	b.do("see the replay's result", chromedp.WaitVisible(chromedp.ID("replay-result")))
	if cc := b.text("#replay-table-" + api.ReplayCommandChanged); !strings.Contains(cc, "systemctl restart duplicator") ||
		!strings.Contains(cc, stack.DemoGCMessage) {
		t.Errorf("replay: command changed table:\n%s", cc)
	}
	if nm := b.text("#replay-table-" + api.ReplayNewlyMatched); !strings.Contains(nm, stack.DemoDiskMessage) ||
		!strings.Contains(nm, "disk_cleanup") {
		t.Errorf("replay: newly matched table:\n%s", nm)
	}

	// A state-changing form posted from the page with the session cookie
	// but without its CSRF field is refused; the same post with the field
	// is not (so the 403 is the CSRF check's).
	b.do("load the explain form", chromedp.Navigate(base+"/console/explain"), chromedp.WaitVisible(chromedp.ID("explain-form")))
	codes := b.postForm("explain-form", map[string]string{"envelope": string(disk.Payload)})
	if codes[0] != http.StatusForbidden || codes[1] != http.StatusOK {
		t.Errorf("POST /console/explain without its CSRF field: %d (want 403), with it: %d (want 200)", codes[0], codes[1])
	}
	// Logging out without the CSRF field is refused and leaves the
	// session; with it (a redirect: fetch reports 0) the session ends.
	codes = b.postForm("logout-form", nil)
	if codes[0] != http.StatusForbidden || codes[1] == http.StatusForbidden {
		t.Errorf("POST /console/logout without its CSRF field: %d (want 403), with it: %d", codes[0], codes[1])
	}
	b.do("open the console after logging out", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("login-form")))

	// No script error and no Content-Security-Policy violation on any page.
	for _, e := range b.pageErrors() {
		t.Errorf("page error: %s", e)
	}

	// Neither the token that logged in nor the wrong one reached a log.
	for name, p := range s.Procs {
		for _, l := range p.Lines() {
			if strings.Contains(l, s.ViewerToken) || strings.Contains(l, wrongToken) {
				t.Errorf("%s logged a token typed into the login form: %s", name, l)
			}
		}
	}
}

// writeCandidate writes a candidate rule file for the replay page.
func writeCandidate(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startConsoleStack starts the pipeline with decision recording and the
// console on, installs the demo's rule, creates the demo's alerts and
// waits until both decisions are recorded and the remediation has finished.
func startConsoleStack(t *testing.T) (s *stack.Stack, gc, disk api.Decision) {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := stack.InstallDemoRules(rules, filepath.Join(dir, "duplicator-service.log")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Dir: dir, BinDir: binDir, RulesDir: rules, LoopInterval: 500 * time.Millisecond,
		History: true, Console: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	gcAlert, diskAlert := s.CreateDemoAlerts()

	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := map[string]api.Decision{}
		var list api.DecisionList
		if err := getJSON(s, "/v1/decisions", &list); err != nil {
			last = err.Error()
		} else {
			for _, d := range list.Decisions {
				got[d.AlertID] = d
			}
			last = fmt.Sprintf("%d decisions", len(list.Decisions))
		}
		gc, disk = got[gcAlert.ID], got[diskAlert.ID]
		if gc.ID != "" && disk.ID != "" && len(gc.Executions) == 1 && gc.Executions[0].Status == api.ExecSuccess {
			if err := getJSON(s, "/v1/decisions/"+url.PathEscape(gc.ID), &gc); err != nil {
				t.Fatal(err)
			}
			if err := getJSON(s, "/v1/decisions/"+url.PathEscape(disk.ID), &disk); err != nil {
				t.Fatal(err)
			}
			return s, gc, disk
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's two decisions were not recorded with a successful execution within 90s (last: %s)", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// getJSON reads an action handler path with the viewer's token.
func getJSON(s *stack.Stack, path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, s.ActionHandlerURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.ViewerToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// browser is one headless Chromium tab; every step that fails saves a
// screenshot and the page's HTML as test artifacts.
type browser struct {
	t     *testing.T
	ctx   context.Context
	saved bool // artifacts saved
	n     int  // artifacts saved so far, numbering their files

	mu     sync.Mutex
	errors []string // script exceptions and CSP violations seen
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(logFile),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		logFile.Close()
	})
	// The first Run starts the browser; no timeout on it (it would end
	// the browser with it), the steps have theirs.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("start %s: %v\n%s", chromiumPath, err, log)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not start within 2 minutes", chromiumPath)
	}
	// Registered after the browser's cleanup, so it runs first, while the
	// page is still there.
	t.Cleanup(func() {
		if t.Failed() && !b.saved {
			b.saveArtifacts("")
		}
	})
	return b
}

// step runs actions with a deadline; a failure saves artifacts and ends
// the test.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// submit runs actions that load a new page (a click on a submit button
// or a link), waits until it has loaded and checks its status.
func (b *browser) submit(what string, status int, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.fatalf("%s: %v", what, err)
	}
	if resp.Status != int64(status) {
		b.fatalf("%s: status %d, want %d", what, resp.Status, status)
	}
}

func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatalf("%s: %v", what, err)
	}
	return v
}

// fatalf saves the page as artifacts, then ends the test.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	b.saveArtifacts("")
	b.t.Fatalf(format, args...)
}

// listen keeps the tab's script exceptions and CSP violations.
func (b *browser) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = fmt.Sprintf("exception: %s (%s:%d)", d.Text, d.URL, d.LineNumber)
		if d.Exception != nil && d.Exception.Description != "" {
			msg += ": " + d.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if strings.Contains(ev.Entry.Text, "Content Security Policy") {
			msg = "CSP: " + ev.Entry.Text + " " + ev.Entry.URL
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	}
}

func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) location() string { return run(b, "location", chromedp.Location()) }

func (b *browser) text(css string) string {
	return run(b, "text of "+css, chromedp.Text(chromedp.CSS(css), chromedp.NodeReady))
}

func (b *browser) count(css string) int {
	return run(b, "count "+css, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", css)))
}

// waitRows waits until the timeline shows n rows.
func (b *browser) waitRows(what string, n int) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`document.querySelectorAll("#timeline-rows tr.decision").length === %d`, n),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
}

// sessionCookie is the console's session cookie, nil without one.
func (b *browser) sessionCookie() *network.Cookie {
	b.t.Helper()
	cookies := run(b, "cookies", chromedp.Action[[]*network.Cookie](func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		return r.Cookies, err
	}))
	for _, c := range cookies {
		if c.Name == "alexis_session" {
			return c
		}
	}
	return nil
}

// postForm posts the form with this id from the page with fetch (the
// session cookie goes along), overriding fields, twice: without its csrf
// field, then as it is. It returns both statuses (0 for a redirect).
func (b *browser) postForm(id string, fields map[string]string) [2]int {
	b.t.Helper()
	over, _ := json.Marshal(fields)
	js := fmt.Sprintf(`(async () => {
	  const f = document.getElementById(%q);
	  const body = new URLSearchParams(new FormData(f));
	  for (const [k, v] of Object.entries(%s || {})) body.set(k, v);
	  if (!body.has("csrf")) throw new Error("form %s has no csrf field");
	  const post = b => fetch(f.action, {method: "POST", body: b, credentials: "same-origin", redirect: "manual"}).then(r => r.status);
	  const without = new URLSearchParams(body);
	  without.delete("csrf");
	  const refused = await post(without);
	  return [refused, await post(body)];
	})()`, id, over, id)
	codes := run(b, "post "+id, chromedp.Evaluate[[]int](js, chromedp.EvalAwaitPromise))
	if len(codes) != 2 {
		b.fatalf("post %s: got %v", id, codes)
	}
	return [2]int{codes[0], codes[1]}
}

func (b *browser) screenshotTo(path string) {
	b.t.Helper()
	png := run(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot of the timeline: %s", path)
}

// saveArtifacts writes a screenshot and the page's HTML to
// $ALEXIS_TEST_ARTIFACTS (default deploy/e2e/testdata/artifacts, ignored
// by git), named after the test.
func (b *browser) saveArtifacts(step string) {
	b.saved = true
	b.n++
	if step == "" {
		step = fmt.Sprintf("failure%d", b.n)
	}
	dir := os.Getenv("ALEXIS_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("artifacts: %v", err)
		return
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(b.t.Name()+"-"+step, "_")
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil && !errors.Is(err, context.Canceled) {
		b.t.Logf("artifacts: screenshot: %v", err)
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	for file, data := range map[string][]byte{name + ".jpg": png, name + ".html": []byte(html)} {
		if len(data) == 0 {
			continue
		}
		p, _ := filepath.Abs(filepath.Join(dir, file))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.t.Logf("artifacts: %v", err)
			continue
		}
		b.t.Logf("artifact: %s", p)
	}
}
