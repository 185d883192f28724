package dynatracetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseSelector(t *testing.T) {
	cases := []struct {
		in   string
		want string // "" = ok; else part of the error
		n    int    // criteria
	}{
		{in: `status("open")`, n: 1},
		{in: `status("OPEN"), severityLevel("ERROR","AVAILABILITY")`, n: 2},
		{in: `entityTags("[Environment]team:db","env:prod"),impactedEntities("HOST-1")`, n: 2},
		{in: `displayId("P-1~"x")`, n: 1},
		{in: `status("open"`, want: "expected ',' or ')'"},
		{in: `status("pending")`, want: `status must be "open" or "closed"`},
		{in: `status("open","closed")`, want: "exactly one value"},
		{in: `foo("x")`, want: `unknown criterion "foo"`},
		{in: `status`, want: "expected '('"},
		{in: `status("open") severityLevel("ERROR")`, want: "expected ','"},
		{in: `displayId("unterminated)`, want: "unterminated string"},
		{in: ``, want: "empty selector"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			sel, err := parseSelector(tc.in)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || len(sel) != tc.n {
				t.Fatalf("parse = %v, %v", sel, err)
			}
		})
	}
	sel, _ := parseSelector(`displayId("P-1~"x~~")`)
	if sel[0].values[0] != `P-1"x~` {
		t.Errorf("escaped value %q", sel[0].values[0])
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{`status("open")`, `entityTags("[a]b:c"),severityLevel("ERROR")`, `x(`, `a("~`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseSelector(s)
		if err == nil && len(sel) == 0 {
			t.Errorf("no error and no criteria for %q", s)
		}
	})
}

