package healthcheck

import (
	"bytes"
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/tlstest"
)

// pingServer answers GET /v1/ping with status; other paths 404.
func pingServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != PingPath {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRun(t *testing.T) {
	up := pingServer(t, http.StatusOK)
	upPort := up.Listener.Addr().(*net.TCPAddr).Port
	down := pingServer(t, http.StatusServiceUnavailable)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	closed := closedPort(t)

	tests := []struct {
		name          string
		config        string // config file content; "" means no file written
		defaultListen string
		args          []string // -config is prepended when config is set
		wantErr       string   // substring; "" means success
		wantOut       string   // substring of stdout on success
	}{
		{name: "configured listen answers", config: "listen: " + up.Listener.Addr().String() + "\n", wantOut: "ok: http://" + up.Listener.Addr().String() + "/v1/ping"},
		{name: "wildcard host asked on loopback", config: "listen: 0.0.0.0:" + strconv.Itoa(upPort) + "\nrules_dir: /x\n", wantOut: "ok: http://127.0.0.1:"},
		{name: "empty host asked on loopback", config: "listen: :" + strconv.Itoa(upPort) + "\n", wantOut: "ok:"},
		{name: "default listen when config sets none", config: "log: {level: info}\n", defaultListen: up.Listener.Addr().String(), wantOut: "ok:"},
		{name: "no listen and no default passes", config: "state_file: /x\n", wantOut: "serves no HTTP"},
		{name: "url flag skips config", args: []string{"-config", "/nonexistent", "-url", up.URL + PingPath}, wantOut: "ok:"},
		{name: "unhealthy status", config: "listen: " + down.Listener.Addr().String() + "\n", wantErr: "status 503"},
		{name: "nothing listening", config: "listen: " + closed + "\n", wantErr: "connection refused"},
		{name: "hanging service times out", args: []string{"-url", hang.URL + PingPath, "-timeout", "100ms"}, wantErr: "deadline exceeded"},
		{name: "missing config file", args: []string{"-config", "/nonexistent/alexis.yaml"}, wantErr: "read config"},
		{name: "config not YAML", config: "listen: [\n", wantErr: "config"},
		{name: "bad listen value", config: "listen: nonsense\n", wantErr: `listen "nonsense"`},
		{name: "unexpected argument", args: []string{"-url", up.URL, "extra"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.config != "" {
				args = append([]string{"-config", writeFile(t, "svc.yaml", tc.config)}, args...)
			}
			var stdout, stderr bytes.Buffer
			opts := Options{Service: "svc", DefaultConfig: "/nonexistent/default.yaml", DefaultListen: tc.defaultListen}
			err := Run(context.Background(), opts, args, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v (stderr %q)", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantOut) {
				t.Fatalf("stdout = %q, want it to contain %q", stdout.String(), tc.wantOut)
			}
		})
	}
}

func TestRunTLSWithCAFile(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(s.Close)
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})))
	notPEM := writeFile(t, "bad.pem", "not a certificate")

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "trusted with ca file", args: []string{"-url", s.URL + PingPath, "-ca-file", ca}},
		{name: "untrusted without ca file", args: []string{"-url", s.URL + PingPath}, wantErr: "certificate"},
		{name: "ca file without certificate", args: []string{"-url", s.URL + PingPath, "-ca-file", notPEM}, wantErr: "no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(context.Background(), Options{Service: "svc"}, tc.args, &out, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestPingURL(t *testing.T) {
	tests := []struct {
		listen string
		https  bool
		want   string
	}{
		{listen: "127.0.0.1:8081", want: "http://127.0.0.1:8081/v1/ping"},
		{listen: "0.0.0.0:8082", want: "http://127.0.0.1:8082/v1/ping"},
		{listen: "[::]:8080", want: "http://127.0.0.1:8080/v1/ping"},
		{listen: ":9000", want: "http://127.0.0.1:9000/v1/ping"},
		{listen: "[::1]:9000", want: "http://[::1]:9000/v1/ping"},
		{listen: "classifier:8081", want: "http://classifier:8081/v1/ping"},
		{listen: "0.0.0.0:8443", https: true, want: "https://127.0.0.1:8443/v1/ping"},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			got, err := PingURL(tc.listen, tc.https)
			if err != nil || got != tc.want {
				t.Fatalf("PingURL(%q, %v) = %q, %v; want %q", tc.listen, tc.https, got, err, tc.want)
			}
		})
	}
}

// TestRunTLSFromConfig: a service configured with tls.cert_file is asked
// over HTTPS and must present exactly that certificate.
func TestRunTLSFromConfig(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(s.Close)
	own := writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})))
	other, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign := other.CertFile
	listen := s.Listener.Addr().String()

	tests := []struct {
		name    string
		config  string
		wantErr string
	}{
		{name: "served certificate is the configured one", config: "listen: " + listen + "\ntls: {cert_file: " + own + ", key_file: /k}\n"},
		{name: "served certificate differs", config: "listen: " + listen + "\ntls: {cert_file: " + foreign + ", key_file: /k}\n", wantErr: "not the one in tls.cert_file"},
		{name: "cert file missing", config: "listen: " + listen + "\ntls: {cert_file: /nonexistent.pem}\n", wantErr: "tls.cert_file"},
		{name: "cert file without certificate", config: "listen: " + listen + "\ntls: {cert_file: " + writeFile(t, "x.pem", "nothing") + "}\n", wantErr: "no PEM certificate"},
		{name: "plain HTTP to a TLS server fails", config: "listen: " + listen + "\n", wantErr: "status 400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(context.Background(), Options{Service: "svc"}, []string{"-config", writeFile(t, "svc.yaml", tc.config)}, &out, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr == "" && !strings.Contains(out.String(), "ok: https://"):
				t.Fatalf("stdout = %q, want ok: https://...", out.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
