package httpapi

import (
	"encoding/json"
	"net/http"
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
	h := newHarness(t, setup{rules: []string{"gc_restart.json"}, tokens: authtest.TokenFile()})
	authtest.Matrix(t, h.e, map[string]auth.Scope{
		"POST /v1/classifier":    auth.ScopeClassify,
		"GET /v1/rules":          auth.ScopeRead,
		"POST /v1/rules/explain": auth.ScopeRead,
		"POST /v1/rules/lint":    auth.ScopeRead,
		"POST /v1/alertmanager":  auth.ScopeClassify,
		"POST /v1/webhook/:name": auth.ScopeClassify,
		"GET /metrics":           auth.ScopeMetrics,
	})
}

const (
	amToken      = "alertmanager-token-0123456789"
	readOnly     = "reader-token-0123456789abc"
	incomingOnly = "incoming-feed-token-0123456789"
)

// A token limited to one feed posts that feed's alerts only; a read token
// posts nothing.
func TestFeedScopes(t *testing.T) {
	tokens := "poller:" + clientToken + "\nalertmanager:" + amToken + " scopes=classify:alexis\n" +
		"reader:" + readOnly + " scopes=read\nog:" + incomingOnly + " scopes=classify:incoming\n"
	for _, tc := range []struct {
		name, path, token string
		body              func(t *testing.T) []byte
		status            int
		missing           string
	}{
		{"alertmanager token posts alertmanager", "/v1/alertmanager", amToken, notification, http.StatusOK, ""},
		{"alertmanager token cannot post an OpsGenie envelope", "/v1/classifier", amToken,
			func(t *testing.T) []byte { return gcAlert(t, nil) }, http.StatusForbidden, "classify:incoming"},
		{"OpsGenie feed token posts its envelope", "/v1/classifier", incomingOnly,
			func(t *testing.T) []byte { return gcAlert(t, nil) }, http.StatusOK, ""},
		{"OpsGenie feed token cannot post to alertmanager", "/v1/alertmanager", incomingOnly, notification,
			http.StatusForbidden, "classify:alexis"},
		{"read token cannot classify", "/v1/classifier", readOnly,
			func(t *testing.T) []byte { return gcAlert(t, nil) }, http.StatusForbidden, "classify"},
		{"read token may explain", "/v1/rules/explain", readOnly,
			func(t *testing.T) []byte { return gcAlert(t, nil) }, http.StatusOK, ""},
		{"classify token cannot explain", "/v1/rules/explain", amToken,
			func(t *testing.T) []byte { return gcAlert(t, nil) }, http.StatusForbidden, "read"},
		{"feed token cannot probe webhook names", "/v1/webhook/nosuchfeed", amToken,
			func(t *testing.T) []byte { return []byte(`{}`) }, http.StatusForbidden, "classify:nosuchfeed"},
		{"any-feed token learns a name is unknown", "/v1/webhook/nosuchfeed", clientToken,
			func(t *testing.T) []byte { return []byte(`{}`) }, http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"},
				ruleJSON: map[string]string{"gc.json": ruleWith(t, nil)}, tokens: tokens})
			rec := h.do(t, http.MethodPost, tc.path, tc.body(t), tc.token)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == http.StatusForbidden {
				var ae api.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.MissingScope != tc.missing {
					t.Fatalf("answer %s, want missing_scope %q", rec.Body, tc.missing)
				}
				if len(h.ah.got()) != 0 || len(h.recorder.Calls()) != 0 {
					t.Fatal("a refused request reached the action handler or the ticket")
				}
			}
		})
	}
}

// What the classifier forwards is signed over the exact body sent, and
// carries the name of the token that posted the alert as requested_by.
func TestForwardSignedWithRequestedBy(t *testing.T) {
	key, err := auth.NewKey([]byte("0123456789abcdef0123456789abcdef-key"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := "poller:" + clientToken + "\nalertmanager:" + amToken + " scopes=classify:alexis\n"
	for _, tc := range []struct {
		name, path, token, want string
		body                    func(t *testing.T) []byte
	}{
		{"envelope", "/v1/classifier", clientToken, "poller", func(t *testing.T) []byte { return gcAlert(t, nil) }},
		{"alertmanager", "/v1/alertmanager", amToken, "alertmanager", notification},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"},
				ruleJSON: map[string]string{"gc.json": ruleWith(t, nil)}, tokens: tokens, key: key})
			if rec := h.do(t, http.MethodPost, tc.path, tc.body(t), tc.token); rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := h.ah.got()
			if len(got) == 0 {
				t.Fatal("nothing forwarded")
			}
			h.ah.mu.Lock()
			defer h.ah.mu.Unlock()
			for i, req := range got {
				if req.RequestedBy != tc.want {
					t.Errorf("requested_by = %q, want %q", req.RequestedBy, tc.want)
				}
				if err := key.Verify(h.ah.sigs[i], h.ah.bodies[i], time.Now(), auth.DefaultMaxAge); err != nil {
					t.Errorf("signature %q: %v", h.ah.sigs[i], err)
				}
				if !strings.Contains(string(h.ah.bodies[i]), `"requested_by":"`+tc.want+`"`) {
					t.Errorf("body lacks requested_by: %s", h.ah.bodies[i])
				}
			}
			if len(h.logs.lines("event=rule_matched", "requested_by="+tc.want)) == 0 {
				t.Errorf("no rule_matched line with requested_by=%s:\n%s", tc.want, h.logs)
			}
		})
	}
	// An envelope naming its own requested_by is refused: the action handler
	// would read another alert than the classifier matched.
	h := newHarness(t, setup{ruleDir: "../../testdata/rules_intake", rules: []string{"am_disk_full.json"},
		ruleJSON: map[string]string{"gc.json": ruleWith(t, nil)}, tokens: tokens, key: key})
	body := gcAlert(t, map[string]any{"requested_by": "admin"})
	if rec := h.do(t, http.MethodPost, "/v1/classifier", body, clientToken); rec.Code != http.StatusBadRequest ||
		!strings.Contains(rec.Body.String(), `reserved key \"requested_by\"`) {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if len(h.ah.got()) != 0 {
		t.Fatal("forwarded an envelope naming its own requested_by")
	}
}
