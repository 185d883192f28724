package httptask

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/task"
)

// TestDestinations calls a real server on 127.0.0.1 (a guarded address)
// and checks which configurations reach it, and that a refused call sends
// nothing and records nothing rendered.
func TestDestinations(t *testing.T) {
	var mu sync.Mutex
	var seen []string // request URIs the server received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	local := "127.0.0.1:" + port
	alert := []byte(`{"id": "a1", "details": {"dir": "..", "path": "../../admin", "dot": ".", "q": "a?b#c/d", "marker": "zq-rendered-81"}}`)
	for _, tc := range []struct {
		name    string
		allowed []string
		url     string
		entity  string
		reached string // request URI the server must see; "": refused
	}{
		{name: "loopback unlisted", url: "http://" + local + "/x/{{ .details.marker }}"},
		{name: "loopback listed", allowed: []string{"127.0.0.1"}, url: "http://" + local + "/x", reached: "/x"},
		{name: "loopback listed with its port", allowed: []string{local}, url: "http://" + local + "/x", reached: "/x"},
		{name: "loopback listed with another port", allowed: []string{"127.0.0.1:1"}, url: "http://" + local + "/x/{{ .details.marker }}"},
		{name: "name listed, address not", allowed: []string{"localhost"},
			url: "http://localhost:" + port + "/x/{{ .details.marker }}"},
		{name: "name and address listed", allowed: []string{"localhost", "127.0.0.1"}, url: "http://localhost:" + port + "/x", reached: "/x"},
		{name: "host from the alert without a list", url: "http://{{ entity }}:" + port + "/x/{{ .details.marker }}", entity: "127.0.0.1"},
		{name: "host from the alert, listed", allowed: []string{"127.0.0.1"}, url: "http://{{ entity }}:" + port + "/x", entity: "127.0.0.1", reached: "/x"},
		{name: "host from the alert, not listed", allowed: []string{"lb.example.com"}, url: "http://{{ entity }}:" + port + "/x/{{ .details.marker }}", entity: "127.0.0.1"},
		{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]:" + port + "/x/{{ .details.marker }}"},
		{name: "unspecified reaches the local host", url: "http://0.0.0.0:" + port + "/x/{{ .details.marker }}"},
		{name: "IPv6 loopback", url: "http://[::1]:" + port + "/x/{{ .details.marker }}"},
		// Off-machine addresses (cloud metadata, link-local, metadata names)
		// are checked by TestGuarded without a request: a regression here
		// must not send traffic anywhere but loopback.
		{name: "dot-segments stay segments", allowed: []string{"127.0.0.1"},
			url:     "http://" + local + "/files/{{ .details.dir }}/{{ .details.dot }}/{{ .details.path }}/{{ .details.q }}?v={{ .details.dir }}",
			reached: "/files/%2E%2E/%2E/%2E%2E%2F%2E%2E%2Fadmin/a%3Fb%23c%2Fd?v=%2E%2E"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			r := New(Options{AllowedHosts: tc.allowed})
			s := task.Step{Entity: tc.entity, Alert: alert, Task: task.Task{TaskType: Name, Params: &Params{URL: tc.url}}}
			res := r.Run(context.Background(), s)
			desc, descErr := r.Describe(s)
			mu.Lock()
			got := append([]string(nil), seen...)
			mu.Unlock()
			if tc.reached != "" {
				if res.Err != nil || len(got) != 1 || got[0] != tc.reached {
					t.Fatalf("err %v, server saw %q, want %q", res.Err, got, tc.reached)
				}
				if descErr != nil || !strings.HasPrefix(desc, "call GET http://") {
					t.Errorf("describe %q %v", desc, descErr)
				}
				return
			}
			if !errors.Is(res.Err, ErrDestinationRefused) || !errors.Is(descErr, ErrDestinationRefused) {
				t.Fatalf("run err %v, describe err %v: want %v", res.Err, descErr, ErrDestinationRefused)
			}
			if len(got) != 0 {
				t.Errorf("server reached: %q", got)
			}
			if res.Command != "GET "+tc.url || desc != "" {
				t.Errorf("recorded %q / described %q: want the rule's url, nothing rendered", res.Command, desc)
			}
			for _, text := range []string{res.Command, res.Err.Error(), descErr.Error(), res.Stdout, res.Stderr} {
				if strings.Contains(text, "zq-rendered-81") || (tc.entity != "" && strings.Contains(text, tc.entity)) {
					t.Errorf("rendered text recorded: %q", text)
				}
			}
		})
	}
}

