package httpapi

import (
	"encoding/json"
	"github.com/alexis-ops/alexis/classifier/internal/classify"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/classifier/internal/intake"
	"github.com/alexis-ops/alexis/shared/api"
)

func notification(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/alertmanager/notification.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeIntake(t *testing.T, body []byte) IntakeAnswer {
	t.Helper()
	var a IntakeAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	return a
}

func results(a IntakeAnswer) []string {
	var out []string
	for _, r := range a.Alerts {
		out = append(out, r.Result)
	}
	return out
}

// Each firing alert of a notification goes through the rules; resolved ones
// never do.
func TestAlertmanager(t *testing.T) {
	h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json", "am_high_load_v1.json"}})
	rec := h.do(t, http.MethodPost, "/v1/alertmanager", notification(t), clientToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	a := decodeIntake(t, rec.Body.Bytes())
	if a.FeedType != "Alertmanager" || a.FeedName != "alexis" || strings.Join(results(a), ",") != "matched,matched,skipped" {
		t.Fatalf("answer %s", rec.Body)
	}
	if a.Alerts[0].ID != "3e9c5d1fb2a67c40-1795348200" || a.Alerts[0].UniqueValue != "3e9c5d1fb2a67c40" ||
		a.Alerts[0].Matched[0].RuleName != "am_disk_full_cleanup" || a.Alerts[0].Matched[0].ExecutionID == "" ||
		a.Alerts[0].RulesChecked != 2 || a.Alerts[2].Status != "resolved" || !strings.Contains(a.Alerts[2].Reason, "resolved") {
		t.Errorf("answer %s", rec.Body)
	}

	pushed := map[string]string{} // rule → alert id
	for _, req := range h.ah.got() {
		pushed[req.Rule.Name] = req.Alert.ID()
		if req.Alert.Meta.FeedType != "Alertmanager" {
			t.Errorf("pushed meta %+v", req.Alert.Meta)
		}
	}
	if len(pushed) != 2 || pushed["am_disk_full_cleanup"] != "3e9c5d1fb2a67c40-1795348200" || pushed["am_high_load"] != "a1b2c3d4e5f60718-1795348500" {
		t.Errorf("pushed %v", pushed)
	}
	if len(h.logs.lines("event=alert_skipped", "unique_value=77aa88bb99cc0011")) != 1 ||
		len(h.logs.lines("event=notification_received", "feed_name=alexis", "count=3")) != 1 {
		t.Errorf("logs:\n%s", h.logs)
	}
	// No ticket system for Alertmanager here: nothing written anywhere.
	if calls := h.recorder.Calls(); len(calls) != 0 {
		t.Errorf("wrote %v", calls)
	}

	// Alertmanager sends the alert again (repeat_interval, or a retry):
	// the same alert id goes to the action handler, which runs it once.
	h.do(t, http.MethodPost, "/v1/alertmanager", notification(t), clientToken)
	again := map[string]string{}
	for _, req := range h.ah.got()[2:] {
		again[req.Rule.Name] = req.Alert.ID()
	}
	if !reflect.DeepEqual(again, pushed) {
		t.Errorf("second delivery pushed %v, want the same alert ids and rules as the first, %v", again, pushed)
	}
}

func TestAlertmanagerFeedName(t *testing.T) {
	h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"},
		intake: Intake{Push: intake.Feeds{Alertmanager: intake.AlertmanagerConfig{FeedName: "prometheus-eu"}}.Routes()}})
	rec := h.do(t, http.MethodPost, "/v1/alertmanager", notification(t), clientToken)
	if a := decodeIntake(t, rec.Body.Bytes()); a.FeedName != "prometheus-eu" {
		t.Errorf("feed name %q", a.FeedName)
	}
	if got := h.ah.got(); len(got) != 1 || got[0].Alert.Meta.FeedName != "prometheus-eu" {
		t.Errorf("pushed %d", len(got))
	}
}

// 503 only when sending again can help: the action handler unreachable.
// The answer still lists every alert.
func TestAlertmanagerUnavailable(t *testing.T) {
	h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"},
		status: func(string) int { return http.StatusServiceUnavailable }})
	rec := h.do(t, http.MethodPost, "/v1/alertmanager", notification(t), clientToken)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	a := decodeIntake(t, rec.Body.Bytes())
	if strings.Join(results(a), ",") != "unavailable,unmatched,skipped" || !strings.Contains(a.Alerts[0].Reason, "503") {
		t.Errorf("answer %s", rec.Body)
	}

	// A rule the action handler refuses for good is not worth a retry.
	h = newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"},
		status: func(string) int { return http.StatusBadRequest }})
	rec = h.do(t, http.MethodPost, "/v1/alertmanager", notification(t), clientToken)
	a = decodeIntake(t, rec.Body.Bytes())
	if rec.Code != http.StatusOK || a.Alerts[0].Result != api.ResultRefused || a.Alerts[0].Matched[0].Error == "" ||
		a.Alerts[0].Matched[0].Status != classify.PushRejected {
		t.Errorf("status %d answer %s", rec.Code, rec.Body)
	}
}

