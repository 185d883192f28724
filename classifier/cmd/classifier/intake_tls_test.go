package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/httpapi"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/tlstest"
)

// The classifier serves HTTPS when tls is configured; Alertmanager's
// notifications and webhook feeds go through the rules; /metrics (with a
// token) counts it all; a rule asking for write-back the feed's ticket
// system cannot do is refused when it loads.
func TestRunTLSIntakeMetrics(t *testing.T) {
	ah := &recorder{}
	ahSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := ah.record(r)
		req, err := action.Decode(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(api.ActionAccepted{ExecutionID: "exec-" + req.Rule.Name, Status: api.ExecQueued})
	}))
	defer ahSrv.Close()

	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile("../../testdata/rules_intake/am_disk_full.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "am_disk_full.json"), string(disk))
	// No ticket system serves Alertmanager alerts here: this rule's
	// on_success cannot be done, so it must not load.
	writeFile(t, filepath.Join(rulesDir, "am_with_writeback.json"), strings.Replace(strings.Replace(string(disk),
		`"entity_type"`, `"on_success": [{"op": "note", "value": "cleaned"}], "entity_type"`, 1),
		"am_disk_full_cleanup", "am_with_writeback", 1))
	certs, err := tlstest.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, filepath.Join(dir, "classifier.yaml"), fmt.Sprintf(`
listen: 127.0.0.1:0
tokens_file: %s
rules_dir: %s
action_handlers: {linux: %s/v1/action}
action_handler_token_file: %s
default_investigation_queue: ops_investigation
tls: {cert_file: %s, key_file: %s}
tickets:
  opsgenie: {api_url: 127.0.0.1:1, api_key_file: %s, timeout: 1s, retries: 1}
alertmanager: {feed_name: prometheus}
webhooks:
  - {name: grafana, feed_type: Grafana, id_path: fingerprint, items_path: alerts}
`,
		writeFile(t, filepath.Join(dir, "tokens"), "alertmanager:"+clientToken+" scopes=classify:prometheus,classify:grafana,read,metrics\n"+
			"poller:"+ahToken+"\n"),
		rulesDir, ahSrv.URL,
		writeFile(t, filepath.Join(dir, "ah_token"), ahToken+"\n"),
		certs.CertFile, certs.KeyFile,
		writeFile(t, filepath.Join(dir, "genie_key"), genieKey+"\n"),
	))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg}, &stdout, &stderr) }()
	base := "https://" + waitListening(t, &stderr, done)

	pem, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(method, path, token string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	notification, err := os.ReadFile("../../testdata/alertmanager/notification.json")
	if err != nil {
		t.Fatal(err)
	}
	code, body := call(http.MethodPost, "/v1/alertmanager", clientToken, notification)
	var answer httpapi.IntakeAnswer
	if err := json.Unmarshal([]byte(body), &answer); err != nil || code != http.StatusOK {
		t.Fatalf("alertmanager: %d %s\n%s", code, body, stderr.String())
	}
	if answer.FeedName != "prometheus" || len(answer.Alerts) != 3 || answer.Alerts[0].Result != api.ResultMatched ||
		answer.Alerts[0].RulesChecked != 1 || answer.Alerts[1].Result != api.ResultUnmatched || answer.Alerts[2].Result != httpapi.ResultSkipped {
		t.Errorf("answer %s", body)
	}
	if pushed := ah.get("/v1/action"); len(pushed) != 1 || !strings.Contains(pushed[0], `"rule_name":"am_disk_full_cleanup"`) ||
		!strings.Contains(pushed[0], `"feed_type":"Alertmanager"`) {
		t.Errorf("action handler got %v", pushed)
	}

	code, body = call(http.MethodPost, "/v1/webhook/grafana", clientToken, []byte(`{"alerts": [{"fingerprint": "g1", "labels": {}}]}`))
	if code != http.StatusOK || !strings.Contains(body, `"result":"unmatched"`) {
		t.Errorf("webhook: %d %s", code, body)
	}
	// This token may post to two feeds only: another name is refused before
	// it is looked up, so it learns nothing of which feeds exist.
	if code, _ := call(http.MethodPost, "/v1/webhook/other", clientToken, []byte(`{}`)); code != http.StatusForbidden {
		t.Errorf("unknown webhook feed: %d", code)
	}

	code, body = call(http.MethodGet, "/v1/rules", clientToken, nil)
	if code != http.StatusOK || !strings.Contains(body, `"path":"on_success"`) ||
		!strings.Contains(body, `no ticket system is configured for alert_feed \"Alertmanager\"`) {
		t.Errorf("rules: %d %s", code, body)
	}

	if code, _ := call(http.MethodGet, "/metrics", "", nil); code != http.StatusUnauthorized {
		t.Errorf("/metrics without token: %d", code)
	}
	// A token with the default scopes (classify,read) may not scrape
	// (ahToken doubles as such a client token here).
	if code, body := call(http.MethodGet, "/metrics", ahToken, nil); code != http.StatusForbidden ||
		!strings.Contains(body, `"missing_scope":"metrics"`) {
		t.Errorf("/metrics without scope metrics: %d %s", code, body)
	}
	code, body = call(http.MethodGet, "/metrics", clientToken, nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`classifier_alerts_classified_total{feed_type="Alertmanager",result="matched"} 1`,
		`classifier_alerts_classified_total{feed_type="Alertmanager",result="unmatched"} 1`,
		`classifier_alerts_classified_total{feed_type="Grafana",result="unmatched"} 1`,
		`classifier_rules_matched_total{rule="am_disk_full_cleanup"} 1`,
		`classifier_action_pushes_total{os_type="linux",outcome="accepted"} 1`,
		`classifier_rules{status="ok"} 1`,
		`classifier_rules{status="invalid"} 1`,
		"classifier_classify_duration_seconds_bucket",
		`classifier_http_requests_total{code="200",method="POST",route="/v1/alertmanager"} 1`,
		`classifier_http_requests_total{code="403",method="POST",route="/v1/webhook/:name"} 1`,
		`classifier_http_requests_total{code="401",method="GET",route="/metrics"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Plain HTTP to the TLS listener never reaches the API.
	if resp, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/v1/ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS listener")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs := stderr.String()
	for _, want := range []string{"event=notification_received", "event=alert_skipped", "event=rule_invalid"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(logs+body, clientToken) || strings.Contains(logs, genieKey) {
		t.Error("a secret reached the logs or /metrics")
	}
}