func TestGuarded(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "::ffff:127.0.0.1": true, "169.254.169.254": true,
		"169.254.1.1": true, "fe80::1": true, "fd00:ec2::254": true, "0.0.0.0": true, "0.1.2.3": true, "::": true,
		"100.100.100.200": true, "224.0.0.1": true,
		"10.0.0.1": false, "192.168.1.10": false, "8.8.8.8": false, "fd00:ec2::253": false, "2001:db8::1": false,
	} {
		if got := Guarded(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Guarded(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestRebinding: the name resolves to a public address when the call is
// checked and to loopback when it connects (DNS rebinding): the check at
// connect time refuses it.
func TestRebinding(t *testing.T) {
	hit := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, tc := range []struct {
		name    string
		allowed []string
		refused bool
	}{
		{name: "rebound to loopback", allowed: []string{"localhost"}, refused: true},
		{name: "loopback listed", allowed: []string{"localhost", "127.0.0.1", "::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{AllowedHosts: tc.allowed})
			r.lookup = func(context.Context, string) ([]netip.Addr, error) {
				return []netip.Addr{netip.MustParseAddr("192.0.2.10")}, nil // the first answer
			}
			for len(hit) > 0 {
				<-hit
			}
			res := r.Run(context.Background(), task.Step{Task: task.Task{TaskType: Name, Params: &Params{URL: "http://localhost:" + port + "/x"}}})
			if !tc.refused {
				if res.Err != nil || len(hit) != 1 {
					t.Fatalf("err %v, hits %d", res.Err, len(hit))
				}
				<-hit
				return
			}
			if !errors.Is(res.Err, ErrDestinationRefused) || len(hit) != 0 {
				t.Fatalf("err %v, hits %d: want refused at connect", res.Err, len(hit))
			}
			if res.Command != "GET http://localhost:"+port+"/x" {
				t.Errorf("command %q", res.Command)
			}
		})
	}
}

// TestPreviewNoLookup: Preview describes and refuses as Describe does,
// without looking anything up (Describe looks the name up).
func TestPreviewNoLookup(t *testing.T) {
	r := New(Options{AllowedHosts: []string{"api.example.com", "10.0.0.1"}})
	lookups := 0
	r.lookup = func(context.Context, string) ([]netip.Addr, error) {
		lookups++
		return []netip.Addr{netip.MustParseAddr("192.0.2.10")}, nil
	}
	step := func(u string) task.Step {
		return task.Step{Task: task.Task{TaskType: Name, Params: &Params{URL: u}}}
	}
	for _, tc := range []struct {
		url, want string
		refused   bool
	}{
		{url: "https://api.example.com/restart", want: "call GET https://api.example.com/restart"},
		{url: "http://10.0.0.1/x", want: "call GET http://10.0.0.1/x"},
		{url: "https://other.example.com/x", refused: true},
		{url: "http://169.254.169.254/latest", refused: true},
	} {
		got, err := task.Preview(r, step(tc.url))
		if tc.refused != (err != nil) || (!tc.refused && got != tc.want) {
			t.Errorf("%s: %q, %v", tc.url, got, err)
		}
		if tc.refused && !errors.Is(err, ErrDestinationRefused) {
			t.Errorf("%s: %v, want ErrDestinationRefused", tc.url, err)
		}
	}
	if lookups != 0 {
		t.Errorf("Preview looked up %d names", lookups)
	}
	if _, err := r.Describe(step("https://api.example.com/restart")); err != nil || lookups != 1 {
		t.Errorf("Describe: %v, %d lookups (the test's lookup is not used?)", err, lookups)
	}
}
