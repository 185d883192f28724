package opsgenietest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// do sends one raw request and decodes the JSON answer.
func do(t *testing.T, s *Server, method, path, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "GenieKey "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, out
}

func TestEveryAnswerCarriesHeaders(t *testing.T) {
	s := NewT(t)
	a := s.CreateAlert(AlertSpec{Message: "m"})
	cases := []struct {
		name, method, path, key, body string
		status                        int
	}{
		{name: "list", method: "GET", path: "/v2/alerts", key: s.APIKey(), status: 200},
		{name: "get", method: "GET", path: "/v2/alerts/" + a.ID, key: s.APIKey(), status: 200},
		{name: "unknown alert", method: "GET", path: "/v2/alerts/nope", key: s.APIKey(), status: 404},
		{name: "no key", method: "GET", path: "/v2/alerts", status: 401},
		{name: "wrong key", method: "GET", path: "/v2/alerts", key: "wrong", status: 401},
		{name: "bad query", method: "GET", path: "/v2/alerts?query=" + url.QueryEscape("colour: red"), key: s.APIKey(), status: 422},
		{name: "note", method: "POST", path: "/v2/alerts/" + a.ID + "/notes", key: s.APIKey(), body: `{"note":"hi"}`, status: 202},
		{name: "unknown API", method: "GET", path: "/v2/users", key: s.APIKey(), status: 404},
		{name: "wrong method", method: "PUT", path: "/v2/alerts/" + a.ID, key: s.APIKey(), status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := do(t, s, tc.method, tc.path, tc.key, tc.body)
			if status != tc.status {
				t.Errorf("status %d, want %d (%v)", status, tc.status, body)
			}
			for _, k := range []string{"X-Request-Id", "X-RateLimit-State", "X-Response-Time"} {
				if h.Get(k) == "" {
					t.Errorf("header %s missing", k)
				}
			}
			if body["requestId"] != h.Get("X-Request-Id") {
				t.Errorf("body requestId %v, header %q", body["requestId"], h.Get("X-Request-Id"))
			}
			if status >= 400 && body["message"] == "" {
				t.Errorf("error answer without message: %v", body)
			}
		})
	}
}

func TestListParameters(t *testing.T) {
	s := NewT(t)
	for i := range 5 {
		s.CreateAlert(AlertSpec{Message: "m", CreatedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	cases := []struct {
		name   string
		query  string
		status int
		tiny   []string
	}{
		{name: "default newest first", query: "", status: 200, tiny: []string{"5", "4", "3", "2", "1"}},
		{name: "asc", query: "order=asc", status: 200, tiny: []string{"1", "2", "3", "4", "5"}},
		{name: "page", query: "order=asc&offset=1&limit=2", status: 200, tiny: []string{"2", "3"}},
		{name: "offset past end", query: "offset=10", status: 200, tiny: nil},
		{name: "sort tinyId", query: "sort=tinyId&order=desc&limit=1", status: 200, tiny: []string{"5"}},
		{name: "limit over 100", query: "limit=101", status: 422},
		{name: "limit zero", query: "limit=0", status: 422},
		{name: "negative offset", query: "offset=-1", status: 422},
		{name: "bad order", query: "order=up", status: 422},
		{name: "unsupported sort", query: "sort=colour", status: 422},
		{name: "saved search", query: "searchIdentifier=x", status: 422},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, s, "GET", "/v2/alerts?"+tc.query, s.APIKey(), "")
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			var got []string
			for _, a := range body["data"].([]any) {
				m := a.(map[string]any)
				got = append(got, m["tinyId"].(string))
				if _, ok := m["details"]; ok {
					t.Errorf("list answer has details; the List Alerts API leaves them out")
				}
			}
			if !slices.Equal(got, tc.tiny) {
				t.Errorf("tinyIds %v, want %v", got, tc.tiny)
			}
		})
	}
}

