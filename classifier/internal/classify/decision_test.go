package classify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/record"
	"github.com/alexis-ops/alexis/classifier/internal/record/recordtest"
	"github.com/alexis-ops/alexis/classifier/internal/rules"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/rs/zerolog"
)

const historyToken = "history-token-0123456789abcdef"

// historyRecorder is a Recorder posting to a fresh recordtest.Server.
func historyRecorder(t *testing.T, buffer int, m *metrics.Metrics) (*record.Recorder, *recordtest.Server) {
	t.Helper()
	srv := recordtest.New(t, historyToken)
	hc, err := httpclient.New(httpclient.Options{Token: config.NewSecret(historyToken), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := record.New(record.Options{URL: srv.URL, Client: hc, Buffer: buffer, FlushInterval: 10 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, Metrics: record.NewMetrics(m), Log: zerolog.Nop()})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r, srv
}

func gcDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gc.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A history store that never answers does not hold up classification: every
// Classify returns, the buffer fills and what does not fit is dropped and
// counted.
func TestClassifyWhileHistoryHangs(t *testing.T) {
	m := metrics.New("classifier")
	r, srv := historyRecorder(t, 5, m)
	srv.Hang()
	loader := rules.NewDir(rules.DirOptions{Dir: gcDir(t), Log: zerolog.Nop()})
	t.Cleanup(func() { loader.Close() })
	c := New(Options{Rules: loader, Actions: nopPusher{}, Queue: "ops", History: r, Log: zerolog.Nop()})
	env := testRequest(t).Alert
	done := make(chan error, 1)
	go func() {
		for range 20 {
			if _, err := c.Classify(context.Background(), env); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a bound for a hang, not a speed check
		t.Fatal("Classify blocked on the history store")
	}
	if n := r.Buffered(); n != 5 {
		t.Errorf("buffered %d, want 5", n)
	}
	if s := scrape(t, m); !strings.Contains(s, `classifier_decisions_dropped_total{reason="buffer_full"} 15`+"\n") {
		t.Errorf("drops not counted:\n%s", s)
	}
}

// An envelope larger than api.MaxDecisionPayload is recorded without it;
// rules that cannot be loaded still give a decision, unavailable.
func TestDecisionPayloadOmittedAndUnavailable(t *testing.T) {
	m := metrics.New("classifier")
	r, srv := historyRecorder(t, 100, m)
	loader := rules.NewDir(rules.DirOptions{Dir: gcDir(t), Log: zerolog.Nop()})
	t.Cleanup(func() { loader.Close() })
	c := New(Options{Rules: loader, Actions: nopPusher{}, Queue: "ops", History: r, Log: zerolog.Nop()})
	big := envelope(t, "OpsGenie", "incoming", `{"title": "`+strings.Repeat("é", 300)+`", "description": "`+strings.Repeat("x", api.MaxDecisionPayload)+`"}`)
	if _, err := c.Classify(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	broken := New(Options{Rules: brokenLoader{}, Actions: nopPusher{}, Queue: "ops", History: r, Log: zerolog.Nop()})
	if _, err := broken.Classify(context.Background(), testRequest(t).Alert); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v", err)
	}
	got := srv.WaitRecorded(t, 2)
	if d := got[0]; !d.PayloadOmitted || d.Payload != nil || d.Result != api.ResultUnmatched || len(d.Summary) > MaxSummary ||
		!strings.HasPrefix(d.Summary, "éé") || !strings.HasSuffix(d.Summary, "…") {
		t.Errorf("big alert: omitted %v, %d payload bytes, result %s, summary %d bytes %q", d.PayloadOmitted, len(d.Payload), d.Result, len(d.Summary), d.Summary)
	}
	if d := got[1]; d.Result != api.ResultUnavailable || len(d.Rules) != 0 || d.AlertID != testRequest(t).Alert.ID() {
		t.Errorf("unavailable decision %+v", d)
	}
}
