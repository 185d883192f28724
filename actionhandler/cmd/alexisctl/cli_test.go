package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
)

var t0 = time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func execution(id, status, rule string, hosts ...string) api.Execution {
	return api.Execution{ID: id, Status: status, AlertID: "alert-" + id, UniqueValue: "17" + id, FeedType: "OpsGenie",
		FeedName: "incoming", RuleName: rule, Client: "oncall", Entities: hosts, CreatedAt: t0,
		StartedAt: ptr(t0.Add(time.Second)), FinishedAt: ptr(t0.Add(3 * time.Second))}
}

func TestExecutionsListTable(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/executions", 200, mustJSON(api.ExecutionList{Executions: []api.Execution{
		execution("e1", api.ExecSuccess, "restart_duplicator", "app01.example.com"),
		execution("e2-longer-id", api.ExecFailure, "disk", "db01", "db02"),
	}}))
	r := cli(t, f.env(t), "executions", "list", "-rule", "disk", "-host", "db01", "-status", "failure", "-since", "24h", "-limit", "7")
	if r.code != 0 {
		t.Fatal(r)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", r)
	}
	header := regexp.MustCompile(`^ID\s+STATUS\s+RULE\s+HOSTS\s+ALERT\s+CREATED\s+DURATION$`)
	if !header.MatchString(lines[0]) {
		t.Errorf("header %q", lines[0])
	}
	// Aligned: every column starts at the same offset on every line.
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("column STATUS not aligned at %d in %q", col, l)
		}
	}
	for _, want := range []string{"e2-longer-id", "failure", "db01,db02", "2026-12-02 18:00:00", "2s", "restart_duplicator"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	reqs := f.received()
	q, _ := url.ParseQuery(reqs[0].query)
	since, err := time.Parse(time.RFC3339, q.Get("since"))
	if err != nil || time.Since(since) < 23*time.Hour || time.Since(since) > 25*time.Hour {
		t.Errorf("since=%q", q.Get("since"))
	}
	q.Del("since")
	want := url.Values{"rule_name": {"disk"}, "entity": {"db01"}, "status": {"failure"}, "limit": {"7"}}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("query %v, want %v", q, want)
	}
}

func TestExecutionsListJSONIsTheAPIs(t *testing.T) {
	f := newFake(t)
	body := mustJSON(api.ExecutionList{Executions: []api.Execution{execution("e1", api.ExecSuccess, "r", "h")}, NextCursor: "c2"})
	f.handle("GET /v1/executions", 200, body)
	r := cli(t, f.env(t), "-o", "json", "executions", "list", "-limit", "1")
	if r.code != 0 {
		t.Fatal(r)
	}
	var got, want any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r)
	}
	json.Unmarshal([]byte(body), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s\nwant %s", r.stdout, body)
	}
	if !strings.Contains(r.stderr, "more executions") {
		t.Errorf("no hint that more pages exist: %s", r.stderr)
	}
}

func TestExecutionsListFollowsCursor(t *testing.T) {
	f := newFake(t)
	f.handleFunc("GET /v1/executions", func(w http.ResponseWriter, r *http.Request) {
		page := api.ExecutionList{}
		switch r.URL.Query().Get("cursor") {
		case "":
			page = api.ExecutionList{Executions: []api.Execution{execution("a1", "success", "r"), execution("a2", "success", "r")}, NextCursor: "p2"}
		case "p2":
			page = api.ExecutionList{Executions: []api.Execution{execution("b1", "failure", "r"), execution("b2", "success", "r")}, NextCursor: "p3"}
		case "p3":
			page = api.ExecutionList{Executions: []api.Execution{execution("c1", "success", "r")}}
		}
		answer(w, 200, mustJSON(page))
	})
	r := cli(t, f.env(t), "executions", "list", "-all", "-o", "json")
	if r.code != 0 {
		t.Fatal(r)
	}
	var got api.ExecutionList
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range got.Executions {
		ids = append(ids, x.ID)
	}
	if strings.Join(ids, ",") != "a1,a2,b1,b2,c1" || got.NextCursor != "" {
		t.Errorf("ids %v cursor %q", ids, got.NextCursor)
	}
	// -limit 3: pages until 3, asking only for what is missing.
	before := len(f.received())
	r = cli(t, f.env(t), "executions", "list", "-limit", "3")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 4 {
		t.Fatalf("want 3 rows:\n%s", r)
	}
	reqs := f.received()[before:]
	if len(reqs) != 2 || !strings.Contains(reqs[0].query, "limit=3") || !strings.Contains(reqs[1].query, "limit=1") {
		t.Errorf("requests %+v", reqs)
	}
}

