package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
)

// stagingRule acts only on alerts whose details.env is "staging", through
// a plugin that records the request the action handler hands it.
const stagingRule = `{"enabled": "true", "os_type": "linux", "rule_name": "staging_only", "alert_feed": "OpsGenie",
 "when": {"path": "details.env", "op": "equals", "value": "staging"},
 "task_list": [{"task": {"task_type": "plugin", "plugin": "record", "action": "record", "action_reason": "test"}}],
 "entity_type": "keyvalue", "entity_keyvalue": ["details", "host"]}`

// startRecording starts the stack with the staging rule and a plugin
// writing its stdin (the merged alert+rule the action handler stores) to
// the returned file.
func startRecording(t *testing.T) (*stack.Stack, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	dir := t.TempDir()
	rules, plugins := filepath.Join(dir, "rules"), filepath.Join(dir, "plugins")
	for _, d := range []string{rules, plugins} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	record := filepath.Join(dir, "request.json")
	script := "#!/bin/sh\ncat > " + record + ".tmp && mv " + record + ".tmp " + record + "\necho '{\"status\": \"success\"}'\n"
	if err := os.WriteFile(filepath.Join(plugins, "record"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "staging_only.json"), []byte(stagingRule), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Dir: dir, BinDir: binDir, RulesDir: rules, LoopInterval: time.Hour,
		Config: map[string]string{"actionhandler": "plugins: {dir: " + plugins + "}\n"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, record
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The classifier (gjson: first copy) and the action handler (map decode:
// last copy) would read a repeated key differently, so a rule requiring
// env staging could run against what a second "details" says. Both refuse
// such a document, before anything is matched or stored.
func TestDuplicateKeysRefusedByBoth(t *testing.T) {
	s, record := startRecording(t)
	meta := `"alexis": {"unique_key": "tinyId", "unique_value": "dup-1", "feed_type": "OpsGenie", "feed_name": "manual"}`
	metaAgain := `"alexis": {"unique_key": "tinyId", "unique_value": "dup-2", "feed_type": "OpsGenie", "feed_name": "other"}`
	details := `"details": {"env": "staging", "host": "app01"}`
	prod := `"details": {"env": "prod", "host": "db01"}`
	for _, tc := range []struct{ name, envelope, want string }{
		{"details twice", `{"id": "dup-1", ` + details + `, ` + meta + `, ` + prod + `}`, `duplicate key \"details\" at $`},
		{"alexis twice", `{"id": "dup-1", ` + details + `, ` + meta + `, ` + metaAgain + `}`, `duplicate key \"alexis\" at $`},
		{"env twice", `{"id": "dup-1", "details": {"env": "staging", "host": "app01", "env": "prod"}, ` + meta + `}`, `duplicate key \"env\" at $.details`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/classifier", "/v1/rules/explain"} {
				code, body := post(t, s.ClassifierURL+path, s.UserToken, tc.envelope)
				if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
					t.Errorf("classifier %s: %d %s, want 400 with %s", path, code, body, tc.want)
				}
			}
			action := strings.TrimSuffix(tc.envelope, "}") + `, "rule": ` + stagingRule + `}`
			code, body := post(t, s.ActionHandlerURL+"/v1/action", s.UserToken, action)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("action handler: %d %s, want 400 with %s", code, body, tc.want)
			}
		})
	}
	// Nothing was stored or run.
	if x := listExecutions(t, s, ""); len(x) != 0 {
		t.Errorf("%d executions stored from refused documents", len(x))
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("the plugin ran")
	}
}

// What the classifier matched is, byte for byte, the alert the action
// handler stored and handed to the task: the request the plugin reads is
// the envelope in encoding/json's compact form with "rule" added last.
func TestActionHandlerActsOnTheAlertTheClassifierMatched(t *testing.T) {
	s, record := startRecording(t)
	// Spacing, key order, HTML characters, escapes and a line separator:
	// everything a re-encoding could change.
	envelope := "{\n  \"tinyId\": \"77\",  \"id\": \"same-bytes-1\",\n" +
		"  \"message\": \"disk <full> & \\u00e9 \\u2028 done\", \"n\": 1.50,\n" +
		"  \"details\": {\"host\": \"app01\", \"env\": \"staging\", \"list\": [ 3, 2, 1 ]},\n" +
		"  \"alexis\": {\"unique_key\": \"tinyId\", \"unique_value\": \"77\", \"feed_type\": \"OpsGenie\", \"feed_name\": \"manual\"}\n}\n"
	code, body := post(t, s.ClassifierURL+"/v1/classifier", s.UserToken, envelope)
	if code != http.StatusOK || !strings.Contains(body, `"matched"`) {
		t.Fatalf("classifier: %d %s", code, body)
	}
	var got []byte
	eventually(t, "the plugin's record of its request", 30*time.Second, func() bool {
		var err error
		got, err = os.ReadFile(record)
		return err == nil
	})
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(envelope)); err != nil {
		t.Fatal(err)
	}
	// encoding/json's form: compact, with <, >, & and U+2028 escaped.
	w := want.String()
	for _, r := range []struct{ from, to string }{{"<", `\u003c`}, {">", `\u003e`}, {"&", `\u0026`}} {
		w = strings.ReplaceAll(w, r.from, r.to)
	}
	prefix := strings.TrimSuffix(w, "}") + `,"rule":{`
	if !strings.HasPrefix(string(got), prefix) {
		t.Fatalf("the action handler's request does not start with the classifier's alert:\n got %s\nwant %s...", got, prefix)
	}
}

// A `h\x00x` entity gets a clear 422 from the running action handler and
// takes no dedup slot: the same alert and rule with a proper host then
// runs. The classifier refuses a rule name or alert id with a control
// character the same way (400).
func TestControlCharacterEntityRefused(t *testing.T) {
	s, record := startRecording(t)
	withHost := func(host string) string {
		return `{"id": "ctl-1", "details": {"env": "staging", "host": "` + host + `"},` +
			` "alexis": {"unique_key": "id", "unique_value": "ctl-1", "feed_type": "OpsGenie", "feed_name": "manual"}, "rule": ` + stagingRule + `}`
	}
	code, body := post(t, s.ActionHandlerURL+"/v1/action", s.UserToken, withHost(`h\u0000x`))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `control character U+0000`) {
		t.Fatalf("NUL entity: %d %s, want 422 naming the control character", code, body)
	}
	code, body = post(t, s.ActionHandlerURL+"/v1/action", s.UserToken, withHost("app01"))
	if code != http.StatusAccepted {
		t.Fatalf("same alert and rule, proper host: %d %s, want 202", code, body)
	}
	eventually(t, "the plugin run for app01", 30*time.Second, func() bool {
		_, err := os.Stat(record)
		return err == nil
	})
	for _, tc := range []struct{ name, envelope, want string }{
		{"alert id", `{"id": "a\u2028b", "details": {"env": "staging", "host": "app01"}, "alexis": {"feed_type": "OpsGenie", "unique_value": "ctl-2"}}`, "control character U+2028"},
		{"unique_value", `{"details": {"env": "staging", "host": "app01"}, "alexis": {"feed_type": "OpsGenie", "unique_value": "ctl\u001b[2J"}}`, "control character U+001B"},
	} {
		code, body := post(t, s.ClassifierURL+"/v1/classifier", s.UserToken, tc.envelope)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("classifier, %s: %d %s, want 400 with %s", tc.name, code, body, tc.want)
		}
	}
}