func TestSelectorMatches(t *testing.T) {
	p := ProblemSpec{
		Title: "disk full", SeverityLevel: "RESOURCE_CONTENTION", ImpactLevel: "INFRASTRUCTURE",
		ImpactedEntities: []EntityStub{Entity("HOST-1", "HOST", "db01")},
		RootCauseEntity:  &EntityStub{EntityID: EntityID{ID: "HOST-1", Type: "HOST"}, Name: "db01"},
		EntityTags:       []string{"[Environment]team:db", "critical"}, ManagementZones: []string{"prod"},
	}.problem(1, time.Now())
	cases := []struct {
		sel  string
		want bool
	}{
		{`status("open")`, true},
		{`status("closed")`, false},
		{`severityLevel("ERROR","RESOURCE_CONTENTION")`, true},
		{`impactLevel("SERVICES")`, false},
		{`impactedEntities("HOST-2","HOST-1")`, true},
		{`affectedEntities("HOST-1")`, true},
		{`rootCauseEntity("HOST-1")`, true},
		{`entityTags("team:db")`, true},
		{`entityTags("[environment]TEAM:DB")`, true},
		{`entityTags("[AWS]team:db")`, false},
		{`entityTags("team")`, true},
		{`entityTags("critical")`, true},
		{`entityTags("team:web")`, false},
		{`managementZones("prod")`, true},
		{`displayId("` + p.DisplayID + `")`, true},
		{`problemId("` + p.ProblemID + `")`, true},
		{`status("open"),impactedEntities("HOST-9")`, false},
	}
	for _, tc := range cases {
		sel, err := parseSelector(tc.sel)
		if err != nil {
			t.Fatalf("%s: %v", tc.sel, err)
		}
		if got := sel.matches(p); got != tc.want {
			t.Errorf("%s matches = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "now", want: now},
		{in: "now-2h", want: now.Add(-2 * time.Hour)},
		{in: "now-30m", want: now.Add(-30 * time.Minute)},
		{in: "now-1d", want: now.Add(-24 * time.Hour)},
		{in: strconv.FormatInt(now.UnixMilli(), 10), want: now},
		{in: "2025-03-01T11:00:00Z", want: now.Add(-time.Hour)},
		{in: "2025-03-01T12:00:00+01:00", want: now.Add(-time.Hour)},
		{in: "2025-03-01 11:30:00", want: now.Add(-30 * time.Minute)},
		{in: "now-2x", bad: true},
		{in: "yesterday", bad: true},
	}
	for _, tc := range cases {
		got, err := parseTime(tc.in, now)
		if tc.bad != (err != nil) || (!tc.bad && !got.Equal(tc.want)) {
			t.Errorf("parseTime(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// call sends a raw request and returns its status, headers and body.
func call(t *testing.T, s *Server, method, path, token, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL()+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Api-Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("answer is not JSON: %s", data)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func TestServerAPI(t *testing.T) {
	s := NewT(t)
	tok := s.Token()
	for i := range 5 {
		s.CreateProblem(ProblemSpec{Title: "p" + strconv.Itoa(i), StartTime: time.Now().Add(-time.Duration(5-i) * time.Minute)})
	}
	old := s.CreateProblem(ProblemSpec{Title: "old", StartTime: time.Now().Add(-5 * time.Hour)})

	status, _, body := call(t, s, "GET", "/api/v2/problems", "", "")
	if status != 401 || body["error"].(map[string]any)["code"].(float64) != 401 {
		t.Errorf("no token: %d %v", status, body)
	}

	status, _, body = call(t, s, "GET", "/api/v2/problems?pageSize=2", tok, "")
	if status != 200 || body["totalCount"].(float64) != 5 || len(body["problems"].([]any)) != 2 {
		t.Fatalf("first page: %d %v", status, body)
	}
	if first := body["problems"].([]any)[0].(map[string]any); first["title"] != "p4" || first["evidenceDetails"] != nil {
		t.Errorf("newest first and no extra fields by default: %v", first)
	}
	key := body["nextPageKey"].(string)

	status, _, body = call(t, s, "GET", "/api/v2/problems?pageSize=2&nextPageKey="+key, tok, "")
	if status != 400 || !strings.Contains(body["error"].(map[string]any)["constraintViolations"].([]any)[0].(map[string]any)["message"].(string), "nextPageKey") {
		t.Errorf("nextPageKey with pageSize: %d %v", status, body)
	}
	status, _, body = call(t, s, "GET", "/api/v2/problems?fields=recentComments&nextPageKey="+key, tok, "")
	if status != 200 || len(body["problems"].([]any)) != 2 || body["problems"].([]any)[0].(map[string]any)["recentComments"] == nil {
		t.Errorf("second page: %d %v", status, body)
	}

	status, _, _ = call(t, s, "GET", "/api/v2/problems?from=now-6h&pageSize=500", tok, "")
	if status != 200 {
		t.Errorf("from now-6h: %d", status)
	}
	for _, q := range []string{"pageSize=501", "from=yesterday", "problemSelector=foo(%22x%22)", "entitySelector=type(%22HOST%22)", "fields=everything", "colour=red"} {
		if status, _, _ := call(t, s, "GET", "/api/v2/problems?"+q, tok, ""); status != 400 {
			t.Errorf("%s: %d, want 400", q, status)
		}
	}

	if status, _, _ := call(t, s, "POST", "/api/v2/problems/"+old.ProblemID+"/comments", tok, `{"message":"hi","context":"Alexis"}`); status != 201 {
		t.Errorf("comment: %d", status)
	}
	if status, _, _ := call(t, s, "POST", "/api/v2/problems/"+old.ProblemID+"/comments", tok, `{"context":"Alexis"}`); status != 400 {
		t.Errorf("comment without message: %d", status)
	}
	if status, _, _ := call(t, s, "POST", "/api/v2/problems/nope/comments", tok, `{"message":"x"}`); status != 404 {
		t.Errorf("comment on unknown problem: %d", status)
	}
	status, _, body = call(t, s, "POST", "/api/v2/problems/"+old.ProblemID+"/close", tok, `{"message":"done"}`)
	if status != 200 || body["closing"] != true || body["comment"].(map[string]any)["content"] != "done" {
		t.Errorf("close: %d %v", status, body)
	}
	status, _, body = call(t, s, "GET", "/api/v2/problems/"+old.ProblemID, tok, "")
	if status != 200 || body["status"] != "CLOSED" || body["recentComments"].(map[string]any)["totalCount"].(float64) != 2 || body["evidenceDetails"] == nil {
		t.Errorf("get: %d %v", status, body)
	}
	status, _, body = call(t, s, "GET", "/api/v2/problems/"+old.ProblemID+"/comments", tok, "")
	if comments := body["comments"].([]any); status != 200 || len(comments) != 2 || comments[0].(map[string]any)["content"] != "done" {
		t.Errorf("comments: %d %v", status, body)
	}

	s.FailNext(1, 429)
	status, h, _ := call(t, s, "GET", "/api/v2/problems", tok, "")
	if status != 429 || h.Get("Retry-After") != "1" || h.Get("X-RateLimit-Limit") == "" || h.Get("X-RateLimit-Reset") == "" {
		t.Errorf("429: %d %v", status, h)
	}
	s.FailNext(1, 503)
	if status, _, _ := call(t, s, "GET", "/api/v2/problems", tok, ""); status != 503 {
		t.Errorf("503: %d", status)
	}
	if n := len(s.Requests()); n < 10 {
		t.Errorf("request log has %d entries", n)
	}
}
