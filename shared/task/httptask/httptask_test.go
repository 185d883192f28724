package httptask

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/task"
)

func TestRun(t *testing.T) {
	type seen struct{ method, path, auth, ctype, body string }
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		switch r.URL.Path {
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/redirect":
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
			return
		case "/big":
			w.Write([]byte(strings.Repeat("x", 500)))
			return
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte("echo " + r.Header.Get("Authorization")))
	}))
	defer srv.Close()
	alert := []byte(`{"id": "a1", "details": {"pool": "web/1"}}`)
	secret := func(n string) (string, error) { return "tok-123456", nil }
	// Tests call a loopback server: listed explicitly, as it must be.
	r := New(Options{OutputLimit: 100, AllowedHosts: []string{"127.0.0.1"}})
	for _, tc := range []struct {
		name   string
		task   task.Task
		want   seen
		status int
		err    error
		errMsg string
	}{
		{name: "post", task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/pools/{{ .details.pool }}/drain", Headers: map[string]string{"Authorization": `Bearer {{ secret "lb" }}`}, Body: `{"member": "{{ entity }}"}`}},
			want: seen{"POST", "/pools/web%2F1/drain", "Bearer tok-123456", "application/json", `{"member": "app01"}`}, status: 200},
		{name: "unexpected status", task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/down"}}, want: seen{method: "GET", path: "/down"}, status: 503, err: ErrStatus},
		{name: "expected status", task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/down", ExpectStatus: []int{503}}}, want: seen{method: "GET", path: "/down"}, status: 503},
		{name: "redirect not followed", task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/redirect"}}, want: seen{method: "GET", path: "/redirect"}, status: 302, err: ErrStatus},
		{name: "timeout", task: task.Task{TaskType: Name, Timeout: "200ms", Params: &Params{URL: srv.URL + "/slow"}}, want: seen{method: "GET", path: "/slow"}, errMsg: "timeout"},
		{name: "render error", task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/{{ .nope }}"}}, errMsg: "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.task.TaskType = Name
			res := r.Run(context.Background(), task.Step{Entity: "app01", Alert: alert, Task: tc.task, Secret: secret})
			if res.HTTPStatus != tc.status || res.ExitCode != -1 {
				t.Errorf("status %d exit %d, want %d (err %v)", res.HTTPStatus, res.ExitCode, tc.status, res.Err)
			}
			switch {
			case tc.err != nil && !errors.Is(res.Err, tc.err),
				tc.errMsg != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errMsg)),
				tc.err == nil && tc.errMsg == "" && res.Err != nil:
				t.Errorf("err %v, want %v %q", res.Err, tc.err, tc.errMsg)
			}
			if tc.want.method != "" {
				s := <-got
				if s.method != tc.want.method || s.path != tc.want.path || s.auth != tc.want.auth ||
					(tc.want.ctype != "" && s.ctype != tc.want.ctype) || s.body != tc.want.body {
					t.Errorf("server saw %+v, want %+v", s, tc.want)
				}
			}
		})
	}
	res := r.Run(context.Background(), task.Step{Task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/big"}}})
	if !res.Truncated || len(res.Stdout) != 100 || res.Err != nil {
		t.Errorf("big answer: %d bytes truncated=%v err %v", len(res.Stdout), res.Truncated, res.Err)
	}
	<-got
	limited := New(Options{AllowedHosts: []string{"lb.example.com"}})
	if res := limited.Run(context.Background(), task.Step{Task: task.Task{TaskType: Name, Params: &Params{URL: srv.URL + "/"}}}); !errors.Is(res.Err, ErrHostNotAllowed) {
		t.Errorf("allowed hosts: %v", res.Err)
	}
	// A literal address (TEST-NET-1): nothing to look up.
	if d, err := New(Options{}).Describe(task.Step{Entity: "h1", Task: task.Task{TaskType: Name, Params: &Params{URL: "http://192.0.2.1/{{ entity }}", Method: "delete"}}}); d != "call DELETE http://192.0.2.1/h1" || err != nil {
		t.Errorf("describe %q %v", d, err)
	}
}
