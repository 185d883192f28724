package record_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/record"
	"github.com/alexis-ops/alexis/classifier/internal/record/recordtest"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
)

const token = "history-token-0123456789abcdef"

// logBuffer collects log lines; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// has reports whether one line holds every part.
func (b *logBuffer) has(parts ...string) bool {
next:
	for _, l := range strings.Split(b.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return l != ""
	}
	return false
}

type fixture struct {
	srv  *recordtest.Server
	rec  *record.Recorder
	reg  *metrics.Metrics
	logs *logBuffer
}

// start starts a Recorder posting to a fresh recordtest.Server; edit
// changes its options. The test fails if the token shows in the logs.
func start(t *testing.T, edit func(*record.Options)) *fixture {
	t.Helper()
	f := &fixture{srv: recordtest.New(t, token), reg: metrics.New("classifier"), logs: &logBuffer{}}
	client, err := httpclient.New(httpclient.Options{Token: config.NewSecret(token), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := record.Options{URL: f.srv.URL, Client: client, FlushInterval: 10 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Metrics: record.NewMetrics(f.reg), Log: logging.New(f.logs, "classifier", logging.Options{Level: "debug"})}
	if edit != nil {
		edit(&o)
	}
	f.rec = record.New(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.rec.Close(ctx)
		if strings.Contains(f.logs.String(), token) {
			t.Errorf("the token is in the logs:\n%s", f.logs)
		}
	})
	return f
}

func (f *fixture) metric(t *testing.T, line string) bool {
	t.Helper()
	rec := httptest.NewRecorder()
	f.reg.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return strings.Contains(rec.Body.String(), line+"\n")
}

// waitMetric polls until the exposition has line.
func (f *fixture) waitMetric(t *testing.T, line string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !f.metric(t, line); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("metric %q never seen", line)
		}
	}
}

func decision(i int) api.Decision {
	return api.Decision{ID: fmt.Sprintf("%032x", i), ReceivedAt: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC),
		FeedType: "OpsGenie", AlertID: fmt.Sprint("alert-", i), UniqueValue: fmt.Sprint(i), Result: api.ResultUnmatched}
}

// checkOrder fails unless got is decisions 0..n-1, each once, in order.
func checkOrder(t *testing.T, got []api.Decision, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("recorded %d decisions, want %d", len(got), n)
	}
	for i, d := range got {
		if d.ID != decision(i).ID {
			t.Fatalf("decision %d is %s, want %s (order kept, each once)", i, d.ID, decision(i).ID)
		}
	}
}

func TestRecordDelivers(t *testing.T) {
	f := start(t, nil)
	f.rec.RecordWith(decision(0), func(d *api.Decision) {
		d.Rules = []api.DecisionRule{{File: "gc.json", Status: "matched"}}
	})
	f.rec.Record(decision(1))
	got := f.srv.WaitRecorded(t, 2)
	checkOrder(t, got, 2)
	if len(got[0].Rules) != 1 || got[0].Rules[0].File != "gc.json" {
		t.Errorf("completed part not sent: %+v", got[0])
	}
	f.waitMetric(t, "classifier_decisions_recorded_total 2")
	f.waitMetric(t, "classifier_decisions_buffered 0")
}

