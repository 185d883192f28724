package classify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
	"github.com/rs/zerolog"
)

// pusherFunc answers pushes by rule name.
type pusherFunc func(rule string) error

func (f pusherFunc) Push(_ context.Context, req *action.Request) (api.ActionAccepted, error) {
	if err := f(req.Rule.Name); err != nil {
		return api.ActionAccepted{}, err
	}
	return api.ActionAccepted{ExecutionID: "x1"}, nil
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func envelope(t *testing.T, feedType, feedName, record string) *alert.Envelope {
	t.Helper()
	env, err := alert.New([]byte(record), alert.Meta{UniqueKey: "id", UniqueValue: "u1", FeedType: feedType, FeedName: feedName})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	gc, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gc.json", string(gc))
	write("aix.json", strings.NewReplacer(`"os_type": "linux"`, `"os_type": "AIX"`,
		"day_duplicator_gc_restart", "aix_gc").Replace(string(gc)))
	write("young.json", strings.NewReplacer(`"alert_feed": "OpsGenie"`, `"alert_feed": "opsgenie"`,
		"day_duplicator_gc_restart", "young", `"duration": "0m"`, `"duration": "1h"`, "Long garbage", "Short garbage").Replace(string(gc)))
	write("broken.json", "{")

	reg := metrics.New("classifier")
	m := NewMetrics(reg)
	loader := rules.NewDir(rules.DirOptions{Dir: dir, Poll: true})
	defer loader.Close()
	reg.Registry.MustRegister(RulesCollector("classifier", loader))
	og := &tickettest.Recorder{}
	set := ticket.Set{}
	set.Add("OpsGenie", og)
	unavailable := false
	c := New(Options{
		Rules: loader,
		Actions: pusherFunc(func(rule string) error {
			switch {
			case unavailable:
				return &httpclient.StatusError{Code: 503}
			case rule == "aix_gc":
				return fmt.Errorf("%w for os_type %q", ErrNoHandler, "AIX")
			}
			return nil
		}),
		Tickets:   m.Tickets(set),
		Queue:     "ops",
		FeedTypes: []string{"Alertmanager"},
		Metrics:   m,
		Now:       func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) },
		Log:       zerolog.Nop(),
	})
	ctx := context.Background()
	gcRecord := `{"id": "a1", "description": "Long garbage-collection time", "tags": ["syn.day", "syn.duplicator"], "createdAt": "2026-11-22T11:50:00Z"}`
	youngRecord := strings.Replace(gcRecord, "Long", "Short", 1)
	for _, tc := range []struct {
		env     *alert.Envelope
		wantErr bool
	}{
		{env: envelope(t, "OpsGenie", "incoming", gcRecord)},          // matched: one pushed, one without handler
		{env: envelope(t, "OPSGENIE", "incoming", youngRecord)},       // deferred
		{env: envelope(t, "Alertmanager", "am", `{"id": "x"}`)},       // unmatched, no ticket system
		{env: envelope(t, "made-up-by-a-client", "z", `{"id": "y"}`)}, // unmatched, label "other"
	} {
		if _, err := c.Classify(ctx, tc.env); err != nil {
			t.Fatal(err)
		}
	}
	unavailable = true
	if _, err := c.Classify(ctx, envelope(t, "OpsGenie", "incoming", strings.Replace(gcRecord, "syn.duplicator", "x", 1))); err != nil {
		t.Fatal(err) // only aix_gc and gc need syn.duplicator: unmatched
	}
	if _, err := c.Classify(ctx, envelope(t, "OpsGenie", "incoming", gcRecord)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v, want unavailable", err)
	}

	body := scrape(t, reg)
	for _, want := range []string{
		`classifier_alerts_classified_total{feed_type="OpsGenie",result="matched"} 1`,
		`classifier_alerts_classified_total{feed_type="OpsGenie",result="deferred"} 1`,
		`classifier_alerts_classified_total{feed_type="OpsGenie",result="unmatched"} 1`,
		`classifier_alerts_classified_total{feed_type="OpsGenie",result="unavailable"} 1`,
		`classifier_alerts_classified_total{feed_type="Alertmanager",result="unmatched"} 1`,
		`classifier_alerts_classified_total{feed_type="other",result="unmatched"} 1`,
		`classifier_rules_matched_total{rule="day_duplicator_gc_restart"} 2`,
		`classifier_rules_matched_total{rule="aix_gc"} 2`,
		`classifier_alerts_deferred_total 1`,
		`classifier_action_pushes_total{os_type="linux",outcome="accepted"} 1`,
		`classifier_action_pushes_total{os_type="aix",outcome="no_handler"} 1`,
		`classifier_action_pushes_total{os_type="linux",outcome="unavailable"} 1`,
		`classifier_action_pushes_total{os_type="aix",outcome="unavailable"} 1`,
		`classifier_writeback_calls_total{op="note",result="ok",system="tickettest"}`,
		`classifier_writeback_calls_total{op="add_team",result="ok",system="tickettest"}`,
		`classifier_classify_duration_seconds_count 6`,
		`classifier_rules{status="ok"} 3`,
		`classifier_rules{status="invalid"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}

	og.Err = errors.New("opsgenie down")
	_, _ = c.Classify(ctx, envelope(t, "OpsGenie", "incoming", `{"id": "z"}`))
	if body := scrape(t, reg); !strings.Contains(body, `classifier_writeback_calls_total{op="note",result="error",system="tickettest"} 1`) {
		t.Errorf("failed write-back not counted:\n%s", body)
	}
}

// An alert is written back through its feed's own ticket system when it
// has one (tickets.feeds), else through its type's.
func TestWritebackByFeed(t *testing.T) {
	typeTicket, feedTicket := &tickettest.Recorder{}, &tickettest.Recorder{}
	set := ticket.Set{}
	set.Add("OpsGenie", typeTicket)
	set.AddFeed("OpsGenie", "eu", feedTicket)
	c := New(Options{Rules: emptyLoader{}, Actions: nopPusher{}, Tickets: set, Queue: "ops", Log: zerolog.Nop()})
	for _, feed := range []string{"eu", "us"} {
		if _, err := c.Classify(context.Background(), envelope(t, "OpsGenie", feed, `{"id": "`+feed+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if calls := feedTicket.Calls(); len(calls) != 2 || calls[0].ID != "eu" {
		t.Errorf("feed ticket got %v", calls)
	}
	if calls := typeTicket.Calls(); len(calls) != 2 || calls[0].ID != "us" {
		t.Errorf("type ticket got %v", calls)
	}
}

