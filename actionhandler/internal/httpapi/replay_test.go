package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/tasks"
)

func replayRule(name, tag string) string {
	return fmt.Sprintf(`{"rule_name": %q, "enabled": "true", "os_type": "linux", "alert_feed": "OpsGenie",
	 "evaluation_list": [{"evaluation": {"tags": [%q]}}],
	 "entity_type": "explicit", "entities": ["web01.example.com"],
	 "task_list": [{"task": {"task_type": "remote_ssh", "action": "restart", "run_command": "systemctl restart app"}}],
	 "route_to_team": "ops"}`, name, tag)
}

// newReplayAPI is the API with replay and n unmatched decisions of alerts
// tagged mem recorded, one a minute, the last at now.
func newReplayAPI(t testing.TB, n int, now time.Time) *apiFixture {
	t.Helper()
	var a *apiFixture
	m := metrics.New("actionhandler")
	rs, err := tasks.Runners(tasks.All(), task.Env{})
	if err != nil {
		t.Fatal(err)
	}
	a = newAPIWith(t, "", func(h *Handler) {
		h.Now = func() time.Time { return now }
		h.Replay = replay.NewService(replay.ServiceOptions{Replayer: replay.New(replay.Options{Store: h.Store.(replay.Source), Runners: rs}),
			Metrics: m, Log: h.Log})
	})
	a.replays = m
	var ds []api.Decision
	for i := range n {
		id := fmt.Sprintf("a%d", i)
		ds = append(ds, api.Decision{ID: fmt.Sprintf("%032x", i+1), ReceivedAt: now.Add(-time.Duration(n-1-i) * time.Minute),
			FeedType: "OpsGenie", AlertID: id, UniqueValue: id, Summary: "memory on web01", Result: api.ResultUnmatched,
			Payload: json.RawMessage(`{"id": "` + id + `", "tags": ["mem"], "alexis": {"unique_key": "id", "unique_value": "` + id +
				`", "feed_type": "OpsGenie", "feed_name": "incoming"}}`)})
	}
	if err := a.st.RecordDecisions(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	return a
}

func replayBody(t *testing.T, files map[string]string, extra string) string {
	t.Helper()
	b, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	return `{"rules": ` + string(b) + extra + `}`
}

func TestReplayAnswer(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	a := newReplayAPI(t, 3, now)
	body := replayBody(t, map[string]string{"mem.json": replayRule("mem_hog", "mem"), "cpu.json": replayRule("cpu_hog", "cpu")},
		`, "since": "90s"`)
	code, out := a.do(http.MethodPost, "/v1/replay", token, body)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, out)
	}
	var rep api.ReplayAnswer
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	// since 90s: the two newest decisions.
	if rep.Decisions != 2 || rep.Replayed != 2 || rep.Counts[api.ReplayNewlyMatched] != 2 || rep.Counts[api.ReplayUnmatched] != 0 ||
		rep.Truncated || len(rep.Differences) != 2 || !rep.Since.Equal(now.Add(-90*time.Second)) {
		t.Fatalf("answer %s", out)
	}
	d := rep.Differences[0]
	if d.Kind != api.ReplayNewlyMatched || d.AlertID != "a2" || d.Summary != "memory on web01" || d.BeforeResult != "unmatched" ||
		d.AfterResult != "matched" || len(d.After) != 1 || d.After[0].RuleName != "mem_hog" || d.After[0].File != "mem.json" {
		t.Errorf("difference %+v", d)
	}
	lines := replayLines(a)
	if len(lines) != 1 || !strings.Contains(lines[0], "client=oncall") || !strings.Contains(lines[0], "decisions=2") ||
		!strings.Contains(lines[0], "changes=2") || strings.Contains(lines[0], "systemctl") {
		t.Errorf("log %q", lines)
	}

	// Limit 1: the newest, truncated.
	code, out = a.do(http.MethodPost, "/v1/replay", token, replayBody(t, map[string]string{"mem.json": replayRule("mem_hog", "mem")}, `, "limit": 1`))
	if err := json.Unmarshal(out, &rep); err != nil || code != http.StatusOK || !rep.Truncated || rep.Decisions != 1 ||
		rep.Differences[0].AlertID != "a2" {
		t.Errorf("limit 1: %d %s", code, out)
	}
	// The same rules as what happened (none matched, none matches): no change.
	code, out = a.do(http.MethodPost, "/v1/replay", token, replayBody(t, map[string]string{"cpu.json": replayRule("cpu_hog", "cpu")}, ""))
	if err := json.Unmarshal(out, &rep); err != nil || code != http.StatusOK || rep.Changes() != 0 || rep.Unchanged != 3 ||
		rep.Differences == nil {
		t.Errorf("unchanged: %d %s", code, out)
	}
	if c, u := replayCount(t, a.replays, replay.OutcomeChanged), replayCount(t, a.replays, replay.OutcomeUnchanged); c != 2 || u != 1 {
		t.Errorf("replays_total changed %v unchanged %v, want 2 and 1", c, u)
	}
	if !strings.Contains(a.logs.String(), "path=/v1/replay") {
		t.Errorf("the replay log line does not say where it was asked: %s", a.logs)
	}
}