func TestWriteCalls(t *testing.T) {
	s := NewT(t)
	a := s.CreateAlert(AlertSpec{Message: "m", Alias: "host/disk", Tags: []string{"a", "b"}, Teams: []string{"incoming"}})
	key := s.APIKey()
	cases := []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, got Alert)
	}{
		{name: "note", method: "POST", path: "/v2/alerts/" + a.ID + "/notes", body: `{"note":"first","user":"Alexis"}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if len(got.Notes) != 1 || got.Notes[0].Note != "first" || got.Notes[0].Owner != "Alexis" {
					t.Errorf("notes %+v", got.Notes)
				}
			}},
		{name: "empty note", method: "POST", path: "/v2/alerts/" + a.ID + "/notes", body: `{"note":" "}`, status: 422},
		{name: "note too long", method: "POST", path: "/v2/alerts/" + a.ID + "/notes", body: `{"note":"` + strings.Repeat("x", maxNote+1) + `"}`, status: 422},
		{name: "malformed body", method: "POST", path: "/v2/alerts/" + a.ID + "/notes", body: `{"note":`, status: 400},
		{name: "wrong type", method: "POST", path: "/v2/alerts/" + a.ID + "/notes", body: `{"note":5}`, status: 422},
		{name: "team by name", method: "POST", path: "/v2/alerts/" + a.ID + "/teams", body: `{"team":{"name":"ops"}}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if !slices.Equal(got.Teams, []string{"incoming", "ops"}) || len(got.Responders) != 2 || got.Responders[1].Type != "team" {
					t.Errorf("teams %v responders %+v", got.Teams, got.Responders)
				}
			}},
		{name: "team twice", method: "POST", path: "/v2/alerts/" + a.ID + "/teams", body: `{"team":{"name":"OPS"}}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if len(got.Teams) != 2 {
					t.Errorf("teams %v", got.Teams)
				}
			}},
		{name: "team without id or name", method: "POST", path: "/v2/alerts/" + a.ID + "/teams", body: `{"team":{}}`, status: 422},
		{name: "team by tiny id", method: "POST", path: "/v2/alerts/" + a.TinyID + "/teams?identifierType=tiny", body: `{"team":{"name":"dba"}}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if !slices.Contains(got.Teams, "dba") {
					t.Errorf("teams %v", got.Teams)
				}
			}},
		{name: "bad identifierType", method: "POST", path: "/v2/alerts/" + a.ID + "/teams?identifierType=name", body: `{"team":{"name":"x"}}`, status: 422},
		{name: "tags by alias", method: "POST", path: "/v2/alerts/" + url.PathEscape("host/disk") + "/tags?identifierType=alias", body: `{"tags":["c"]}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if !slices.Equal(got.Tags, []string{"a", "b", "c"}) {
					t.Errorf("tags %v", got.Tags)
				}
			}},
		{name: "remove tags", method: "DELETE", path: "/v2/alerts/" + a.ID + "/tags?tags=a,c", status: 202,
			check: func(t *testing.T, got Alert) {
				if !slices.Equal(got.Tags, []string{"b"}) {
					t.Errorf("tags %v", got.Tags)
				}
			}},
		{name: "remove tags needs tags", method: "DELETE", path: "/v2/alerts/" + a.ID + "/tags", status: 422},
		{name: "responder team", method: "POST", path: "/v2/alerts/" + a.ID + "/responders", body: `{"responder":{"type":"team","name":"web"}}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if !slices.Contains(got.Teams, "web") {
					t.Errorf("teams %v", got.Teams)
				}
			}},
		{name: "responder bad type", method: "POST", path: "/v2/alerts/" + a.ID + "/responders", body: `{"responder":{"type":"robot","name":"x"}}`, status: 422},
		{name: "escalate needs escalation", method: "POST", path: "/v2/alerts/" + a.ID + "/escalate", body: `{}`, status: 422},
		{name: "escalate", method: "POST", path: "/v2/alerts/" + a.ID + "/escalate", body: `{"escalation":{"name":"night"},"note":"escalated"}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if got.Notes[len(got.Notes)-1].Note != "escalated" {
					t.Errorf("action note missing: %+v", got.Notes)
				}
			}},
		{name: "acknowledge", method: "POST", path: "/v2/alerts/" + a.ID + "/acknowledge", status: 202,
			check: func(t *testing.T, got Alert) {
				if !got.Acknowledged {
					t.Error("not acknowledged")
				}
			}},
		{name: "close", method: "POST", path: "/v2/alerts/" + a.ID + "/close", body: `{"user":"u"}`, status: 202,
			check: func(t *testing.T, got Alert) {
				if got.Status != "closed" || got.Report.ClosedBy != "u" {
					t.Errorf("status %s report %+v", got.Status, got.Report)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, s, tc.method, tc.path, key, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if status == 202 {
				if body["result"] != "Request will be processed" || body["requestId"] == "" {
					t.Errorf("202 answer %v", body)
				}
				st, _, sb := do(t, s, "GET", "/v2/alerts/requests/"+body["requestId"].(string), key, "")
				if data, _ := sb["data"].(map[string]any); st != 200 || data["isSuccess"] != true || data["alertId"] != a.ID {
					t.Errorf("request status %d %v", st, sb)
				}
			}
			if status >= 400 && body["message"] == nil {
				t.Errorf("no message: %v", body)
			}
			if tc.check != nil {
				got, _ := s.Alert(a.ID)
				tc.check(t, got)
			}
		})
	}
}

func TestActionOnUnknownAlertIsAcceptedThenFails(t *testing.T) {
	s := NewT(t)
	status, _, body := do(t, s, "POST", "/v2/alerts/nope/notes", s.APIKey(), `{"note":"x"}`)
	if status != 202 {
		t.Fatalf("status %d, want 202 like OpsGenie", status)
	}
	_, _, sb := do(t, s, "GET", "/v2/alerts/requests/"+body["requestId"].(string), s.APIKey(), "")
	data := sb["data"].(map[string]any)
	if data["isSuccess"] != false || data["status"] != "Alert does not exist" {
		t.Errorf("request status %v", data)
	}
	if st, _, _ := do(t, s, "GET", "/v2/alerts/requests/unknown", s.APIKey(), ""); st != 404 {
		t.Errorf("unknown request status: %d, want 404", st)
	}
}

func TestCreateAlertAPI(t *testing.T) {
	s := NewT(t)
	body := `{"message":"disk full","alias":"db01-disk","tags":["x"],"details":{"host":"db01"},
		"responders":[{"type":"team","name":"incoming"},{"type":"user","username":"u@example.com"}],"entity":"db01","priority":"P2"}`
	status, _, ans := do(t, s, "POST", "/v2/alerts", s.APIKey(), body)
	if status != 202 {
		t.Fatalf("create: %d %v", status, ans)
	}
	_, _, sb := do(t, s, "GET", "/v2/alerts/requests/"+ans["requestId"].(string), s.APIKey(), "")
	id := sb["data"].(map[string]any)["alertId"].(string)
	got, ok := s.Alert(id)
	if !ok || got.Message != "disk full" || got.Details["host"] != "db01" || !slices.Equal(got.Teams, []string{"incoming"}) || got.Priority != "P2" {
		t.Fatalf("created alert %+v", got)
	}
	// Same alias while open: de-duplicated, count goes up.
	do(t, s, "POST", "/v2/alerts", s.APIKey(), body)
	if got, _ := s.Alert(id); got.Count != 2 || len(s.Alerts()) != 1 {
		t.Errorf("after duplicate: count %d, %d alerts", got.Count, len(s.Alerts()))
	}
	for _, bad := range []string{`{}`, `{"message":"m","priority":"P9"}`} {
		if st, _, _ := do(t, s, "POST", "/v2/alerts", s.APIKey(), bad); st != 422 {
			t.Errorf("create %s: %d, want 422", bad, st)
		}
	}
	_, _, cnt := do(t, s, "GET", "/v2/alerts/count?query=tag:x", s.APIKey(), "")
	if n := cnt["data"].(map[string]any)["count"]; n != float64(1) {
		t.Errorf("count %v", cnt)
	}
}

func TestGetByIdentifierTypes(t *testing.T) {
	s := NewT(t)
	a := s.CreateAlert(AlertSpec{Message: "m", Alias: "al", Details: map[string]string{"k": "v"}, Teams: []string{"t"}})
	for _, p := range []string{"/v2/alerts/" + a.ID, "/v2/alerts/" + a.TinyID + "?identifierType=tiny", "/v2/alerts/al?identifierType=alias"} {
		status, _, body := do(t, s, "GET", p, s.APIKey(), "")
		if status != 200 {
			t.Fatalf("GET %s: %d", p, status)
		}
		data := body["data"].(map[string]any)
		if data["id"] != a.ID || data["details"].(map[string]any)["k"] != "v" {
			t.Errorf("GET %s: %v", p, data)
		}
		resp := data["responders"].([]any)[0].(map[string]any)
		if resp["type"] != "team" || resp["id"] == "" {
			t.Errorf("responders %v", data["responders"])
		}
	}
}

func TestNotesAPI(t *testing.T) {
	s := NewT(t)
	a := s.CreateAlert(AlertSpec{Message: "m"})
	for _, n := range []string{"one", "two"} {
		do(t, s, "POST", "/v2/alerts/"+a.ID+"/notes", s.APIKey(), `{"note":"`+n+`"}`)
	}
	_, _, body := do(t, s, "GET", "/v2/alerts/"+a.ID+"/notes?order=asc", s.APIKey(), "")
	data := body["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["note"] != "one" {
		t.Errorf("notes %v", data)
	}
	if got := s.Notes(a.ID); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("Notes() = %v", got)
	}
}

func TestFailNextAndRequestLog(t *testing.T) {
	s := NewT(t, Options{RateLimitPeriod: 60})
	s.FailNext(2, http.StatusTooManyRequests)
	for i, want := range []int{429, 429, 200} {
		status, h, body := do(t, s, "GET", "/v2/alerts", s.APIKey(), "")
		if status != want {
			t.Fatalf("request %d: %d, want %d", i, status, want)
		}
		if want == 429 {
			if h.Get("X-RateLimit-State") != "THROTTLED" || h.Get("X-RateLimit-Period-In-Sec") != "60" || h.Get("X-RateLimit-Reason") == "" || body["message"] == nil {
				t.Errorf("throttled answer: %v %v", h, body)
			}
		} else if h.Get("X-RateLimit-State") != "OK" {
			t.Errorf("X-RateLimit-State %q", h.Get("X-RateLimit-State"))
		}
	}
	s.FailNext(1, http.StatusServiceUnavailable)
	if status, _, _ := do(t, s, "GET", "/v2/alerts", s.APIKey(), ""); status != 503 {
		t.Errorf("status %d, want 503", status)
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[0].Status != 429 || reqs[2].Status != 200 || reqs[3].Status != 503 || reqs[0].Path != "/v2/alerts" {
		t.Errorf("requests %+v", reqs)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("ResetRequests kept entries")
	}
}

func TestOmitRequestID(t *testing.T) {
	s := NewT(t, Options{OmitRequestID: true})
	a := s.CreateAlert(AlertSpec{Message: "m"})
	status, h, body := do(t, s, "POST", "/v2/alerts/"+a.ID+"/notes", s.APIKey(), `{"note":"x"}`)
	if status != 202 || h.Get("X-Request-Id") != "" || body["requestId"] != nil {
		t.Errorf("status %d header %q body %v", status, h.Get("X-Request-Id"), body)
	}
}

func TestCreateAlertPanicsOnInvalidSpec(t *testing.T) {
	s := NewT(t)
	defer func() {
		if recover() == nil {
			t.Error("no panic for an alert without message")
		}
	}()
	s.CreateAlert(AlertSpec{})
}

func TestModify(t *testing.T) {
	s := NewT(t)
	a := s.CreateAlert(AlertSpec{Message: "m", Teams: []string{"incoming"}})
	if !s.Modify(a.ID, func(a *Alert) { a.Teams = []string{"ops"}; a.Tags = append(a.Tags, "x") }) {
		t.Fatal("Modify: alert not found")
	}
	got, _ := s.Alert(a.ID)
	if !slices.Equal(got.Teams, []string{"ops"}) || len(got.Responders) != 1 || got.Responders[0].ID != teamID("ops") || !slices.Equal(got.Tags, []string{"x"}) {
		t.Errorf("after Modify: teams %v responders %+v tags %v", got.Teams, got.Responders, got.Tags)
	}
	if s.Modify("nope", func(*Alert) {}) {
		t.Error("Modify of an unknown alert reported true")
	}
}