type emptyLoader struct{}

func (emptyLoader) Load(context.Context) (*rules.Set, error) { return rules.NewSet(nil, nil), nil }

func TestCountedTicket(t *testing.T) {
	rec := &tickettest.Recorder{Unsupported: []string{ticket.KindClose}}
	reg := metrics.New("classifier")
	set := NewMetrics(reg).Tickets(ticket.Set{"opsgenie": &ticket.Multi{Primary: rec}})
	tk, _ := set.For("OpsGenie")
	if !ticket.Supports(tk, ticket.KindEscalate) || ticket.Supports(tk, ticket.KindClose) {
		t.Error("Supports is not the wrapped system's")
	}
	ctx := context.Background()
	if err := ticket.Do(ctx, tk, "a", ticket.Op{Kind: ticket.KindClose}); !errors.Is(err, ticket.ErrUnsupported) {
		t.Errorf("close: %v", err)
	}
	if err := ticket.Do(ctx, tk, "a", ticket.Op{Kind: ticket.KindEscalate, Value: "e"}); err != nil {
		t.Error(err)
	}
	body := scrape(t, reg)
	for _, want := range []string{
		`classifier_writeback_calls_total{op="unsupported",result="error",system="tickettest"} 1`,
		`classifier_writeback_calls_total{op="escalate",result="ok",system="tickettest"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s\n%s", want, body)
		}
	}
}
