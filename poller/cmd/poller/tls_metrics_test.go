package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/tlstest"
)

// The poller serves its API over HTTPS when tls is configured, and
// /metrics (with a token) counts what it delivered.
func TestRunTLSAndMetrics(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newClassifier(t)
	og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}, CreatedAt: time.Now().Add(-time.Minute)})
	certs, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := setup(t, og, cl, og.APIKey(), "tls: {cert_file: "+certs.CertFile+", key_file: "+certs.KeyFile+"}\n")

	logs := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg}, io.Discard, logs) }()
	var addr string
	waitFor(t, "service_started", func() bool {
		m := listenRE.FindStringSubmatch(logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	waitFor(t, "the alert to reach the classifier", func() bool { return len(cl.received()) > 0 })

	pem, _ := os.ReadFile(certs.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	fetch := func(tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := fetch(""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without token: %d", code)
	}
	// A delivery is counted while its poll runs, the poll itself when it
	// ends: wait for both.
	wants := []string{`poller_alerts_delivered_total{feed="incoming",result="matched"} 1`,
		`poller_polls_total{feed="incoming",outcome="ok"}`, `poller_alerts_polled_total{feed="incoming"} 1`,
		"poller_poll_duration_seconds_bucket", `poller_http_requests_total{code="401"`,
		"\npoller_leader 1\n"} // with a state file, the one replica is the active one
	var body string
	waitFor(t, "delivery and poll counted", func() bool {
		_, body = fetch(userToken)
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
	// Plain HTTP to the TLS listener gets net/http's 400, never the API.
	if resp, err := http.Get("http://" + addr + "/v1/ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS listener")
		}
	}
	// The image's HEALTHCHECK: the binary checks its own HTTPS listener.
	if err := run(context.Background(), []string{"healthcheck", "-url", "https://" + addr + "/v1/ping", "-ca-file", certs.CAFile}, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