// A store answering 503 for a while loses nothing: every decision is
// recorded once, in order, across several batches.
func TestRetryAfter503(t *testing.T) {
	f := start(t, nil)
	f.srv.Answer(func(n int, _ api.DecisionBatch) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	const n = 1200 // more than two batches of api.MaxDecisionBatch
	for i := range n {
		f.rec.Record(decision(i))
	}
	checkOrder(t, f.srv.WaitRecorded(t, n), n)
	f.waitMetric(t, `classifier_decisions_post_errors_total{kind="unavailable"} 3`)
	f.waitMetric(t, "classifier_decisions_recorded_total 1200")
	if !f.logs.has("event=decisions_post_failed", "reason=unavailable", "status 503") {
		t.Errorf("no decisions_post_failed line:\n%s", f.logs)
	}
	if !f.logs.has("event=decisions_post_recovered") {
		t.Errorf("no decisions_post_recovered line:\n%s", f.logs)
	}
}

// 400 for a batch: it is sent in halves until what the store refuses alone
// is dropped, counted and logged with the store's error; the rest is
// recorded, in order.
func TestRefusedDecisionDropped(t *testing.T) {
	f := start(t, func(o *record.Options) { o.FlushInterval = time.Hour })
	f.srv.Answer(func(_ int, b api.DecisionBatch) int {
		for _, d := range b.Decisions {
			if d.AlertID == "alert-1" {
				return http.StatusBadRequest
			}
		}
		return 0
	})
	for i := range 5 {
		f.rec.Record(decision(i))
	}
	// Nothing is sent before the interval: Close sends the batch.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range f.srv.Recorded() {
		ids = append(ids, d.AlertID)
	}
	if got := strings.Join(ids, " "); got != "alert-0 alert-2 alert-3 alert-4" {
		t.Errorf("recorded %s", got)
	}
	if !f.metric(t, `classifier_decisions_dropped_total{reason="refused"} 1`) {
		t.Error("refused drop not counted")
	}
	if !f.logs.has("level=error", "event=decisions_dropped", "reason=refused", "count=1", "status=400", "refused with 400 on request") {
		t.Errorf("no decisions_dropped line:\n%s", f.logs)
	}
	if !f.logs.has("level=warn", "event=decisions_batch_split", "count=5", "status=400") {
		t.Errorf("no decisions_batch_split line:\n%s", f.logs)
	}
}

// A batch the store finds too large is sent in halves; a single decision
// it still refuses is dropped.
func TestTooLargeSplits(t *testing.T) {
	f := start(t, nil)
	f.srv.Answer(func(_ int, b api.DecisionBatch) int {
		for _, d := range b.Decisions {
			if d.AlertID == "alert-7" { // too large even alone
				return http.StatusRequestEntityTooLarge
			}
		}
		if len(b.Decisions) > 3 {
			return http.StatusRequestEntityTooLarge
		}
		return 0
	})
	f.rec.Record(decision(0)) // sent alone first: waits for nothing
	f.srv.WaitRecorded(t, 1)
	// The rest in one or two batches, held until all are queued.
	f.srv.Hang()
	f.rec.Record(decision(1))
	for i := 2; i < 12; i++ {
		f.rec.Record(decision(i))
	}
	f.srv.Release()
	f.waitMetric(t, `classifier_decisions_dropped_total{reason="refused"} 1`)
	f.waitMetric(t, "classifier_decisions_recorded_total 11")
	var ids []string
	for _, d := range f.srv.Recorded() {
		ids = append(ids, d.AlertID)
	}
	want := "alert-0 alert-1 alert-2 alert-3 alert-4 alert-5 alert-6 alert-8 alert-9 alert-10 alert-11"
	if strings.Join(ids, " ") != want {
		t.Errorf("recorded %v, want %s", ids, want)
	}
	if !f.logs.has("event=decisions_batch_split") {
		t.Errorf("no decisions_batch_split line:\n%s", f.logs)
	}
}

