package config

import (
	"strings"
	"testing"
	"time"
)

func TestConsoleBlock(t *testing.T) {
	_, tokens, key, known := files(t)
	base := "tokens_file: " + tokens + "\ninvestigation_queue: q\nssh: {user: alexis, key_file: " + key + ", known_hosts_file: " + known + "}\n"
	c, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Console.Enabled || c.Console.SessionTTL.D() != 12*time.Hour || c.Console.ClassifierURL != "" {
		t.Errorf("console defaults: %+v", c.Console)
	}
	c, err = load(t, base+`console:
  classifier_url: http://classifier:8081
  classifier_token_file: `+tokens+`
  ticket_links: {OpsGenie: "https://acme.app.opsgenie.com/alert/detail/{alert_id}/details"}
  session_ttl: 1h
  session_key_file: `+key+`
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.SessionTTL.D() != time.Hour || c.Console.TicketLinks["OpsGenie"] == "" {
		t.Errorf("console: %+v", c.Console)
	}
	cases := []struct{ block, want string }{
		{"classifier_url: ftp://x", "console.classifier_url: want an http or https URL"},
		{"classifier_url: http://x", "console.classifier_token_file: required"},
		{"classifier_token_file: " + tokens, "console.classifier_token_file: set without console.classifier_url"},
		{"session_ttl: 10s", "console.session_ttl: must be 1m..720h"},
		{"session_key_file: /nonexistent", "console.session_key_file:"},
		{`ticket_links: {OpsGenie: "javascript:alert({alert_id})"}`, "console.ticket_links.OpsGenie: want an absolute http or https URL"},
		{`ticket_links: {OpsGenie: "https://x.example/"}`, "console.ticket_links.OpsGenie: want {alert_id}"},
		{"bogus: 1", "field bogus not found"},
	}
	for _, tc := range cases {
		_, err := load(t, base+"console: {"+strings.ReplaceAll(tc.block, ": {", ": {")+"}\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.block, err, tc.want)
		}
	}
	if _, err := load(t, base+"console: {enabled: false, classifier_url: ftp://x}\n"); err != nil {
		t.Errorf("disabled console is not validated: %v", err)
	}
}