func TestExitCodes(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/executions/{id}", 404, `{"error":"no execution \"nope\""}`)
	f.handle("GET /v1/executions", 400, `{"error":"status: unknown status \"x\""}`)
	f.handle("GET /v1/rules", 500, `{"error":"rules unavailable"}`)
	f.handle("GET /v1/decisions", 403, `{"error":"token \"bob\" lacks scope \"read\"","missing_scope":"read"}`)
	f.handle("GET /v1/decisions/{id}", 503, `oops`)

	closed := httptest503Closed(t)
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{name: "ok", args: []string{"version"}, code: 0},
		{name: "not found", args: []string{"executions", "show", "nope"}, code: 3, stderr: `404 no execution "nope"`},
		{name: "bad filter", args: []string{"executions", "list", "-status", "x"}, code: 2, stderr: "unknown status"},
		{name: "5xx", args: []string{"rules", "list"}, code: 5, stderr: "500 rules unavailable"},
		{name: "503 not json", args: []string{"alerts", "show", "d1"}, code: 5, stderr: "503 Service Unavailable"},
		{name: "missing scope", args: []string{"alerts", "list"}, code: 4, stderr: `lacks scope "read"`},
		{name: "wrong token", env: map[string]string{"ALEXIS_TOKEN_FILE": writeFile(t, "other", "not-the-token-00000000")},
			args: []string{"executions", "list"}, code: 4, stderr: "refused the token (401"},
		{name: "unreachable", env: map[string]string{"ALEXIS_URL": closed}, args: []string{"executions", "list"}, code: 5, stderr: "cannot reach the action handler"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "no subcommand", args: []string{"executions"}, code: 2, stderr: "want a subcommand: list, show, watch"},
		{name: "unknown flag", args: []string{"executions", "list", "-token", "x"}, code: 2, stderr: "flag provided but not defined: -token"},
		{name: "no url", env: map[string]string{"ALEXIS_URL": ""}, args: []string{"executions", "list"}, code: 2, stderr: "set ALEXIS_URL or give -url"},
		{name: "url with password", env: map[string]string{"ALEXIS_URL": "http://u:secretpw@127.0.0.1:1"}, args: []string{"executions", "list"}, code: 2, stderr: "must not hold credentials"},
		{name: "no token file", env: map[string]string{"ALEXIS_TOKEN_FILE": ""}, args: []string{"executions", "list"}, code: 2, stderr: "no token file"},
		{name: "bad output", args: []string{"executions", "list", "-o", "yaml"}, code: 2, stderr: "-o: want table or json"},
		{name: "bad since", args: []string{"executions", "list", "-since", "yesterday"}, code: 2, stderr: "-since"},
		{name: "no id", args: []string{"executions", "show"}, code: 2, stderr: "want one execution ID"},
		{name: "zero timeout", args: []string{"executions", "list", "-timeout", "0s"}, code: 2, stderr: "-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := f.env(t)
			for k, v := range tc.env {
				env[k] = v
			}
			r := cli(t, env, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q\n%s", tc.stderr, r)
			}
			if strings.Contains(r.stderr, "secretpw") {
				t.Errorf("a password in the URL was printed\n%s", r)
			}
			noToken(t, r)
		})
	}
}

// httptest503Closed is the URL of a port nothing listens on.
func httptest503Closed(t *testing.T) string {
	f := newFake(t)
	u := f.srv.URL
	f.srv.Close()
	return u
}

// hostile is what a hostile alert or command output may hold: ANSI CSI
// (clear screen, colours), OSC (window title, hyperlinks; BEL-ended), a
// carriage return that hides what came before, a bidi override, C1 CSI
// and an invalid byte.
const hostile = "evil\x1b[2J\x1b]0;pwned\x07\r\u202eoverride\u009b31m\xff\x7fend"

// unsafeOut fails if printed text holds any raw terminal control.
func unsafeOut(t *testing.T, what, s string) {
	t.Helper()
	for i, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x202e {
			t.Errorf("%s holds %U at %d:\n%q", what, r, i, s)
			return
		}
	}
	if strings.Contains(s, "\xff") {
		t.Errorf("%s holds an invalid byte: %q", what, s)
	}
}

func TestHostileStringsSanitised(t *testing.T) {
	f := newFake(t)
	x := execution("e1", api.ExecFailure, "rule"+hostile, "host"+hostile)
	x.Reason = hostile
	x.Steps = []api.Step{{TaskIndex: 0, Entity: "host" + hostile, TaskType: "remote_ssh", Action: hostile,
		Command: "echo " + hostile, Status: api.ExecFailure, ExitCode: ptr(1), Stdout: "line1\n" + hostile + "\nline3",
		Stderr: hostile, Error: hostile}}
	f.handle("GET /v1/executions", 200, mustJSON(api.ExecutionList{Executions: []api.Execution{x}}))
	f.handle("GET /v1/executions/{id}", 200, mustJSON(x))
	d := api.Decision{ID: "d1", ReceivedAt: t0, FeedType: "OpsGenie", AlertID: hostile, UniqueValue: hostile, Summary: hostile,
		Result: api.ResultMatched, RulesChecked: 1,
		Rules:      []api.DecisionRule{{File: hostile, RuleName: hostile, Status: "not_matched", RulePath: hostile, Actual: hostile, Reason: hostile}},
		Matched:    []api.MatchedAction{{RuleName: hostile, ExecutionID: "e1", Status: "accepted"}},
		Executions: []api.DecisionExecution{{ID: "e1", RuleName: hostile, Status: api.ExecFailure}},
		Hosts:      []string{hostile}, Payload: json.RawMessage(mustJSON(map[string]string{"message": hostile}))}
	f.handle("GET /v1/decisions", 200, mustJSON(api.DecisionList{Decisions: []api.Decision{d}}))
	f.handle("GET /v1/decisions/{id}", 200, mustJSON(d))
	f.handle("GET /v1/rules", 200, mustJSON(map[string]any{"rules": []map[string]any{{"file": hostile, "rule_name": hostile,
		"status": "invalid", "errors": []map[string]string{{"path": hostile, "message": hostile}}}}}))

	for _, args := range [][]string{
		{"executions", "list"}, {"executions", "show", "e1"}, {"executions", "watch", "e1"},
		{"alerts", "list"}, {"alerts", "show", "-payload", "d1"}, {"rules", "list"}, {"report"},
	} {
		for _, out := range []string{"table", "json"} {
			r := cli(t, f.env(t), append(args, "-o", out)...)
			name := strings.Join(args, " ") + " -o " + out
			if r.code == 2 {
				t.Errorf("%s: %s", name, r)
			}
			unsafeOut(t, name+" stdout", r.stdout)
			unsafeOut(t, name+" stderr", r.stderr)
			if out == "json" && r.stdout != "" && !json.Valid([]byte(r.stdout)) {
				t.Errorf("%s: not JSON:\n%s", name, r.stdout)
			}
		}
	}
	// A hostile error message.
	f2 := newFake(t)
	f2.handle("GET /v1/executions/{id}", 404, mustJSON(api.Error{Error: hostile}))
	r := cli(t, f2.env(t), "executions", "show", "e1")
	if r.code != 3 || !strings.Contains(r.stderr, `evil\x1b[2J`) {
		t.Errorf("%s", r)
	}
	unsafeOut(t, "error", r.stderr)
	// The escapes are visible.
	r = cli(t, f.env(t), "executions", "show", "e1")
	for _, want := range []string{`evil\x1b[2J\x1b]0;pwned\x07\r\u202eoverride\u009b31m�\x7fend`, "line1\n", "\n       line3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	// -o json keeps the strings, escaped as JSON.
	r = cli(t, f.env(t), "executions", "show", "e1", "-o", "json")
	var back api.Execution
	if err := json.Unmarshal([]byte(r.stdout), &back); err != nil {
		t.Fatal(err)
	}
	if want := strings.ToValidUTF8(x.Reason, "\ufffd"); back.Reason != want {
		t.Errorf("reason %q, want %q", back.Reason, want)
	}
}

func TestTokenFile(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/executions", 200, `{"executions":[]}`)
	for _, tc := range []struct {
		name string
		perm os.FileMode
		code int
	}{
		{"owner only", 0o600, 0},
		{"owner read only", 0o400, 0},
		{"group readable", 0o640, 2},
		{"world readable", 0o644, 2},
		{"group writable", 0o620, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := f.env(t)
			env["ALEXIS_TOKEN_FILE"] = tokenFile(t, tc.perm)
			r := cli(t, env, "executions", "list")
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			if tc.code != 0 && (!strings.Contains(r.stderr, "warning: token file") || !strings.Contains(r.stderr, "chmod 600")) {
				t.Errorf("no warning naming the mode:\n%s", r)
			}
			noToken(t, r)
		})
	}
	before := len(f.received())
	env := f.env(t)
	env["ALEXIS_TOKEN_FILE"] = tokenFile(t, 0o644)
	cli(t, env, "executions", "list")
	if len(f.received()) != before {
		t.Error("a refused token file's token was sent")
	}
	// A file with more than the token: refused without printing it.
	env["ALEXIS_TOKEN_FILE"] = writeFile(t, "tokens", "oncall:"+testToken+" scopes=read\n")
	r := cli(t, env, "executions", "list")
	if r.code != 2 || !strings.Contains(r.stderr, "more than one word") {
		t.Errorf("%s", r)
	}
	noToken(t, r)
	// -token does not exist: a token never goes on the command line.
	r = cli(t, f.env(t), "-token", testToken, "executions", "list")
	if r.code != 2 {
		t.Errorf("-token accepted: %s", r)
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	f := newFake(t)
	// A server that echoes the token in its errors and answers.
	f.handleFunc("GET /v1/executions/{id}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 409, mustJSON(api.Error{Error: "conflict for " + r.Header.Get("Authorization")}))
	})
	f.handle("GET /v1/executions", 200, mustJSON(api.ExecutionList{Executions: []api.Execution{execution("e1", "success", testToken)}}))
	closed := httptest503Closed(t)
	for _, args := range [][]string{
		{"-v", "executions", "show", "e1"},
		{"-v", "executions", "list"},
		{"-v", "-o", "json", "executions", "list"},
		{"-v", "-url", closed, "executions", "list"},
		{"-v", "-url", closed + "/" + testToken, "executions", "list"},
	} {
		r := cli(t, f.env(t), args...)
		noToken(t, r)
		if args[1] == "executions" && args[2] == "show" && (r.code != 1 || !strings.Contains(r.stderr, "Bearer <token>")) {
			t.Errorf("%v: %s", args, r)
		}
		if !strings.Contains(r.stderr, "GET ") {
			t.Errorf("-v printed no request: %s", r)
		}
	}
	// The token is sent as a bearer token, nowhere else.
	for _, req := range f.received() {
		if req.auth != "Bearer "+testToken || strings.Contains(req.query, testToken) || strings.Contains(req.path, testToken) {
			t.Errorf("request %+v", req)
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	other := newFake(t)
	f := newFake(t)
	f.handleFunc("GET /v1/executions", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/v1/executions", http.StatusFound)
	})
	r := cli(t, f.env(t), "executions", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "redirect (302)") {
		t.Errorf("%s", r)
	}
	if len(other.received()) != 0 {
		t.Error("the redirect was followed, with the token")
	}
}

func TestExecutionsShow(t *testing.T) {
	f := newFake(t)
	x := execution("e1", api.ExecFailure, "restart_duplicator", "app01", "app02")
	x.AdHoc, x.RequestedBy = true, "poller"
	x.Steps = []api.Step{
		{TaskIndex: 0, Entity: "app01", TaskType: "remote_ssh", Action: "restart", Command: "sudo systemctl restart duplicator",
			Status: "success", ExitCode: ptr(0), Stdout: "restarted\nok", ElapsedMS: ptr(int64(1200))},
		{TaskIndex: 0, Entity: "app02", TaskType: "remote_ssh", Action: "restart", Command: "sudo systemctl restart duplicator",
			Status: "failure", ExitCode: ptr(3), Stderr: "unit not found", ElapsedMS: ptr(int64(300)), Error: "exit status 3"},
	}
	x.PendingWritebacks = []api.PendingWriteback{{Op: "add_note", Attempts: 2, LastError: "opsgenie: 502", NextAt: t0.Add(time.Minute)}}
	f.handle("GET /v1/executions/{id}", 200, mustJSON(x))
	r := cli(t, f.env(t), "executions", "show", "e1")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{
		"status        failure", "[ad-hoc", "requested by poller", "hosts         app01,app02",
		"#0 remote_ssh restart on app01: success, exit 0, 1.2s", "$ sudo systemctl restart duplicator",
		"stdout:\n       restarted\n       ok", "#0 remote_ssh restart on app02: failure, exit 3, 300ms",
		"stderr:\n       unit not found", "error: exit status 3", "add_note: 2 attempts",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	if reqs := f.received(); reqs[0].path != "/v1/executions/e1" {
		t.Errorf("path %q", reqs[0].path)
	}
	// An id is checked before it goes into a path.
	before := len(f.received())
	for _, id := range []string{"../rules?x=1", "a/b", "..", strings.Repeat("a", 129), "e1\x1b"} {
		if r := cli(t, f.env(t), "executions", "show", id); r.code != 2 {
			t.Errorf("id %q: %s", id, r)
		}
	}
	if len(f.received()) != before {
		t.Errorf("a bad id was sent: %+v", f.received()[before:])
	}
}

// progress serves an execution whose status advances on each poll.
func progress(f *fake, final string) *atomic.Int32 {
	var polls atomic.Int32
	f.handleFunc("GET /v1/executions/{id}", func(w http.ResponseWriter, r *http.Request) {
		n := polls.Add(1)
		x := execution(r.PathValue("id"), api.ExecQueued, "restart", "app01")
		x.StartedAt, x.FinishedAt = nil, nil
		if n >= 2 {
			x.Status = api.ExecRunning
			x.Steps = []api.Step{{Entity: "app01", TaskType: "remote_ssh", Status: api.ExecRunning}}
		}
		if n >= 4 {
			x.Status = final
			x.Steps[0].Status, x.Steps[0].ExitCode = final, ptr(0)
		}
		answer(w, 200, mustJSON(x))
	})
	return &polls
}

func TestExecutionsWatch(t *testing.T) {
	for _, tc := range []struct {
		final string
		code  int
	}{
		{api.ExecSuccess, 0}, {api.ExecDryRun, 0}, {api.ExecFailure, 1}, {api.ExecRefused, 1},
		{api.ExecInterrupted, 1}, {api.ExecSkipped, 1},
	} {
		t.Run(tc.final, func(t *testing.T) {
			f := newFake(t)
			polls := progress(f, tc.final)
			r := cli(t, f.env(t), "executions", "watch", "-interval", "100ms", "x1")
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			for _, want := range []string{"execution x1 queued", "execution x1 running", "step #0 remote_ssh on app01: running", "execution x1 " + tc.final} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("no %q in\n%s", want, r.stdout)
				}
			}
			// Each change once.
			if strings.Count(r.stdout, "execution x1 running") != 1 || polls.Load() != 4 {
				t.Errorf("%d polls:\n%s", polls.Load(), r.stdout)
			}
		})
	}
	f := newFake(t)
	f.handle("GET /v1/executions/{id}", 404, `{"error":"no execution"}`)
	if r := cli(t, f.env(t), "executions", "watch", "nope"); r.code != 3 {
		t.Errorf("%s", r)
	}
	// -max-wait gives up.
	f = newFake(t)
	f.handle("GET /v1/executions/{id}", 200, mustJSON(execution("x", api.ExecRunning, "r")))
	if r := cli(t, f.env(t), "executions", "watch", "-interval", "100ms", "-max-wait", "300ms", "x"); r.code != 1 || !strings.Contains(r.stderr, "still running") {
		t.Errorf("%s", r)
	}
}

func TestWatchInterrupted(t *testing.T) {
	f := newFake(t)
	var polls atomic.Int32
	f.handleFunc("GET /v1/executions/{id}", func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		answer(w, 200, mustJSON(execution("x", api.ExecRunning, "r")))
	})
	cmd := exec.Command(binary, "executions", "watch", "-interval", "100ms", "x")
	for k, v := range f.env(t) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a poll", func() bool { return polls.Load() > 0 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("%v: %s", err, stderr.String())
	}
}

func TestWatchRetriesTransientErrors(t *testing.T) {
	f := newFake(t)
	var polls atomic.Int32
	f.handleFunc("GET /v1/executions/{id}", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) <= 2 {
			answer(w, 503, `{"error":"store unavailable"}`)
			return
		}
		answer(w, 200, mustJSON(execution("x", api.ExecSuccess, "r")))
	})
	r := cli(t, f.env(t), "executions", "watch", "-interval", "100ms", "x")
	if r.code != 0 || !strings.Contains(r.stderr, "trying again") {
		t.Errorf("%s", r)
	}
	f = newFake(t)
	f.handle("GET /v1/executions/{id}", 503, `{"error":"store unavailable"}`)
	if r := cli(t, f.env(t), "executions", "watch", "-interval", "100ms", "x"); r.code != 5 {
		t.Errorf("%s", r)
	}
}

func TestAlertsListAndShow(t *testing.T) {
	f := newFake(t)
	d := api.Decision{ID: "d0c1", ReceivedAt: t0, FeedType: "OpsGenie", FeedName: "incoming", AlertID: "7041",
		UniqueValue: "1791", Summary: "duplicator: Long garbage-collection time", Result: api.ResultMatched, RulesChecked: 2,
		RequestedBy: "poller",
		Rules: []api.DecisionRule{
			{File: "dup.json", RuleName: "day_duplicator_gc_restart", Status: "matched"},
			{File: "nginx.json", RuleName: "nginx_down", Status: "not_matched", RulePath: "when.all[0]", AlertPath: "message",
				Op: "contains", Expected: `"nginx"`, Actual: `"duplicator: Long…"`},
		},
		Matched:    []api.MatchedAction{{RuleName: "day_duplicator_gc_restart", ExecutionID: "e1", Status: "accepted"}},
		Executions: []api.DecisionExecution{{ID: "e1", RuleName: "day_duplicator_gc_restart", Status: "success", Entities: []string{"app01"}}},
		Hosts:      []string{"app01"}}
	x := execution("e1", api.ExecSuccess, "day_duplicator_gc_restart", "app01")
	x.ReportedAt = ptr(t0.Add(4 * time.Second))
	x.Steps = []api.Step{{Entity: "app01", TaskType: "remote_ssh", Command: "sudo systemctl restart duplicator", Status: "success",
		ExitCode: ptr(0), Stdout: "done", StartedAt: ptr(t0.Add(time.Second)), ElapsedMS: ptr(int64(900))}}
	f.handle("GET /v1/decisions", 200, mustJSON(api.DecisionList{Decisions: []api.Decision{d}}))
	f.handle("GET /v1/decisions/{id}", 200, mustJSON(d))
	f.handle("GET /v1/executions/{id}", 200, mustJSON(x))

	r := cli(t, f.env(t), "alerts", "list", "-rule", "day_duplicator_gc_restart", "-outcome", "success", "-q", "dup", "-feed", "incoming")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"RECEIVED", "d0c1", "OpsGenie/incoming", "1791", "matched", "day_duplicator_gc_restart", "app01", "success", "duplicator: Long"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	q, _ := url.ParseQuery(f.received()[0].query)
	if q.Get("rule") != "day_duplicator_gc_restart" || q.Get("outcome") != "success" || q.Get("q") != "dup" || q.Get("feed_name") != "incoming" {
		t.Errorf("query %v", q)
	}

	r = cli(t, f.env(t), "alerts", "show", "d0c1")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{
		"alert 1791  (OpsGenie/incoming, id 7041)",
		"18:00:00  received, posted by poller",
		"18:00:00  classified: matched (2 rules checked)",
		"matched     day_duplicator_gc_restart (dup.json)",
		`not_matched nginx_down (nginx.json): when.all[0]: message contains "nginx", saw "duplicator: Long…"`,
		"pushed day_duplicator_gc_restart: accepted, execution e1",
		"18:00:00  execution e1 success",
		"18:00:01    #0 remote_ssh on app01: success, exit 0, 900ms",
		"\n               $ sudo systemctl restart duplicator\n               stdout:\n                 done\n",
		"18:00:03    finished success (2s)",
		"18:00:04    written back onto the alert",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	// An execution gone from the store (pruned): the rest is still shown.
	f2 := newFake(t)
	f2.handle("GET /v1/decisions/{id}", 200, mustJSON(d))
	f2.handle("GET /v1/executions/{id}", 404, `{"error":"no execution"}`)
	if r := cli(t, f2.env(t), "alerts", "show", "d0c1"); r.code != 0 || !strings.Contains(r.stdout, "execution e1 success") ||
		!strings.Contains(r.stdout, "not found on the action handler") {
		t.Errorf("%s", r)
	}

	r = cli(t, f.env(t), "alerts", "show", "d0c1", "-o", "json")
	var tl struct {
		Decision   api.Decision    `json:"decision"`
		Executions []api.Execution `json:"executions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil || tl.Decision.ID != "d0c1" || len(tl.Executions) != 1 || tl.Executions[0].Steps[0].Stdout != "done" {
		t.Errorf("%v %+v\n%s", err, tl, r)
	}
}

