package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/tasks"
	"github.com/rs/zerolog"
)

// replayRuleJSON matches alerts tagged tag and runs command on the
// alert's details.host.
func replayRuleJSON(name, tag, command string) string {
	return fmt.Sprintf(`{"rule_name": %q, "enabled": "true", "os_type": "linux", "alert_feed": "OpsGenie",
	 "evaluation_list": [{"evaluation": {"tags": [%q]}}],
	 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"],
	 "task_list": [{"task": {"task_type": "remote_ssh", "action": "restart", "run_command": %q, "template": true}}],
	 "route_to_team": "ops"}`, name, tag, command)
}

func replayAlertJSON(id, tag, service string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "tinyId": id, "message": "trouble", "tags": []string{tag},
		"details": map[string]string{"host": "web01.example.com", "service": service},
		"alexis":  map[string]string{"unique_key": "tinyId", "unique_value": id, "feed_type": "OpsGenie", "feed_name": "incoming"}})
	return b
}

type replayEnv struct {
	*env
	m    *metrics.Metrics
	logs *syncBuf
	n    int
}

// newReplayEnv is the console with the replay service over its store.
func newReplayEnv(t *testing.T, runner replay.Runner) *replayEnv {
	t.Helper()
	rs, err := tasks.Runners(tasks.All(), task.Env{})
	if err != nil {
		t.Fatal(err)
	}
	r := &replayEnv{m: metrics.New("actionhandler"), logs: &syncBuf{}}
	r.env = newEnv(t, func(o *Options) {
		if runner == nil {
			runner = replay.New(replay.Options{Store: o.Store.(*store.SQL), Runners: rs})
		}
		o.Replay = replay.NewService(replay.ServiceOptions{Replayer: runner, Metrics: r.m, Log: zerolog.New(r.logs)})
	})
	return r
}