func TestAlertmanagerRequests(t *testing.T) {
	h := newHarness(t, setup{})
	tests := []struct {
		name  string
		body  string
		token string
		want  int
		error string
	}{
		{"no token", string(notification(t)), "", http.StatusUnauthorized, ""},
		{"old version", `{"version": "3", "alerts": []}`, clientToken, http.StatusBadRequest, `version: want \"4\"`},
		{"not JSON", `alerts`, clientToken, http.StatusBadRequest, "body must be a JSON object"},
		{"too large", `{"version": "4", "x": "` + strings.Repeat("a", bodyLimit) + `"}`, clientToken, http.StatusRequestEntityTooLarge, ""},
		{"no alerts", `{"version": "4", "receiver": "r", "alerts": []}`, clientToken, http.StatusOK, ""},
		{"invalid alert", `{"version": "4", "alerts": [{"status": "firing"}]}`, clientToken, http.StatusOK, "alerts[0].fingerprint: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(t, http.MethodPost, "/v1/alertmanager", []byte(tc.body), tc.token)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.error) {
				t.Errorf("status %d body %s, want %d with %q", rec.Code, rec.Body, tc.want, tc.error)
			}
		})
	}
}

const grafanaRule = `{"enabled": "true", "os_type": "linux", "rule_name": "drain_orders", "alert_feed": "Grafana",
 "when": {"all": [{"path": "labels.alertname", "op": "equals", "value": "QueueBacklog"},
                  {"path": "labels.queue", "op": "equals", "value": "orders"}]},
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart order-consumer"}}],
 "entity_type": "explicit", "entities": ["worker01.example.com"]}`

func TestWebhookFeed(t *testing.T) {
	h := newHarness(t, setup{ruleJSON: map[string]string{"drain.json": grafanaRule},
		intake: Intake{Push: intake.Feeds{Webhooks: intake.Webhooks{
			{Name: "grafana", FeedType: "Grafana", IDPath: "fingerprint", ItemsPath: "alerts"},
			{Name: "custom", FeedType: "Custom", IDPath: "event.id"},
		}}.Routes()}})
	grafana, err := os.ReadFile("../../testdata/webhook/grafana.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := h.do(t, http.MethodPost, "/v1/webhook/grafana", grafana, clientToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	a := decodeIntake(t, rec.Body.Bytes())
	if a.FeedType != "Grafana" || a.FeedName != "grafana" || strings.Join(results(a), ",") != "matched,unmatched" ||
		a.Alerts[0].UniqueValue != "c0ffee0011223344" || a.Alerts[0].Matched[0].RuleName != "drain_orders" {
		t.Errorf("answer %s", rec.Body)
	}
	if got := h.ah.got(); len(got) != 1 || got[0].Alert.Get("labels.queue").Str != "orders" || got[0].Alert.Meta.FeedName != "grafana" {
		t.Errorf("pushed %d", len(got))
	}

	for _, tc := range []struct {
		name, path, body, token string
		want                    int
		error                   string
	}{
		{"unknown feed", "/v1/webhook/nope", `{}`, clientToken, http.StatusNotFound, `no webhook feed named \"nope\"`},
		{"no token", "/v1/webhook/custom", `{"event": {"id": "e1"}}`, "", http.StatusUnauthorized, ""},
		{"missing id", "/v1/webhook/custom", `{"event": {}}`, clientToken, http.StatusBadRequest, `id_path \"event.id\"`},
		{"missing id in an item", "/v1/webhook/grafana", `{"alerts": [{"fingerprint": "f"}, {}]}`, clientToken, http.StatusBadRequest, `alerts[1]: id_path \"fingerprint\"`},
		{"one object", "/v1/webhook/custom", `{"event": {"id": "e1"}}`, clientToken, http.StatusOK, `"result":"unmatched"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(t, http.MethodPost, tc.path, []byte(tc.body), tc.token)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.error) {
				t.Errorf("status %d body %s, want %d with %q", rec.Code, rec.Body, tc.want, tc.error)
			}
		})
	}
	// A bad request classified nothing.
	if got := h.ah.got(); len(got) != 1 {
		t.Errorf("pushed %d, want only the first", len(got))
	}
}
