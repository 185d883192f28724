package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/tlstest"
	"github.com/labstack/echo/v4"
)

// HTTPS end to end: Run serves with a certificate from files, and the
// shared client verifies it against a CA file, refusing a server it cannot
// verify.
func TestTLS(t *testing.T) {
	good, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	log := logging.New(&logs, "test", logging.Options{})
	e := New(Options{Service: "test", Log: log})
	e.POST("/echo", func(c echo.Context) error { return c.JSON(200, map[string]string{"ok": "yes"}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, e, ln, TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile}, log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "https://" + ln.Addr().String() + "/echo"

	c, err := httpclient.New(httpclient.Options{CAFile: good.CAFile, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if _, err := c.PostJSON(context.Background(), url, map[string]int{}, &out); err != nil || out["ok"] != "yes" {
		t.Fatalf("trusted CA: %v %v", out, err)
	}
	for name, o := range map[string]httpclient.Options{
		"other CA":     {CAFile: other.CAFile, Timeout: 5 * time.Second},
		"system roots": {Timeout: 5 * time.Second},
	} {
		c, err := httpclient.New(o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.PostJSON(context.Background(), url, map[string]int{}, nil)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: want a certificate error, got %v", name, err)
		}
	}
	// Plain HTTP to the TLS port is refused, not served.
	plain, _ := httpclient.New(httpclient.Options{Timeout: 5 * time.Second})
	if code, err := plain.PostJSON(context.Background(), "http://"+ln.Addr().String()+"/echo", nil, nil); err == nil || code == 200 {
		t.Errorf("plain HTTP to the TLS port: code %d err %v", code, err)
	}
	// The failed handshakes are logged in the service's format, not as
	// bare lines on stderr.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "TLS handshake error") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "TLS handshake error") {
			found = true
			if !strings.Contains(line, "level=warn") || !strings.Contains(line, "event=http_server_error") || !strings.Contains(line, "service=test") {
				t.Errorf("handshake error line %q: want level=warn event=http_server_error service=test", line)
			}
		}
	}
	if !found {
		t.Errorf("no TLS handshake error logged:\n%s", logs.String())
	}
}

func TestTLSFilesValidate(t *testing.T) {
	f, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		files   TLSFiles
		wantErr string
	}{
		{"none", TLSFiles{}, ""},
		{"both", TLSFiles{CertFile: f.CertFile, KeyFile: f.KeyFile}, ""},
		{"cert only", TLSFiles{CertFile: f.CertFile}, "tls.key_file: required"},
		{"key only", TLSFiles{KeyFile: f.KeyFile}, "tls.cert_file: required"},
		{"swapped", TLSFiles{CertFile: f.KeyFile, KeyFile: f.CertFile}, "tls.cert_file, tls.key_file"},
		{"missing", TLSFiles{CertFile: "/nonexistent", KeyFile: f.KeyFile}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.files.Validate("tls.")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
