package classify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/record"
	"github.com/alexis-ops/alexis/classifier/internal/record/recordtest"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
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
	if d := got[0]; !d.PayloadOmitted || d.Payload != nil || d.Result != api.ResultUnmatched || len(d.Rules) != 1 || len(d.Summary) > MaxSummary ||
		!strings.HasPrefix(d.Summary, "éé") || !strings.HasSuffix(d.Summary, "…") {
		t.Errorf("big alert: omitted %v, %d payload bytes, result %s, summary %d bytes %q", d.PayloadOmitted, len(d.Payload), d.Result, len(d.Summary), d.Summary)
	}
	if d := got[1]; d.Result != api.ResultUnavailable || len(d.Rules) != 0 || d.AlertID != testRequest(t).Alert.ID() {
		t.Errorf("unavailable decision %+v", d)
	}
}

// writeGCRules writes rule files gc_NN.json: gc_restart.json renamed, with
// search_text text(i) and tags tags(i).
func writeGCRules(t *testing.T, dir string, n int, text func(int) string, tags func(int) []string) {
	t.Helper()
	data, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m["rule_name"] = fmt.Sprintf("gc_%02d", i)
		m["evaluation_list"] = []any{map[string]any{"evaluation": map[string]any{
			"tags": tags(i), "search_key": "description", "search_text": text(i), "duration": "0m"}}}
		out, _ := json.Marshal(m)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("gc_%02d.json", i)), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The explain summary is bounded: at most MaxDecisionRules entries, the
// rules the alert was checked against first, a matching rule even past
// the limit, and at most MaxSkippedRules of those the tag index ruled out.
func TestExplainSummaryBounded(t *testing.T) {
	env := testRequest(t).Alert
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	load := func(t *testing.T, dir string) *rules.Set {
		l := rules.NewDir(rules.DirOptions{Dir: dir, Log: zerolog.Nop()})
		t.Cleanup(func() { l.Close() })
		set, err := l.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	t.Run("checked rules past the limit", func(t *testing.T) {
		dir := t.TempDir()
		n := MaxDecisionRules + 10
		writeGCRules(t, dir, n, func(i int) string {
			if i == n-1 {
				return "garbage-collection"
			}
			return fmt.Sprintf("nothing like %d", i)
		}, func(int) []string { return []string{"syn.day"} })
		got := ExplainSummary(load(t, dir), env, now)
		if len(got) != MaxDecisionRules+1 {
			t.Fatalf("%d entries, want %d", len(got), MaxDecisionRules+1)
		}
		for i, r := range got[:MaxDecisionRules] {
			if r.Status != "not_matched" || r.File != fmt.Sprintf("gc_%02d.json", i) || r.Actual == "" {
				t.Errorf("entry %d: %+v", i, r)
			}
		}
		if last := got[MaxDecisionRules]; last.Status != "matched" || last.RuleName != fmt.Sprintf("gc_%02d", n-1) {
			t.Errorf("matched rule: %+v", last)
		}
	})
	t.Run("rules the tag index skipped", func(t *testing.T) {
		dir := t.TempDir()
		writeGCRules(t, dir, 12, func(int) string { return "nothing" }, func(i int) []string {
			if i < 3 {
				return []string{"syn.day"}
			}
			return []string{fmt.Sprintf("absent.%d", i)}
		})
		got := ExplainSummary(load(t, dir), env, now)
		if len(got) != 3+MaxSkippedRules {
			t.Fatalf("%d entries, want %d: %+v", len(got), 3+MaxSkippedRules, got)
		}
		want := api.DecisionRule{File: "gc_03.json", RuleName: "gc_03", Status: "not_matched", AlertPath: "tags",
			Op: "tags_include", Expected: `"absent.3"`, Reason: "the alert lacks a tag the rule requires; not evaluated further"}
		if got[3] != want {
			t.Errorf("skipped rule:\n got %+v\nwant %+v", got[3], want)
		}
	})
}

// A decision lists at most MaxDecisionMatched pushes (the store refuses
// more), whatever the answer lists.
func TestDecisionMatchedCapped(t *testing.T) {
	m := metrics.New("classifier")
	r, srv := historyRecorder(t, 100, m)
	dir := t.TempDir()
	writeGCRules(t, dir, MaxDecisionMatched+3, func(int) string { return "garbage-collection" },
		func(int) []string { return []string{"syn.day"} })
	loader := rules.NewDir(rules.DirOptions{Dir: dir, Log: zerolog.Nop()})
	t.Cleanup(func() { loader.Close() })
	c := New(Options{Rules: loader, Actions: nopPusher{}, Queue: "ops", History: r, Log: zerolog.Nop()})
	res, err := c.Classify(context.Background(), testRequest(t).Alert)
	if err != nil || len(res.Matched) != MaxDecisionMatched+3 {
		t.Fatalf("classify: %d matched, %v", len(res.Matched), err)
	}
	if d := srv.WaitRecorded(t, 1)[0]; len(d.Matched) != MaxDecisionMatched || d.Matched[0].RuleName != "gc_00" {
		t.Errorf("decision lists %d matched rules, want %d", len(d.Matched), MaxDecisionMatched)
	}
}
