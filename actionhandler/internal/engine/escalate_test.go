package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// TestEscalation: an alert still open delay_escalation after its execution
// gets the escalation note and the investigation queue; a closed one
// nothing more.
func TestEscalation(t *testing.T) {
	og := opsgenietest.NewT(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(og.APIKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := opsgenie.New(opsgenie.Config{APIURL: og.URL(), APIKeyFile: keyFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *Options) {
		o.Tickets = ticket.Set{}
		o.Tickets.Add("OpsGenie", client)
	})
	open := og.CreateAlert(opsgenietest.AlertSpec{Message: "still broken"})
	closed := og.CreateAlert(opsgenietest.AlertSpec{Message: "fixed"})
	for _, id := range []string{open.ID, closed.ID} {
		req := request(t, "OpsGenie", twoTasks, "app01")
		req.Rule.DelayEscalation = "200ms"
		b, _ := json.Marshal(req)
		req, err := action.Decode([]byte(strings.Replace(string(b), `"og-1"`, `"`+id+`"`, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if x := f.run(t, context.Background(), req, "app01"); x.EscalateAt.IsZero() {
			t.Fatalf("no escalation scheduled for %s: %+v", id, x)
		}
	}
	og.CloseAlert(closed.ID)
	before := len(og.Notes(open.ID))

	w := StartWorkers(WorkerOptions{Store: f.st, Engine: f.eng, PollInterval: 20 * time.Millisecond,
		Log: logging.New(f.logs, "actionhandler", logging.Options{})})
	defer w.Shutdown(time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for !(strings.Contains(f.logs.String(), "event=escalation_fired") &&
		strings.Contains(f.logs.String(), "event=escalation_skipped")) {
		if time.Now().After(deadline) {
			t.Fatalf("no escalation; logs:\n%s", f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	notes := og.Notes(open.ID)
	if len(notes) != before+1 || !strings.Contains(notes[len(notes)-1], "still open 200ms after remediation") {
		t.Errorf("notes on the open alert: %q", notes)
	}
	if !slices.Contains(og.Teams(open.ID), "queue_needsinvestigation") {
		t.Errorf("teams of the open alert: %q", og.Teams(open.ID))
	}
	if slices.Contains(og.Teams(closed.ID), "queue_needsinvestigation") || strings.Count(f.logs.String(), "event=escalation_fired") != 1 {
		t.Errorf("closed alert escalated: teams %q", og.Teams(closed.ID))
	}
	for _, n := range og.Notes(closed.ID) {
		if strings.Contains(n, "escalating") {
			t.Errorf("note on the closed alert: %q", n)
		}
	}
}