func TestReplayBadRequests(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	a := newReplayAPI(t, 1, now)
	good := replayRule("mem_hog", "mem")
	badTask := strings.Replace(good, `"task_type": "remote_ssh"`, `"task_type": "teleport"`, 1)
	for _, tc := range []struct {
		name        string
		body        string
		status      int
		errSubstr   string
		file, field string
	}{
		{name: "bad rule file", body: replayBody(t, map[string]string{"a.json": good, "b.json": badTask}, ""),
			status: 400, errSubstr: "b.json: task_list[0].task.task_type", file: "b.json", field: "task_list[0].task.task_type"},
		{name: "not JSON rule", body: replayBody(t, map[string]string{"a.json": "{nope"}, ""), status: 400, errSubstr: "a.json: $", file: "a.json", field: "$"},
		{name: "duplicate rule_name", body: replayBody(t, map[string]string{"a.json": good, "b.json": good}, ""),
			status: 400, errSubstr: `duplicate rule_name "mem_hog", first defined in a.json`, file: "b.json", field: "rule_name"},
		{name: "file given twice", body: `{"rules": {"a.json": "{}", "a.json": "{}"}}`, status: 400, errSubstr: `file "a.json" given twice`, file: "a.json"},
		{name: "content not a string", body: `{"rules": {"a.json": {"rule_name": "x"}}}`, status: 400, errSubstr: `"a.json": want the file's content as a string`, file: "a.json"},
		{name: "bad file name", body: replayBody(t, map[string]string{"../a.json": good}, ""), status: 400, errSubstr: "a file name, not a path"},
		{name: "not json file name", body: replayBody(t, map[string]string{"a.yaml": good}, ""), status: 400, errSubstr: "end in .json"},
		{name: "no rules", body: `{"since": "7d"}`, status: 400, errSubstr: "rules: required"},
		{name: "unknown field", body: replayBody(t, map[string]string{"a.json": good}, `, "dry": true`), status: 400, errSubstr: `unknown field "dry"`},
		{name: "bad since", body: replayBody(t, map[string]string{"a.json": good}, `, "since": "yesterday"`), status: 400, errSubstr: "since: want a positive duration"},
		{name: "bad until", body: replayBody(t, map[string]string{"a.json": good}, `, "until": "-1h"`), status: 400, errSubstr: "until:"},
		{name: "until before since", body: replayBody(t, map[string]string{"a.json": good}, `, "since": "1h", "until": "2h"`), status: 400, errSubstr: "until: must be after since"},
		{name: "limit too high", body: replayBody(t, map[string]string{"a.json": good}, `, "limit": 10001`), status: 400, errSubstr: "limit: want 1..10000"},
		{name: "limit negative", body: replayBody(t, map[string]string{"a.json": good}, `, "limit": -1`), status: 400, errSubstr: "limit:"},
		{name: "limit not a number", body: replayBody(t, map[string]string{"a.json": good}, `, "limit": "9"`), status: 400, errSubstr: "limit: want int"},
		{name: "file too large", body: replayBody(t, map[string]string{"big.json": strings.Repeat(" ", rules.MaxFileSize+1)}, ""),
			status: 413, errSubstr: `"big.json": larger than 1048576 bytes`, file: "big.json"},
		{name: "body too large", body: replayBody(t, map[string]string{"a.json": strings.Repeat(" ", MaxReplayBody)}, ""),
			status: 413, errSubstr: "body larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := replayCount(t, a.replays, replay.OutcomeRefused)
			code, out := a.do(http.MethodPost, "/v1/replay", token, tc.body)
			// The server's body limit refuses a body too large before the
			// handler sees it (and counts it in http_requests_total).
			if n := replayCount(t, a.replays, replay.OutcomeRefused) - refused; n != 1 && tc.name != "body too large" {
				t.Errorf("refused counted %v times", n)
			}
			var e api.Error
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatalf("%d %s", code, out)
			}
			if code != tc.status || !strings.Contains(e.Error, tc.errSubstr) || e.File != tc.file || e.Field != tc.field {
				t.Errorf("%d %+v, want %d %q file %q field %q", code, e, tc.status, tc.errSubstr, tc.file, tc.field)
			}
		})
	}
	many := map[string]string{}
	for i := range rules.MaxFiles + 1 {
		many[fmt.Sprintf("r%03d.json", i)] = "{}"
	}
	if code, out := a.do(http.MethodPost, "/v1/replay", token, replayBody(t, many, "")); code != http.StatusRequestEntityTooLarge ||
		!strings.Contains(string(out), "501 files, at most 500") {
		t.Errorf("too many files: %d %s", code, out)
	}
	if lines := replayLines(a); len(lines) != 0 {
		t.Errorf("a refused replay logged as done: %q", lines)
	}
}

