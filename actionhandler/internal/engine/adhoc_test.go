package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
)

// An ad-hoc execution (a rule posted on scope adhoc, not verified) says so
// and by whom in the note on the alert and in its log lines; a verified one
// does not.
func TestAdHocNoted(t *testing.T) {
	for _, tc := range []struct {
		name        string
		adhoc       bool
		client, by  string
		want, avoid string
	}{
		{"ad-hoc", true, "alice", "alice", "[ad-hoc] Alexis rule r1 was posted by alice", ""},
		{"verified", false, "classifier", "poller", "", "ad-hoc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			req := request(t, "OpsGenie", twoTasks, "app01")
			merged, _ := json.Marshal(req)
			x := &store.Execution{ID: "x-" + tc.client, AlertID: req.Alert.ID(), UniqueValue: "42", FeedType: "OpsGenie",
				FeedName: "incoming", RuleName: req.Rule.Name, Client: tc.client, RequestedBy: tc.by, AdHoc: tc.adhoc,
				Request: merged, Entities: []string{"app01"}}
			ctx := context.Background()
			if _, _, err := f.st.Create(ctx, x, 0); err != nil {
				t.Fatal(err)
			}
			got, err := f.st.Claim(ctx, "rep1", time.Minute, nil)
			if err != nil || got == nil {
				t.Fatalf("claim %v %v", got, err)
			}
			if got.AdHoc != tc.adhoc || got.RequestedBy != tc.by {
				t.Fatalf("claimed adhoc=%t requested_by=%q", got.AdHoc, got.RequestedBy)
			}
			f.eng.Execute(ctx, got)
			notes := strings.Join(calls(f.rec, "note"), "\n")
			if tc.want != "" && !strings.HasPrefix(notes, tc.want) {
				t.Errorf("note does not open with %q:\n%s", tc.want, notes)
			}
			if tc.avoid != "" && strings.Contains(notes, tc.avoid) {
				t.Errorf("note has %q:\n%s", tc.avoid, notes)
			}
			if !strings.Contains(f.logs.String(), "requested_by="+tc.by) {
				t.Errorf("logs lack requested_by=%s:\n%s", tc.by, f.logs)
			}
		})
	}
}

// The note of an ad-hoc execution the governor refused says it too.
func TestAdHocSkipNote(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		adhoc bool
		want  string
	}{
		{true, "[ad-hoc] Alexis rule r1 was posted by alice"},
		{false, "Alexis rule r1 did not run"},
	} {
		note := f.wb.SkipNote(&store.Execution{RuleName: "r1", Client: "alice", AdHoc: tc.adhoc,
			Entities: []string{"app01"}, Reason: "cooldown"})
		if !strings.HasPrefix(note, tc.want) {
			t.Errorf("adhoc %t: note %q, want it to open with %q", tc.adhoc, note, tc.want)
		}
	}
}