// A request body never exceeds MaxBatchBytes (one decision larger than it
// goes alone).
func TestBatchBytes(t *testing.T) {
	f := start(t, func(o *record.Options) { o.MaxBatchBytes = 1000; o.FlushInterval = time.Hour })
	for i := range 20 {
		f.rec.Record(decision(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, f.srv.Recorded(), 20)
	bs := f.srv.Batches()
	if len(bs) < 2 {
		t.Fatalf("%d batches, want several", len(bs))
	}
	for _, b := range bs {
		if len(b.Decisions) > 5 { // each decision encodes to ~190 bytes
			t.Errorf("a batch of %d decisions exceeds 1000 bytes", len(b.Decisions))
		}
	}
}

// A store that never answers does not block Record: the buffer fills, the
// rest is dropped and counted; Close gives up at its deadline and counts
// what it could not send.
func TestHangingStoreNeverBlocks(t *testing.T) {
	f := start(t, func(o *record.Options) { o.Buffer = 10 })
	f.srv.Hang()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			f.rec.Record(decision(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a bound for a hang, not a speed check
		t.Fatal("Record blocked while the store hangs")
	}
	if got := f.rec.Buffered(); got != 10 {
		t.Errorf("buffered %d, want 10", got)
	}
	f.waitMetric(t, `classifier_decisions_dropped_total{reason="buffer_full"} 90`)
	f.waitMetric(t, "classifier_decisions_buffered 10")
	if !f.logs.has("level=warn", "event=decisions_dropped", "reason=buffer_full", "buffer=10", "count=1 ") {
		t.Errorf("no buffer_full line for the first drop:\n%s", f.logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.rec.Close(ctx); err == nil {
		t.Error("Close = nil with 10 decisions not recorded")
	}
	if !f.metric(t, `classifier_decisions_dropped_total{reason="shutdown"} 10`) {
		t.Error("shutdown drops not counted")
	}
	if !f.logs.has("level=error", "event=decisions_dropped", "reason=shutdown", "count=10") {
		t.Errorf("no shutdown line:\n%s", f.logs)
	}
	// The drops after the first line are logged at the latest on Close.
	if !f.logs.has("level=warn", "event=decisions_dropped", "reason=buffer_full", "count=89 ") {
		t.Errorf("no buffer_full line for the other drops:\n%s", f.logs)
	}
	f.rec.Record(decision(100)) // after Close: dropped, never blocks
	if !f.metric(t, `classifier_decisions_dropped_total{reason="shutdown"} 11`) {
		t.Error("a decision after Close not counted")
	}
}

// Close sends what is buffered before it returns.
func TestCloseDrains(t *testing.T) {
	f := start(t, func(o *record.Options) { o.FlushInterval = time.Hour })
	for i := range 7 {
		f.rec.Record(decision(i))
	}
	if len(f.srv.Batches()) != 0 {
		t.Fatal("sent before the interval")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, f.srv.Recorded(), 7)
}

// 401/403 are configuration: logged at error on every try, retried, and
// nothing is lost once fixed. The token never appears in the logs (start).
func TestUnauthorizedRetried(t *testing.T) {
	f := start(t, nil)
	f.srv.Answer(func(n int, _ api.DecisionBatch) int {
		if n <= 2 {
			return http.StatusForbidden
		}
		return 0
	})
	f.rec.Record(decision(0))
	checkOrder(t, f.srv.WaitRecorded(t, 1), 1)
	if !f.logs.has("level=error", "event=decisions_post_failed", "reason=unauthorized", "status=403") {
		t.Errorf("no unauthorized line:\n%s", f.logs)
	}
	f.waitMetric(t, `classifier_decisions_post_errors_total{kind="unauthorized"} 2`)
}

// A wrong token is refused by the store and retried; the logs name the
// problem but never the token.
func TestWrongTokenNotLogged(t *testing.T) {
	const wrong = "wrong-token-abcdef0123456789"
	f := start(t, func(o *record.Options) {
		c, err := httpclient.New(httpclient.Options{Token: config.NewSecret(wrong), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		o.Client = c
	})
	f.rec.Record(decision(0))
	for deadline := time.Now().Add(20 * time.Second); f.srv.BadTokens() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no retry with the wrong token")
		}
	}
	for deadline := time.Now().Add(20 * time.Second); !f.logs.has("event=decisions_post_failed", "status=401"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no 401 line:\n%s", f.logs)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.rec.Close(ctx); err == nil {
		t.Error("Close = nil with a decision the store never took")
	}
	if strings.Contains(f.logs.String(), wrong) {
		t.Errorf("the token is in the logs:\n%s", f.logs)
	}
}

// The buffer is bounded in bytes too: large payloads fill it sooner.
func TestBufferBytes(t *testing.T) {
	payload := []byte(`"` + strings.Repeat("x", 10000) + `"`)
	cost := len(payload) + 4<<10 // entryCost
	f := start(t, func(o *record.Options) { o.MaxBufferBytes = 3 * cost; o.FlushInterval = time.Hour })
	for i := range 10 {
		d := decision(i)
		d.Payload = payload
		f.rec.Record(d)
	}
	if n := f.rec.Buffered(); n != 3 {
		t.Errorf("buffered %d, want 3", n)
	}
	if !f.metric(t, `classifier_decisions_dropped_total{reason="buffer_full"} 7`) {
		t.Error("drops not counted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.srv.Recorded()
	checkOrder(t, got, 3)
	if string(got[0].Payload) != string(payload) {
		t.Errorf("payload %.40s…", got[0].Payload)
	}
}
