package vendortest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/vendortest"
)

// toy is the smallest vendor API: it says which hook answered.
type toy struct{}

func (toy) ServeAPI(w http.ResponseWriter, r *http.Request) {
	if vendortest.Arrived(r).IsZero() {
		http.Error(w, "no arrival time", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, "api "+r.URL.Path)
}

func (toy) Fault(w http.ResponseWriter, _ *http.Request, status int) {
	w.WriteHeader(status)
	fmt.Fprintf(w, "fault %d", status)
}

func (toy) Unauthorized(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, "unauthorized")
}

func start(t *testing.T, o vendortest.Options) *vendortest.Server {
	t.Helper()
	o.Scheme, o.Secret = "Toy-Key", "s3cret"
	s, err := vendortest.New("toytest", toy{}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func get(t *testing.T, s *vendortest.Server, path, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL()+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestAuthorization(t *testing.T) {
	s := start(t, vendortest.Options{})
	cases := []struct {
		name, auth string
		status     int
		body       string
	}{
		{name: "right key", auth: "Toy-Key s3cret", status: 200, body: "api /x"},
		{name: "scheme in other case, padded key", auth: "toy-key  s3cret ", status: 200, body: "api /x"},
		{name: "no header", auth: "", status: 401, body: "unauthorized"},
		{name: "wrong key", auth: "Toy-Key s3cre", status: 401, body: "unauthorized"},
		{name: "wrong scheme", auth: "Bearer s3cret", status: 401, body: "unauthorized"},
		{name: "no scheme", auth: "s3cret", status: 401, body: "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, s, "/x", tc.auth)
			if status != tc.status || body != tc.body {
				t.Errorf("got %d %q, want %d %q", status, body, tc.status, tc.body)
			}
		})
	}
}

func TestFailNextAndRequestLog(t *testing.T) {
	var mu sync.Mutex
	var hooked []vendortest.Request
	s := start(t, vendortest.Options{OnRequest: func(r vendortest.Request) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, r)
	}})
	s.FailNext(2, http.StatusServiceUnavailable)
	want := []struct {
		status int
		body   string
	}{
		{503, "fault 503"}, // faults come before the key check
		{503, "fault 503"},
		{401, "unauthorized"},
		{200, "api /a/b"},
	}
	auths := []string{"", "Toy-Key s3cret", "", "Toy-Key s3cret"}
	for i, w := range want {
		status, body := get(t, s, "/a/b?q=1", auths[i])
		if status != w.status || body != w.body {
			t.Errorf("request %d: got %d %q, want %d %q", i, status, body, w.status, w.body)
		}
	}
	log := s.Requests()
	if len(log) != 4 {
		t.Fatalf("logged %d requests, want 4: %+v", len(log), log)
	}
	for i, r := range log {
		if r.Method != "GET" || r.Path != "/a/b" || r.Query != "q=1" || r.Status != want[i].status {
			t.Errorf("log[%d] = %+v, want GET /a/b q=1 %d", i, r, want[i].status)
		}
	}
	mu.Lock()
	if fmt.Sprint(hooked) != fmt.Sprint(log) {
		t.Errorf("OnRequest saw %+v, log has %+v", hooked, log)
	}
	mu.Unlock()
	s.ResetRequests()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("after ResetRequests: %d requests", n)
	}
}

func TestLatency(t *testing.T) {
	s := start(t, vendortest.Options{})
	s.SetLatency(150 * time.Millisecond)
	t0 := time.Now()
	if status, _ := get(t, s, "/", "Toy-Key s3cret"); status != 200 {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least 150ms", d)
	}
	// A client that gives up is not kept waiting by the latency.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	s.SetLatency(time.Hour)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("request through an hour of latency succeeded")
	}
}

func TestNewReportsEveryMissingOption(t *testing.T) {
	_, err := vendortest.New("toytest", nil, vendortest.Options{})
	if err == nil {
		t.Fatal("New accepted no api, scheme or secret")
	}
	for _, want := range []string{"toytest: ", "api: required", "scheme: required", "secret: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestStartTClosesAtTheEnd(t *testing.T) {
	var s *vendortest.Server
	t.Run("test", func(t *testing.T) {
		s = vendortest.StartT(t, func(o vendortest.Options) (*vendortest.Server, error) {
			o.Scheme, o.Secret = "Toy-Key", "s3cret"
			return vendortest.New("toytest", toy{}, o)
		})
		if status, _ := get(t, s, "/", "Toy-Key s3cret"); status != 200 {
			t.Fatalf("status %d", status)
		}
	})
	if _, err := http.Get(s.URL() + "/"); err == nil {
		t.Error("server still answers after its test ended")
	}
}