// blockingReplayer holds every replay until released, saying when one
// has started.
type blockingReplayer struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingReplayer) Replay(ctx context.Context, req replay.Request) (*replay.Report, error) {
	b.started <- struct{}{}
	<-b.release
	return &replay.Report{Counts: map[string]int{}, Differences: []replay.Difference{}}, nil
}

// TestReplayBusy: past MaxReplays at once, 429 with Retry-After, counted
// busy; a slot freed serves the next.
func TestReplayBusy(t *testing.T) {
	b := &blockingReplayer{started: make(chan struct{}), release: make(chan struct{})}
	m := metrics.New("actionhandler")
	a := newAPIWith(t, "", func(h *Handler) {
		h.Replay = replay.NewService(replay.ServiceOptions{Replayer: b, Metrics: m, Log: h.Log})
	})
	body := replayBody(t, map[string]string{"mem.json": replayRule("mem_hog", "mem")}, "")
	done := make(chan int, MaxReplays)
	for range MaxReplays {
		go func() {
			code, _ := a.do(http.MethodPost, "/v1/replay", token, body)
			done <- code
		}()
		<-b.started // running, holding its slot
	}
	req := httpRequest(http.MethodPost, "/v1/replay", token, body)
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "replays are running") {
		t.Fatalf("busy: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if n := replayCount(t, m, replay.OutcomeBusy); n != 1 {
		t.Errorf("busy counted %v", n)
	}
	b.release <- struct{}{} // one ends: its slot is free
	if code := <-done; code != http.StatusOK {
		t.Fatalf("held replay: %d", code)
	}
	go func() {
		code, _ := a.do(http.MethodPost, "/v1/replay", token, body)
		done <- code
	}()
	<-b.started // a freed slot serves the next
	close(b.release)
	for range MaxReplays {
		if code := <-done; code != http.StatusOK {
			t.Fatalf("after a slot freed: %d", code)
		}
	}
	if n := replayCount(t, m, replay.OutcomeUnchanged); n != 3 {
		t.Errorf("unchanged counted %v, want 3", n)
	}
}

// replayCount is actionhandler_replays_total{outcome} in m.
func replayCount(t testing.TB, m *metrics.Metrics, outcome string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "actionhandler_replays_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no actionhandler_replays_total{outcome=%q}", outcome)
	return 0
}

func replayLines(a *apiFixture) []string {
	var out []string
	for _, l := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(l, "event=replay ") || strings.HasSuffix(l, "event=replay") {
			out = append(out, l)
		}
	}
	return out
}

// FuzzReplay: whatever the body, POST /v1/replay answers 200, 400 or
// 413 with a JSON error, never an error of its own.
func FuzzReplay(f *testing.F) {
	good := replayRule("mem_hog", "mem")
	for _, s := range []string{
		mustReplayBody(map[string]string{"mem.json": good}, `, "since": "7d", "limit": 5`),
		mustReplayBody(map[string]string{"mem.json": good, "b.json": `{"rule_name": 1}`}, ""),
		`{"rules": {"a.json": "{}", "a.json": "[]"}}`,
		`{"rules": {"a.json": null}, "until": "2026-12-01T00:00:00Z"}`,
		`{"rules": []}`, `[]`, `{"rules": {"../x.json": "{}"}}`,
	} {
		f.Add(s)
	}
	a := newReplayAPI(f, 2, time.Now().UTC().Truncate(time.Second))
	f.Fuzz(func(t *testing.T, body string) {
		code, resp := a.do(http.MethodPost, "/v1/replay", token, body)
		var e api.Error
		switch code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if err := json.Unmarshal(resp, &e); err != nil || e.Error == "" {
				t.Fatalf("%d without a JSON error: %s", code, resp)
			}
		default:
			t.Fatalf("%d %s", code, resp)
		}
	})
}

func mustReplayBody(files map[string]string, extra string) string {
	b, err := json.Marshal(files)
	if err != nil {
		panic(err)
	}
	return `{"rules": ` + string(b) + extra + `}`
}