// decided records a decision a minute apart for payload, with summary:
// matched by the rules executed (each with an execution), else unmatched.
func (r *replayEnv) decided(payload []byte, summary string, executed ...string) string {
	t := r.t
	t.Helper()
	r.n++
	env, err := alert.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	d := api.Decision{ID: fmt.Sprintf("%032x", r.n), ReceivedAt: r.clock.Now().Add(-time.Duration(10-r.n) * time.Minute),
		FeedType: env.Meta.FeedType, FeedName: env.Meta.FeedName, AlertID: env.ID(), UniqueValue: env.Meta.UniqueValue,
		Summary: summary, Result: api.ResultUnmatched, Payload: payload}
	for i, data := range executed {
		def, err := rule.Parse([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		req, err := json.Marshal(&action.Request{Alert: env, Rule: def})
		if err != nil {
			t.Fatal(err)
		}
		x := &store.Execution{ID: fmt.Sprintf("x%d-%d", r.n, i), AlertID: env.ID(), UniqueValue: env.Meta.UniqueValue,
			FeedType: env.Meta.FeedType, FeedName: env.Meta.FeedName, RuleName: def.Name, Client: "classifier",
			Request: req, Entities: []string{"web01.example.com"}}
		if _, _, err := r.st.Create(ctx, x, time.Hour); err != nil {
			t.Fatal(err)
		}
		d.Result = api.ResultMatched
		d.Matched = append(d.Matched, api.MatchedAction{RuleName: def.Name, ExecutionID: x.ID, Status: "accepted"})
	}
	if err := r.st.RecordDecisions(ctx, []api.Decision{d}); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

type upload struct{ name, content string }

// postReplay sends the replay form as a browser would: multipart, the
// files in field "rules".
func (r *replayEnv) postReplay(c *http.Client, fields url.Values, files ...upload) (*http.Response, string) {
	r.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	for _, f := range files {
		fw, err := w.CreateFormFile("rules", f.name)
		if err != nil {
			r.t.Fatal(err)
		}
		_, _ = io.WriteString(fw, f.content)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/console/replay", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (r *replayEnv) count(outcome string) float64 {
	r.t.Helper()
	mfs, err := r.m.Registry.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if mf.GetName() == "actionhandler_replays_total" && len(s.GetLabel()) == 1 && s.GetLabel()[0].GetValue() == outcome {
				return s.GetCounter().GetValue()
			}
		}
	}
	r.t.Fatalf("no actionhandler_replays_total{outcome=%q}", outcome)
	return 0
}

func (r *replayEnv) replayLines() []string {
	var out []string
	for _, l := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(l, `"event":"replay"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestReplayPage: the form, then a replay of candidate files showing a
// newly matched alert (its attacker-written summary escaped), changed
// commands and a refused value, counted and logged as the API's are.
func TestReplayPage(t *testing.T) {
	r := newReplayEnv(t, nil)
	restart := replayRuleJSON("restart_app", "app-down", "systemctl restart nginx")
	newly := r.decided(replayAlertJSON("a1", "mem", "java"), `<script>alert("x")</script> memory`)
	changed := r.decided(replayAlertJSON("a2", "app-down", "redis"), "redis down", restart)
	r.decided(replayAlertJSON("a3", "app-down", "nginx; rm -rf /"), "nginx down", restart)
	r.decided(replayAlertJSON("a4", "nothing", "x"), "quiet")

	c := r.login(readToken)
	resp, body := r.get(c, "/console/replay")
	for _, want := range []string{`id="replay-form"`, `enctype="multipart/form-data"`, `name="rules" type="file" multiple accept=".json`,
		`name="limit" type="number" min="1" max="10000" value="1000"`, `<option value="7d" selected>`,
		"Nothing runs and nothing is written", `href="/console/replay" aria-current="page"`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("form lacks %s: %d\n%s", want, resp.StatusCode, body)
		}
	}
	token := csrfOf(t, body[strings.Index(body, `id="replay-form"`):])
	files := []upload{
		{"mem.json", replayRuleJSON("mem_hog", "mem", "systemctl restart {{ .details.service }}")},
		{"restart.json", replayRuleJSON("restart_app", "app-down", "systemctl restart {{ .details.service }}")},
	}

	t.Run("no csrf", func(t *testing.T) {
		resp, body := r.postReplay(c, url.Values{"range": {"24h"}}, files...)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		resp, _ = r.postReplay(c, url.Values{"csrf": {"forged"}}, files...)
		if resp.StatusCode != http.StatusForbidden || len(r.replayLines()) != 0 {
			t.Errorf("forged csrf: %d, logged %q", resp.StatusCode, r.replayLines())
		}
	})

	resp, body = r.postReplay(c, url.Values{"csrf": {token}, "range": {"24h"}, "limit": {"50"}}, files...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`id="replay-result"`, "4 recorded alerts read", "4 replayed: 3 would be decided otherwise, 1 unchanged",
		`<td class="replay-count-newly_matched">1</td>`, `<td class="replay-count-command_changed">2</td>`,
		`<td class="replay-count-unmatched">0</td>`, `<td class="replay-count-unchanged">1</td>`,
		`id="replay-table-newly_matched"`, `id="replay-table-command_changed"`,
		`<a href="/console/alerts/` + newly + `">a1</a>`, `<a href="/console/alerts/` + changed + `">a2</a>`,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; memory`,
		// Before: the rule as executed; after: the candidate, for the alert.
		`<code>run &#39;systemctl restart nginx&#39;</code>`,
		`<code>run &#39;systemctl restart &#39;redis&#39;&#39;</code>`,
		`<code>run &#39;systemctl restart &#39;java&#39;&#39;</code>`,
		`<span class="chip chip-failure">refused</span>`, "value of details.service refused",
		`value="50"`, `<option value="24h" selected>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("result lacks %s", want)
		}
	}
	if strings.Contains(body, `<script>alert(`) || strings.Contains(body, "replay-truncated") {
		t.Errorf("unescaped summary or truncated warning:\n%s", body)
	}
	lines := r.replayLines()
	if len(lines) != 1 || !strings.Contains(lines[0], `"client":"reader"`) || !strings.Contains(lines[0], `"path":"/console/replay"`) ||
		!strings.Contains(lines[0], `"changes":3`) || !strings.Contains(lines[0], `"count":2`) || strings.Contains(lines[0], "systemctl") {
		t.Errorf("log %q", lines)
	}
	if n := r.count(replay.OutcomeChanged); n != 1 {
		t.Errorf("replays_total{outcome=changed} = %v", n)
	}

	// Limit 1: the newest only, with the warning.
	resp, body = r.postReplay(c, url.Values{"csrf": {token}, "limit": {"1"}}, files...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="replay-truncated"`) || !strings.Contains(body, "1 recorded alerts read") {
		t.Errorf("limit 1: %d %s", resp.StatusCode, body)
	}
	if n := r.count(replay.OutcomeUnchanged); n != 1 {
		t.Errorf("replays_total{outcome=unchanged} = %v", n)
	}
}

// TestReplayRefused: bad input is a page naming the file and field (400)
// or the limit (413), counted refused, never replayed.
func TestReplayRefused(t *testing.T) {
	r := newReplayEnv(t, nil)
	c := r.login(readToken)
	_, body := r.get(c, "/console/replay")
	token := csrfOf(t, body)
	good := replayRuleJSON("mem_hog", "mem", "uptime")
	badTask := strings.Replace(good, `"task_type": "remote_ssh"`, `"task_type": "teleport"`, 1)
	many := make([]upload, rules.MaxFiles+1)
	for i := range many {
		many[i] = upload{fmt.Sprintf("r%03d.json", i), "{}"}
	}
	form := url.Values{"csrf": {token}}
	for _, tc := range []struct {
		name   string
		fields url.Values
		files  []upload
		code   int
		want   string
	}{
		{"bad rule file", form, []upload{{"a.json", good}, {"b.json", badTask}}, 400, "rules: b.json: task_list[0].task.task_type"},
		{"not JSON", form, []upload{{"a.json", "{nope"}}, 400, "rules: a.json: $"},
		{"not a json file name", form, []upload{{"a.yaml", good}}, 400, "end in .json"},
		{"file given twice", form, []upload{{"a.json", good}, {"a.json", good}}, 400, `rules: file &#34;a.json&#34; given twice`},
		{"no files", form, nil, 400, "rules: required"},
		{"bad limit", url.Values{"csrf": {token}, "limit": {"10001"}}, []upload{{"a.json", good}}, 400, "limit: want 1 to 10000"},
		{"bad range", url.Values{"csrf": {token}, "range": {"1y"}}, []upload{{"a.json", good}}, 400, "range: want 24h, 7d, 30d or custom"},
		{"custom without since", url.Values{"csrf": {token}, "range": {"custom"}}, []upload{{"a.json", good}}, 400, "since: required"},
		{"too many files", form, many, 413, "rules: 501 files, at most 500"},
		{"file too large", form, []upload{{"big.json", strings.Repeat(" ", rules.MaxFileSize+1)}}, 413,
			"rules: &#34;big.json&#34;: larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := r.count(replay.OutcomeRefused)
			resp, body := r.postReplay(c, tc.fields, tc.files...)
			if resp.StatusCode != tc.code || !strings.Contains(body, `id="error-message"`) || !strings.Contains(body, tc.want) {
				t.Errorf("%d, want %d with %q:\n%s", resp.StatusCode, tc.code, tc.want, body)
			}
			if n := r.count(replay.OutcomeRefused) - refused; n != 1 {
				t.Errorf("refused counted %v times", n)
			}
		})
	}
	t.Run("body too large", func(t *testing.T) {
		files := make([]upload, 17)
		for i := range files {
			files[i] = upload{fmt.Sprintf("r%02d.json", i), strings.Repeat(" ", rules.MaxFileSize)}
		}
		resp, body := r.postReplay(c, form, files...)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `id="error-message"`) ||
			!strings.Contains(body, "The form is larger than 16777216 bytes") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	if lines := r.replayLines(); len(lines) != 0 {
		t.Errorf("a refused replay logged as done: %q", lines)
	}
}

// TestReplayBodyUnknownLength: a form that does not declare its length is
// cut at the limit and answered with the page too.
func TestReplayBodyUnknownLength(t *testing.T) {
	r := newReplayEnv(t, nil)
	c := r.login(readToken)
	_, body := r.get(c, "/console/replay")
	token := csrfOf(t, body)
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("csrf", token)
	fw, _ := w.CreateFormFile("rules", "big.json")
	_, _ = fw.Write(bytes.Repeat([]byte(" "), replay.MaxBody))
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/console/replay", io.MultiReader(&b)) // no length
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if req.ContentLength != 0 || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(out), "The form is larger than") {
		t.Errorf("%d %s", resp.StatusCode, out)
	}
}

// TestReplayNeedsScopeRead: a session whose token lacks scope read
// cannot use the page (login refuses such a token; a session made
// without it is refused all the same), nor does one without a session.
func TestReplayNeedsScopeRead(t *testing.T) {
	r := newReplayEnv(t, nil)
	if resp, _ := r.tryLogin(r.client(), actToken); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("metrics-only token logged in: %d", resp.StatusCode)
	}
	anon := r.client()
	if resp, _ := r.get(anon, "/console/replay"); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("no session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	v, d := r.h.s.issue("scraper", "metrics")
	c := r.client()
	u, _ := url.Parse(r.srv.URL + "/console/")
	c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: v, Path: "/console"}})
	if resp, body := r.get(c, "/console/replay"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "scope read") {
		t.Errorf("GET without scope read: %d %s", resp.StatusCode, body)
	}
	resp, body := r.postReplay(c, url.Values{"csrf": {r.h.s.csrf(d)}}, upload{"a.json", replayRuleJSON("mem_hog", "mem", "uptime")})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "scope read") || len(r.replayLines()) != 0 {
		t.Errorf("POST without scope read: %d %s", resp.StatusCode, body)
	}
}