func TestRules(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/rules", 200, `{"rules":[
		{"file":"dup.json","rule_name":"day_duplicator_gc_restart","rule_version":"1.01","enabled":true,"status":"ok","errors":[]},
		{"file":"bad.json","rule_name":"broken","rule_version":"","enabled":false,"status":"invalid","errors":[{"path":"task_list","message":"required"}]}]}`)
	f.handleFunc("POST /v1/rules/lint", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if strings.Contains(name, "bad") {
			answer(w, 200, `{"ok":false,"errors":[{"file":"`+name+`","path":"task_list","message":"required"},{"file":"`+name+`","path":"$","message":"no description","warning":true}]}`)
			return
		}
		answer(w, 200, `{"ok":true,"errors":[]}`)
	})
	f.handle("POST /v1/rules/explain", 200, `{"unique_value":"1791","feed_type":"OpsGenie","now":"2026-12-02T18:00:00Z","result":"unmatched","rules":[
		{"file":"dup.json","rule_name":"day_duplicator_gc_restart","status":"not_matched","failure":{"rule_path":"when.any","op":"any","alternatives":[
			{"rule_path":"when.any[0]","alert_path":"tags","op":"contains","expected":"syn.day","actual":"[]"},
			{"rule_path":"when.any[1]","alert_path":"message","op":"matches","expected":"GC","actual":"(missing)"}]}},
		{"file":"young.json","rule_name":"young","status":"deferred","wait":"10m0s","age":"2m0s"},
		{"file":"bad.json","rule_name":"broken","status":"invalid","errors":[{"path":"task_list","message":"required"}]}]}`)

	r := cli(t, f.env(t), "rules", "list")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"FILE", "dup.json", "1.01", "true", "invalid", "bad.json: task_list: required"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}

	good := writeFile(t, "good.json", `{"rule_name":"g"}`)
	bad := writeFile(t, "bad.json", `{"rule_name":"b"}`)
	r = cli(t, f.env(t), "rules", "lint", good, bad)
	if r.code != 1 {
		t.Errorf("an invalid file exits %d\n%s", r.code, r)
	}
	for _, want := range []string{good + ": ok", bad + ": invalid", "error: task_list: required", "warning: $: no description"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	var lints []request
	for _, req := range f.received() {
		if req.path == "/v1/rules/lint" {
			lints = append(lints, req)
		}
	}
	if len(lints) != 2 || lints[0].query != "name=good.json" || string(lints[1].body) != `{"rule_name":"b"}` {
		t.Errorf("lint requests %+v", lints)
	}
	if r := cli(t, f.env(t), "rules", "lint", good); r.code != 0 {
		t.Errorf("%s", r)
	}
	if r := cli(t, f.env(t), "rules", "lint", filepathJoin(t.TempDir(), "missing.json")); r.code != 2 {
		t.Errorf("a missing file: %s", r)
	}

	alertPath := writeFile(t, "alert.json", `{"tinyId":"1791","message":"m","alexis":{"unique_key":"tinyId","unique_value":"1791","feed_type":"OpsGenie","feed_name":"incoming"}}`)
	r = cli(t, f.env(t), "rules", "explain", alertPath)
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"alert 1791 (OpsGenie): unmatched",
		`when.any: any [any: when.any[0]: tags contains "syn.day", saw [] | when.any[1]: message matches "GC", saw (missing)]`,
		"alert is 2m0s old, the rule waits 10m0s", "task_list: required"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	if r := cli(t, f.env(t), "rules", "explain", writeFile(t, "x.json", `{"no":"alexis"}`)); r.code != 2 {
		t.Errorf("an alert without alexis: %s", r)
	}
}

func filepathJoin(a, b string) string { return a + string(os.PathSeparator) + b }

func TestReport(t *testing.T) {
	f := newFake(t)
	mk := func(id, status, rule string, secs int, hosts ...string) api.Execution {
		x := execution(id, status, rule, hosts...)
		x.FinishedAt = ptr(x.StartedAt.Add(time.Duration(secs) * time.Second))
		return x
	}
	xs := []api.Execution{
		mk("1", "success", "restart", 1, "app01"), mk("2", "success", "restart", 2, "app01"),
		mk("3", "failure", "restart", 3, "app02"), mk("4", "success", "restart", 10, "app01"),
		mk("5", "skipped", "restart", 0, "app03"), mk("6", "success", "disk", 5, "db01", "db02"),
	}
	f.handleFunc("GET /v1/executions", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			answer(w, 200, mustJSON(api.ExecutionList{Executions: xs[:3], NextCursor: "n"}))
			return
		}
		answer(w, 200, mustJSON(api.ExecutionList{Executions: xs[3:]}))
	})
	r := cli(t, f.env(t), "report", "-since", "7d", "-rule", "restart")
	if r.code != 0 {
		t.Fatal(r)
	}
	// restart: 5 runs, 3 success of 4 ended = 75%, durations 1,2,3,10 s.
	row := regexp.MustCompile(`(?m)^restart\s+5\s+3\s+1\s+1\s+75\.0%\s+2s\s+10s\s`)
	if !row.MatchString(r.stdout) {
		t.Errorf("no restart row in\n%s", r.stdout)
	}
	for _, re := range []string{`(?m)^restart\s+app01\s+3\s+3\s`, `(?m)^disk\s+db02\s+1\s+1\s`, `(?m)^6 executions from`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("no %s in\n%s", re, r.stdout)
		}
	}
	q, _ := url.ParseQuery(f.received()[0].query)
	if q.Get("rule_name") != "restart" || q.Get("limit") != "500" || q.Get("since") == "" {
		t.Errorf("query %v", q)
	}
	// -actions: each execution's steps, per action and host.
	f.handleFunc("GET /v1/executions/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, x := range xs {
			if x.ID == r.PathValue("id") {
				x.Steps = []api.Step{
					{Entity: x.Entities[0], TaskType: "remote_ssh", Action: "restart_" + x.RuleName, Status: x.Status},
					{Entity: x.Entities[0], TaskType: "http", Status: "skipped"},
				}
				if x.ID == "6" {
					x.Steps = append(x.Steps, api.Step{Entity: "db02", TaskType: "http", Status: "failure"})
				}
				answer(w, 200, mustJSON(x))
				return
			}
		}
		answer(w, 404, `{"error":"no execution"}`)
	})
	r = cli(t, f.env(t), "report", "-actions")
	for _, re := range []string{`(?m)^ACTION\s+HOST\s+RUNS\s+SUCCESS\s+LAST$`, `(?m)^restart_restart\s+app01\s+3\s+3\s`,
		`(?m)^restart_restart\s+app02\s+1\s+0\s`, `(?m)^http\s+db02\s+1\s+0\s`, `(?m)^restart_disk\s+db01\s+1\s+1\s`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("no %s in\n%s", re, r)
		}
	}
	if strings.Contains(r.stdout, "app03") && regexp.MustCompile(`(?m)^\S+\s+app03`).MatchString(r.stdout[strings.Index(r.stdout, "ACTION"):]) {
		t.Errorf("a skipped step was counted:\n%s", r.stdout)
	}

	r = cli(t, f.env(t), "report", "-o", "json")
	var rep reportAnswer
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Rules) != 2 || *rep.Rules[0].P95MS != 10000 {
		t.Errorf("%v\n%s", err, r)
	}
}

const ruleJSON = `{"enabled":"true","os_type":"linux","rule_name":"restart_duplicator","alert_feed":"OpsGenie",
 "evaluation_list":[{"evaluation":{"tags":["t"]}}],
 "task_list":[{"task":{"task_type":"remote_ssh","run_command":"echo restarted","action":"restart"}}],
 "entity_type":"explicit","entities":["app01"],"route_to_team":"ops"}`

const alertJSON = `{"id":"7041","tinyId":"1791","message":"duplicator GC","tags":["t"],
 "alexis":{"unique_key":"tinyId","unique_value":"1791","feed_type":"OpsGenie","feed_name":"incoming"}}`

func TestRun(t *testing.T) {
	f := newFake(t)
	var posted atomic.Value
	f.handleFunc("POST /v1/action", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posted.Store(b)
		answer(w, 202, `{"execution_id":"x9","status":"queued","entities":["app01"]}`)
	})
	progress(f, api.ExecSuccess)
	rf, af := writeFile(t, "rule.json", ruleJSON), writeFile(t, "alert.json", alertJSON)
	r := cli(t, f.env(t), "run", "-rule", rf, "-alert", af, "-interval", "100ms")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"execution x9 queued on app01", "execution x9 success"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	// The body is the alert with the rule merged, as the action handler decodes it.
	req, err := action.Decode(posted.Load().([]byte))
	if err != nil {
		t.Fatalf("%v: %s", err, posted.Load())
	}
	if req.Rule.Name != "restart_duplicator" || req.Alert.Meta.UniqueValue != "1791" || req.RequestedBy != "" {
		t.Errorf("request %+v", req)
	}

	// -no-wait: the id, no polling.
	f2 := newFake(t)
	f2.handle("POST /v1/action", 200, `{"execution_id":"x8","status":"running","entities":["app01"]}`)
	r = cli(t, f2.env(t), "run", "-rule", rf, "-alert", af, "-no-wait")
	if r.code != 0 || !strings.Contains(r.stdout, "execution x8 exists already") || len(f2.received()) != 1 {
		t.Errorf("%s", r)
	}

	// A scope refused: exit 4 naming it.
	f3 := newFake(t)
	f3.handle("POST /v1/action", 403, `{"error":"token \"bob\" lacks scope \"adhoc\": the request is not signed","missing_scope":"adhoc"}`)
	r = cli(t, f3.env(t), "run", "-rule", rf, "-alert", af)
	if r.code != 4 || !strings.Contains(r.stderr, `lacks scope "adhoc"`) {
		t.Errorf("%s", r)
	}

	// Bad input is named before anything is sent.
	f4 := newFake(t)
	for _, tc := range []struct{ rule, alert, stderr string }{
		{`{"rule_name":"x"}`, alertJSON, "-rule"},
		{ruleJSON, `{"message":"no alexis"}`, "-alert"},
		{ruleJSON, `{"rule":{},"alexis":{"unique_key":"k","unique_value":"v","feed_type":"OpsGenie"}}`, `top-level "rule" key`},
		{ruleJSON, `not json`, "-alert"},
	} {
		r := cli(t, f4.env(t), "run", "-rule", writeFile(t, "r.json", tc.rule), "-alert", writeFile(t, "a.json", tc.alert))
		if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s", r)
		}
	}
	if n := len(f4.received()); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
	if r := cli(t, f4.env(t), "run", "-rule", rf); r.code != 2 {
		t.Errorf("%s", r)
	}
}

func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := cli(t, nil, "completion", "bash")
	if script.code != 0 {
		t.Fatal(script)
	}
	path := writeFile(t, "completion.bash", script.stdout)
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"alexisctl", ""}, "alerts approve completion deny executions help replay report rules run version"},
		{[]string{"alexisctl", "replay", "-fa"}, "-fail-on-change"},
		{[]string{"alexisctl", "ex"}, "executions"},
		{[]string{"alexisctl", "executions", ""}, "list show watch"},
		{[]string{"alexisctl", "-url", "http://x", "rules", "l"}, "list lint"},
		{[]string{"alexisctl", "executions", "list", "-st"}, "-status"},
		{[]string{"alexisctl", "executions", "list", "-status", "su"}, "success"},
		{[]string{"alexisctl", "-o", "j"}, "json"},
		{[]string{"alexisctl", "completion", ""}, "bash zsh"},
		{[]string{"alexisctl", "run", "-no"}, "-no-wait"},
		{[]string{"alexisctl", "rules", "resume", "-e"}, "-entity"},
		{[]string{"alexisctl", "rules", "paused", "-a"}, "-all"},
	} {
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _alexisctl; echo "${COMPREPLY[*]}"`, "bash", path)
		cmd.Args = append(cmd.Args, tc.words...)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("%q: got %q (%v), want %q", tc.words, out, err, tc.want)
		}
	}
	if r := cli(t, nil, "completion", "zsh"); r.code != 0 || !strings.HasPrefix(r.stdout, "#compdef alexisctl") {
		t.Errorf("%s", r)
	}
	if r := cli(t, nil, "completion", "fish"); r.code != 2 {
		t.Errorf("%s", r)
	}
}

