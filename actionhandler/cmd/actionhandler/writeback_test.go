package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/tlstest"
)

// A rule's on_success replaces the default routing: the result note, then
// its own note, then the alert is closed.
func TestOnSuccessCloses(t *testing.T) {
	s := start(t, false)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	r := markerRule("echo ok")
	r.OnSuccess = []ticket.Op{{Kind: ticket.KindNote, Value: "fixed"}, {Kind: ticket.KindClose}}
	if status, acc := s.postRule(t, a, r); status != http.StatusAccepted {
		t.Fatalf("answer %d %+v", status, acc)
	}
	waitFor(t, "the alert closed", func() bool {
		got, _ := s.og.Alert(a.ID)
		return got.Status == "closed"
	})
	notes := s.og.Notes(a.ID)
	i := slices.IndexFunc(notes, func(n string) bool { return strings.Contains(n, "write_marker on "+s.ssh.Addr+": success") })
	j := slices.Index(notes, "fixed")
	if i < 0 || j < 0 || i > j {
		t.Errorf("want the result note before %q: %q", "fixed", notes)
	}
	if teams := s.og.Teams(a.ID); slices.Contains(teams, "ops_unix") || slices.Contains(teams, "queue_needsinvestigation") {
		t.Errorf("on_success replaces the routing, teams %q", teams)
	}
}

// on_failure escalates instead of adding the investigation queue; an
// operation that fails (a team OpsGenie refuses) does not stop the next.
func TestOnFailureEscalates(t *testing.T) {
	s := start(t, false)
	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	r := markerRule("exit 3")
	r.OnFailure = []ticket.Op{{Kind: ticket.KindAddTags, Values: []string{"alexis-failed"}}, {Kind: ticket.KindEscalate, Value: "db-escalation"}}
	if status, acc := s.postRule(t, a, r); status != http.StatusAccepted {
		t.Fatalf("answer %d %+v", status, acc)
	}
	waitFor(t, "the escalation", func() bool { return slices.Contains(s.og.Escalations(a.ID), "db-escalation") })
	if !slices.Contains(s.og.Tags(a.ID), "alexis-failed") {
		t.Errorf("tags %q", s.og.Tags(a.ID))
	}
	if slices.Contains(s.og.Teams(a.ID), "queue_needsinvestigation") {
		t.Errorf("on_failure replaces the investigation queue")
	}
	if !strings.Contains(strings.Join(s.og.Notes(a.ID), "\n"), "failure (exit 3") {
		t.Errorf("result note missing: %q", s.og.Notes(a.ID))
	}
}

// With tls configured the API and /metrics are served over HTTPS; /metrics
// needs a token and counts a real execution.
func TestTLSAndMetrics(t *testing.T) {
	certs, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(certs.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	s := startWith(t, false, "5s", "tls: {cert_file: "+certs.CertFile+", key_file: "+certs.KeyFile+"}\n", client)

	a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}})
	if status, acc := s.post(t, a, "echo one"); status != http.StatusAccepted {
		t.Fatalf("answer %d %+v", status, acc)
	}
	waitFor(t, "route_to_team", func() bool { return slices.Contains(s.og.Teams(a.ID), "ops_unix") })
	if status, _ := s.post(t, a, "echo one"); status != http.StatusOK {
		t.Errorf("duplicate: %d", status)
	}

	fetch := func(tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
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
	// The classifier's token (default scopes act,read) may not scrape.
	if code, body := fetch(classifierToken); code != http.StatusForbidden || !strings.Contains(body, `"missing_scope":"metrics"`) {
		t.Errorf("/metrics with a token without scope metrics: %d %s", code, body)
	}
	var body string
	waitFor(t, "write-back counted", func() bool {
		_, body = fetch(token)
		return strings.Contains(body, `actionhandler_writeback_calls_total{op="add_team",result="ok",system="opsgenie"} 1`)
	})
	for _, want := range []string{
		`actionhandler_actions_total{status="success",task_type="remote_ssh"} 1`,
		`actionhandler_executions_total{status="success"} 1`,
		`actionhandler_executions_total{status="duplicate"} 1`,
		`actionhandler_action_duration_seconds_count{task_type="remote_ssh"} 1`,
		`actionhandler_execution_duration_seconds_count 1`,
		`actionhandler_ssh_connections_total{result="opened"} 1`,
		`actionhandler_writeback_calls_total{op="note",result="ok",system="opsgenie"} 1`,
		"actionhandler_queue_depth 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if resp, err := http.Get(strings.Replace(s.url, "https://", "http://", 1) + "/v1/ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS listener")
		}
	}
}
