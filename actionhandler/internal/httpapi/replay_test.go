package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/shared/api"
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
	rs, err := tasks.Runners(tasks.All(), task.Env{})
	if err != nil {
		t.Fatal(err)
	}
	a = newAPIWith(t, "", func(h *Handler) {
		h.Now = func() time.Time { return now }
		h.Replay = replay.New(replay.Options{Store: h.Store.(replay.Source), Runners: rs})
	})
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
			code, out := a.do(http.MethodPost, "/v1/replay", token, tc.body)
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

// TestReplayBusy: past MaxReplays at once, 429 with Retry-After; a slot
// freed serves the next.
func TestReplayBusy(t *testing.T) {
	var h *Handler
	a := newAPIWith(t, "", func(hh *Handler) {
		h = hh
		h.Replay = replay.New(replay.Options{Store: hh.Store.(replay.Source)})
	})
	for range MaxReplays {
		h.replaySlots <- struct{}{} // replays running
	}
	body := replayBody(t, map[string]string{"mem.json": replayRule("mem_hog", "mem")}, "")
	req := httpRequest(http.MethodPost, "/v1/replay", token, body)
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "replays are running") {
		t.Fatalf("busy: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	<-h.replaySlots
	if code, out := a.do(http.MethodPost, "/v1/replay", token, body); code != http.StatusOK {
		t.Fatalf("a slot free: %d %s", code, out)
	}
	if len(h.replaySlots) != MaxReplays-1 {
		t.Errorf("slot not given back: %d held", len(h.replaySlots))
	}
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