// holdingRunner holds every replay until released.
type holdingRunner struct{ started, release chan struct{} }

func (h *holdingRunner) Replay(ctx context.Context, req replay.Request) (*replay.Report, error) {
	h.started <- struct{}{}
	<-h.release
	return &replay.Report{Counts: map[string]int{}, Differences: []replay.Difference{}}, nil
}

// TestReplayBusy: with replay.MaxRunning replays running, the page says
// to try again (429), counted busy.
func TestReplayBusy(t *testing.T) {
	hr := &holdingRunner{started: make(chan struct{}), release: make(chan struct{})}
	r := newReplayEnv(t, hr)
	c := r.login(readToken)
	_, body := r.get(c, "/console/replay")
	token := csrfOf(t, body)
	f := upload{"a.json", replayRuleJSON("mem_hog", "mem", "uptime")}
	done := make(chan int, replay.MaxRunning)
	for range replay.MaxRunning {
		go func() {
			resp, _ := r.postReplay(c, url.Values{"csrf": {token}}, f)
			done <- resp.StatusCode
		}()
		<-hr.started
	}
	resp, body := r.postReplay(c, url.Values{"csrf": {token}}, f)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "try again") {
		t.Errorf("busy: %d %s", resp.StatusCode, body)
	}
	if n := r.count(replay.OutcomeBusy); n != 1 {
		t.Errorf("busy counted %v", n)
	}
	close(hr.release)
	for range replay.MaxRunning {
		if code := <-done; code != http.StatusOK {
			t.Errorf("held replay: %d", code)
		}
	}
}