func TestCompletionZsh(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("no zsh")
	}
	path := writeFile(t, "completion.zsh", cli(t, nil, "completion", "zsh").stdout)
	// bashcompinit's compgen runs the function in sh emulation (arrays
	// from 0); zsh itself filters the candidates by the word's prefix.
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"alexisctl", "executions", ""}, "list show watch"},
		{[]string{"alexisctl", "-url", "http://x", "rules", ""}, "list lint explain paused resume"},
		{[]string{"alexisctl", "executions", "list", "-status", ""}, "queued running success failure skipped interrupted dry_run refused audit awaiting_approval denied expired verifying remediated ineffective"},
	} {
		script := `autoload -U compinit && compinit -u -d "$1.dump"; source "$1"; shift
complete1() { emulate -L sh; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _alexisctl; echo "${COMPREPLY[*]}"; }
complete1 "$@"`
		cmd := exec.Command(zsh, "-f", "-c", script, "zsh", path)
		cmd.Args = append(cmd.Args, tc.words...)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("%q: got %q (%v), want %q", tc.words, out, err, tc.want)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := cli(t, nil, "version")
	if r.code != 0 || r.stdout != "alexisctl dev\n" {
		t.Errorf("%s", r)
	}
	r = cli(t, nil, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "executions watch ID") || !strings.Contains(r.stdout, "exit status") {
		t.Errorf("%s", r)
	}
	r = cli(t, nil, "executions", "list", "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "-status") {
		t.Errorf("%s", r)
	}
	r = cli(t, nil, "help", "run")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: alexisctl run") || !strings.Contains(r.stdout, "-no-wait") {
		t.Errorf("%s", r)
	}
	if r := cli(t, nil); r.code != 2 {
		t.Errorf("%s", r)
	}
}
