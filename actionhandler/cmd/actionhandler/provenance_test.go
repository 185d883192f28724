package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

// Against the real service and sshd: the classifier's token runs only what
// is signed with the shared key; a person's adhoc token runs its own rule,
// recorded and noted as ad-hoc; requested_by shows in history.
func TestProvenanceOverHTTP(t *testing.T) {
	s := start(t, false)
	for _, tc := range []struct {
		name, tok, key, requestedBy string
		status                      int
		missing                     string
		wantBy                      string
		adhoc                       bool
	}{
		{name: "classifier token, unsigned rule", tok: classifierToken, status: http.StatusForbidden, missing: "adhoc"},
		{name: "classifier token, signed with another key", tok: classifierToken, key: "another-key-0123456789abcdef012345",
			requestedBy: "poller", status: http.StatusUnauthorized},
		{name: "person with adhoc, requested_by unsigned", tok: token, requestedBy: "poller", status: http.StatusBadRequest},
		{name: "classifier token, signed", tok: classifierToken, key: signingKey, requestedBy: "poller",
			status: http.StatusAccepted, wantBy: "poller"},
		{name: "person with adhoc", tok: token, status: http.StatusAccepted, wantBy: "oncall", adhoc: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.og.CreateAlert(opsgenietest.AlertSpec{Message: tc.name, Teams: []string{"incoming"}})
			marker := filepath.Join(s.dir, "marker-"+a.TinyID)
			code, body := s.postAs(t, a, markerRule("echo ran > "+marker), tc.tok, tc.key, tc.requestedBy)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if code != http.StatusAccepted {
				var ae api.Error
				if err := json.Unmarshal(body, &ae); err != nil || ae.MissingScope != tc.missing {
					t.Fatalf("answer %s, want missing_scope %q", body, tc.missing)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Fatal("a refused action ran")
				}
				return
			}
			var acc api.ActionAccepted
			if err := json.Unmarshal(body, &acc); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the marker file", func() bool { _, err := os.Stat(marker); return err == nil })
			waitFor(t, "the note", func() bool { return len(s.og.Notes(a.ID)) > 0 })
			req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/executions/"+acc.ExecutionID, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var x api.Execution
			if err := json.Unmarshal(b, &x); err != nil || x.RequestedBy != tc.wantBy || x.AdHoc != tc.adhoc {
				t.Fatalf("execution %s, want requested_by %q adhoc %t", b, tc.wantBy, tc.adhoc)
			}
			notes := strings.Join(s.og.Notes(a.ID), "\n")
			if tc.adhoc != strings.Contains(notes, "[ad-hoc] Alexis rule write_marker was posted by oncall") {
				t.Fatalf("adhoc %t, notes:\n%s", tc.adhoc, notes)
			}
		})
	}
	logs := s.logs.String()
	if strings.Contains(logs, signingKey) || strings.Contains(logs, classifierToken) {
		t.Fatal("a key or token reached the logs")
	}
	for _, want := range []string{"event=adhoc_action", "event=signature_refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}
