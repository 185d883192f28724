package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// AlertmanagerOptions start Prometheus Alertmanager (Debian's
// prometheus-alertmanager) beside the pipeline, with one route whose
// webhook receiver posts to the classifier's /v1/alertmanager with a bearer
// token (client "alertmanager" in the classifier's tokens file).
type AlertmanagerOptions struct {
	Bin            string        // default: prometheus-alertmanager from PATH
	Receiver       string        // receiver name, the alerts' feed_name; default "alexis"
	GroupWait      time.Duration // default 1s
	GroupInterval  time.Duration // default 1s
	RepeatInterval time.Duration // default 2s: Alertmanager sends firing alerts again this often
}

// Alertmanager is a running Prometheus Alertmanager.
type Alertmanager struct {
	URL        string // base URL, e.g. http://127.0.0.1:PORT
	ConfigFile string
	Proc       *Proc
}

// AlertmanagerBin is the Debian package's binary.
const AlertmanagerBin = "prometheus-alertmanager"

// ReceiverConfig is the webhook receiver that sends Alertmanager's
// notifications to the classifier, as an operator writes it
// (alertmanager.yml).
func ReceiverConfig(name, classifierURL, tokenFile string) string {
	return fmt.Sprintf(`  - name: %q
    webhook_configs:
      - url: %q
        send_resolved: true
        max_alerts: 50
        http_config:
          authorization:
            type: Bearer
            credentials_file: %q
`, name, classifierURL+"/v1/alertmanager", tokenFile)
}

func (s *Stack) startAlertmanager(ctx context.Context, o AlertmanagerOptions, tokenFile string) error {
	if o.Bin == "" {
		o.Bin = AlertmanagerBin
	}
	bin, err := exec.LookPath(o.Bin)
	if err != nil {
		return fmt.Errorf("alertmanager: %w (Debian package prometheus-alertmanager)", err)
	}
	if o.Receiver == "" {
		o.Receiver = "alexis"
	}
	for _, d := range []*time.Duration{&o.GroupWait, &o.GroupInterval} {
		if *d == 0 {
			*d = time.Second
		}
	}
	if o.RepeatInterval == 0 {
		o.RepeatInterval = 2 * time.Second
	}
	dir := filepath.Join(s.opts.Dir, "alertmanager")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`route:
  receiver: %q
  group_by: [alertname]
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
%s`, o.Receiver, model(o.GroupWait), model(o.GroupInterval), model(o.RepeatInterval),
		ReceiverConfig(o.Receiver, s.ClassifierURL, tokenFile))
	am := &Alertmanager{URL: "http://" + addr, ConfigFile: filepath.Join(dir, "alertmanager.yml")}
	if err := os.WriteFile(am.ConfigFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	am.Proc, err = startProc("alertmanager", bin, []string{
		"--config.file=" + am.ConfigFile,
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--cluster.listen-address=", // no clustering, no gossip port
		"--log.level=debug",
	}, filepath.Join(s.opts.LogDir, "alertmanager.log"), s.opts.Mirror)
	if err != nil {
		return err
	}
	s.Alertmanager = am
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return waitHTTP(wctx, am.Proc, am.URL+"/-/ready")
}

// model writes a duration as Alertmanager's configuration does ("1s",
// "500ms").
func model(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// PostedAlert is one alert as Alertmanager's API v2 takes it (what
// Prometheus sends).
type PostedAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Post sends alerts to Alertmanager's POST /api/v2/alerts, as Prometheus
// does. An alert with EndsAt in the past is resolved.
func (a *Alertmanager) Post(ctx context.Context, alerts ...PostedAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("alertmanager: post alerts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("alertmanager: post alerts: %s", resp.Status)
	}
	return nil
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, p *Proc, url string) error {
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s: %w\n%s", p.Name, url, ctx.Err(), strings.Join(p.Lines(), "\n"))
		case <-p.done:
			return fmt.Errorf("%s exited (%v):\n%s", p.Name, p.exitErr(), strings.Join(p.Lines(), "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
