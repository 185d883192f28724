// Package record keeps what the classifier decided for each alert: a
// Recorder buffers api.Decision values in memory (bounded) and posts them in
// batches to the action handler's POST /v1/decisions, retrying what the
// store could not take yet. Recording never blocks classification: when the
// buffer is full the new decision is dropped and counted.
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Defaults of Options.
const (
	DefaultBuffer        = 10000
	DefaultFlushInterval = time.Second
	// DefaultMaxBatchBytes keeps a batch under the action handler's
	// default body_limit (1 MiB).
	DefaultMaxBatchBytes = 1000000
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	// DefaultMaxBufferBytes bounds the memory waiting decisions hold.
	DefaultMaxBufferBytes = 64 << 20
)

// entryCost is what one waiting decision counts against MaxBufferBytes
// besides its payload: the decision itself and the explain summary still
// to be computed.
const entryCost = 4 << 10

// takeChunk is how many waiting decisions the loop completes and encodes
// at once: what did not fit a batch waits encoded, so this bounds it.
const takeChunk = 50

// Drop reasons (label reason of classifier_decisions_dropped_total, and
// reason= of event=decisions_dropped).
const (
	DropBufferFull = "buffer_full" // the buffer held Buffer decisions already
	DropRefused    = "refused"     // the action handler answered 400 or 413 for the batch
	DropShutdown   = "shutdown"    // still buffered when Close's deadline passed
	DropEncode     = "encode"      // the decision could not be encoded as JSON
)

// dropLogEvery bounds the event=decisions_dropped reason=buffer_full lines.
const dropLogEvery = 5 * time.Second

// Options configure New.
type Options struct {
	URL    string             // POST /v1/decisions of the action handler
	Client *httpclient.Client // carries the token (Authorization: Bearer) and the timeout
	// Buffer is how many decisions are held, the batch being posted
	// included; 0 means DefaultBuffer.
	Buffer int
	// FlushInterval is how long a decision waits for more before a batch
	// is posted (a full batch is posted at once); 0 means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// MaxBatchBytes bounds one request body (a single larger decision is
	// sent alone); 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int
	// MaxBufferBytes bounds the memory of the decisions waiting (their
	// payloads plus entryCost each); past it new decisions are dropped as
	// when Buffer is full. 0 means DefaultMaxBufferBytes.
	MaxBufferBytes int
	// MinBackoff and MaxBackoff bound the wait between tries of a batch
	// that failed; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	Metrics                *Metrics // nil: none
	Log                    zerolog.Logger
}

// Metrics are the recorder's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	recorded   prometheus.Counter
	dropped    *prometheus.CounterVec
	buffered   prometheus.Gauge
	postErrors *prometheus.CounterVec
}

// NewMetrics registers the recorder's metrics in m.
func NewMetrics(m *metrics.Metrics) *Metrics {
	mm := &Metrics{
		recorded: m.Counter("decisions_recorded_total",
			"Decisions the action handler acknowledged (POST /v1/decisions answered 200)."),
		dropped: m.CounterVec("decisions_dropped_total",
			"Decisions never recorded, by reason (buffer_full, refused, shutdown, encode).", "reason"),
		buffered: m.Gauge("decisions_buffered",
			"Decisions held in memory waiting to be recorded, the batch being posted included."),
		postErrors: m.CounterVec("decisions_post_errors_total",
			"Failed POST /v1/decisions, by kind (unavailable: network, 5xx, 429; unauthorized: 401, 403, 404; refused: other 4xx).", "kind"),
	}
	for _, r := range []string{DropBufferFull, DropRefused, DropShutdown, DropEncode} {
		mm.dropped.WithLabelValues(r)
	}
	for _, k := range []string{postUnavailable, postUnauthorized, postRefused} {
		mm.postErrors.WithLabelValues(k)
	}
	return mm
}

func (m *Metrics) drop(reason string, n int) {
	if m != nil && n > 0 {
		m.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *Metrics) setBuffered(n int) {
	if m != nil {
		m.buffered.Set(float64(n))
	}
}

// Kinds of failed posts.
const (
	postUnavailable  = "unavailable"
	postUnauthorized = "unauthorized"
	postRefused      = "refused"
)

// entry is one decision waiting, with what is still to be filled in.
type entry struct {
	d        api.Decision
	complete func(*api.Decision)
}

// Recorder posts decisions to the history store. It is safe for concurrent
// use.
type Recorder struct {
	o Options

	mu       sync.Mutex
	queue    []entry // FIFO, not yet taken by the loop
	inflight int     // taken by the loop, not yet recorded or dropped
	bytes    int     // cost of the queue (payloads + entryCost each)
	closed   bool
	lastDrop time.Time // last buffer_full line
	unlogged int       // buffer_full drops not logged yet

	abandoned int // dropped for the shutdown deadline (the loop's only)

	wake   chan struct{} // a full batch is waiting
	stop   chan struct{} // closed by Close: drain, then end
	done   chan struct{} // closed when the loop has ended
	ctx    context.Context
	cancel context.CancelFunc // aborts a post in flight (Close's deadline passed)
}

// New starts a Recorder; Close stops it.
func New(o Options) *Recorder {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	r := &Recorder{o: o, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.loop()
	return r
}

// Record queues d to be recorded. It never blocks: when the buffer is
// full (or the Recorder closed), d is dropped and counted. d is sent as it
// is given: its Payload must be valid JSON (an alert.Envelope's Raw is),
// or the store refuses the batch.
func (r *Recorder) Record(d api.Decision) { r.RecordWith(d, nil) }

// RecordWith is Record with complete, called on the Recorder's goroutine
// before d is sent: the part of a decision its caller need not wait for
// (the classifier's explain summary). complete must only read what does not
// change after the call.
func (r *Recorder) RecordWith(d api.Decision, complete func(*api.Decision)) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.o.Metrics.drop(DropShutdown, 1)
		return
	}
	cost := len(d.Payload) + entryCost
	if len(r.queue)+r.inflight >= r.o.Buffer || r.bytes+cost > r.o.MaxBufferBytes {
		r.unlogged++
		r.mu.Unlock()
		r.o.Metrics.drop(DropBufferFull, 1)
		r.logDrops(false)
		return
	}
	r.queue = append(r.queue, entry{d: d, complete: complete})
	r.bytes += cost
	n := len(r.queue) + r.inflight
	full := len(r.queue) >= api.MaxDecisionBatch
	r.mu.Unlock()
	r.o.Metrics.setBuffered(n)
	if full {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// logDrops logs the buffer_full drops not logged yet: at most one line
// per dropLogEvery, unless final.
func (r *Recorder) logDrops(final bool) {
	r.mu.Lock()
	n := r.unlogged
	if n == 0 || (!final && time.Since(r.lastDrop) < dropLogEvery) {
		r.mu.Unlock()
		return
	}
	r.lastDrop, r.unlogged = time.Now(), 0
	r.mu.Unlock()
	r.o.Log.Warn().Str(logging.Event, "decisions_dropped").Str(logging.Reason, DropBufferFull).
		Int(logging.Count, n).Int("buffer", r.o.Buffer).
		Msg("decision buffer full: decisions not recorded (this line: at most one per 5s)")
}

// Buffered is how many decisions are held (the batch being posted
// included).
func (r *Recorder) Buffered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue) + r.inflight
}

// Close records what is buffered, trying until ctx is done; what is left
// then is dropped, counted and logged (reason shutdown). Decisions recorded
// after Close are dropped.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	stopAbort := context.AfterFunc(ctx, r.cancel)
	defer stopAbort()
	close(r.stop)
	<-r.done
	r.cancel()
	if r.abandoned > 0 {
		return fmt.Errorf("%d decisions not recorded before the deadline", r.abandoned)
	}
	return nil
}

// take moves up to max entries from the queue to the loop.
func (r *Recorder) take(max int) []entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(max, len(r.queue))
	out := make([]entry, n)
	copy(out, r.queue)
	for _, e := range out {
		r.bytes -= len(e.d.Payload) + entryCost
	}
	clear(r.queue[:n]) // release what they point to
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil
	}
	r.inflight += n
	return out
}

// settle forgets n entries the loop had taken (recorded or dropped).
func (r *Recorder) settle(n int) {
	r.mu.Lock()
	r.inflight -= n
	b := len(r.queue) + r.inflight
	r.mu.Unlock()
	r.o.Metrics.setBuffered(b)
}

func (r *Recorder) loop() {
	defer close(r.done)
	tick := time.NewTicker(r.o.FlushInterval)
	defer tick.Stop()
	draining := false
	var carry [][]byte // encoded decisions taken but not yet sent, in order
	for {
		if !draining {
			select {
			case <-tick.C:
				r.logDrops(false) // those since the last line
			case <-r.wake:
			case <-r.stop:
				draining = true
			}
		}
		for r.ctx.Err() == nil {
			batch, rest := r.fill(carry)
			carry = rest
			if len(batch) == 0 {
				break
			}
			r.send(batch)
			if !draining && len(carry) == 0 && r.queueLen() < api.MaxDecisionBatch {
				break // wait for the next tick for a fuller batch
			}
		}
		if r.ctx.Err() != nil || draining {
			r.abandon(len(carry))
			carry = nil
			r.abandon(len(r.take(r.o.Buffer)))
		}
		if draining {
			r.logDrops(true)
			if n := r.abandoned; n > 0 {
				r.o.Log.Error().Str(logging.Event, "decisions_dropped").Str(logging.Reason, DropShutdown).
					Int(logging.Count, n).Msg("decisions not recorded before the shutdown deadline")
			}
			return
		}
	}
}

// abandon drops n decisions the loop had taken: Close's deadline passed.
func (r *Recorder) abandon(n int) {
	if n > 0 {
		r.settle(n)
		r.o.Metrics.drop(DropShutdown, n)
		r.abandoned += n
	}
}

func (r *Recorder) queueLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// fill builds the next batch: carry first, then entries from the queue,
// completed and encoded, up to MaxDecisionBatch decisions and
// MaxBatchBytes. It returns the batch and what was encoded but did not
// fit.
func (r *Recorder) fill(carry [][]byte) (batch, rest [][]byte) {
	size := 0
	fits := func(b []byte) bool {
		return len(batch) == 0 || (len(batch) < api.MaxDecisionBatch && size+len(b)+1 <= r.o.MaxBatchBytes)
	}
	for len(carry) > 0 && fits(carry[0]) {
		batch, size = append(batch, carry[0]), size+len(carry[0])+1
		carry = carry[1:]
	}
	if len(carry) > 0 {
		return batch, carry
	}
	for len(batch) < api.MaxDecisionBatch {
		es := r.take(min(takeChunk, api.MaxDecisionBatch-len(batch)))
		if len(es) == 0 {
			break
		}
		for i, e := range es {
			if e.complete != nil {
				e.complete(&e.d)
			}
			b, err := encode(&e.d)
			if err != nil {
				r.settle(1)
				r.o.Metrics.drop(DropEncode, 1)
				r.o.Log.Error().Str(logging.Event, "decisions_dropped").Str(logging.Reason, DropEncode).
					Int(logging.Count, 1).Str(logging.AlertID, e.d.AlertID).Str(logging.ErrorKey, err.Error()).Send()
				continue
			}
			if !fits(b) {
				rest = append(rest, b)
				for _, later := range es[i+1:] {
					if later.complete != nil {
						later.complete(&later.d)
					}
					if lb, err := encode(&later.d); err == nil {
						rest = append(rest, lb)
					} else {
						r.settle(1)
						r.o.Metrics.drop(DropEncode, 1)
					}
				}
				return batch, rest
			}
			batch, size = append(batch, b), size+len(b)+1
		}
	}
	return batch, nil
}

// encode is json.Marshal(d) with the payload appended as it is: it is
// an envelope's Raw, already valid compact JSON, and re-checking up to
// api.MaxDecisionPayload bytes per decision is most of the encoding's cost.
func encode(d *api.Decision) ([]byte, error) {
	p := d.Payload
	d.Payload = nil
	b, err := json.Marshal(d)
	d.Payload = p
	if err != nil || len(p) == 0 {
		return b, err
	}
	out := make([]byte, 0, len(b)+len(p)+len(`,"payload":`))
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"payload":`...)
	out = append(out, p...)
	return append(out, '}'), nil
}

// body is the JSON of api.DecisionBatch holding the encoded decisions.
func body(batch [][]byte) []byte {
	n := len(`{"decisions":[]}`) + len(batch)
	for _, d := range batch {
		n += len(d)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"decisions":[`...)
	for i, d := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	return append(b, "]}"...)
}

// recordedAnswer is the answer to POST /v1/decisions.
type recordedAnswer struct {
	Recorded int `json:"recorded"`
}

// send posts batch until it is recorded, refused for good or abandoned
// (Close's deadline), and settles it. A batch of several answered 400 or
// 413 is split in halves, each sent in turn, so that only the decisions
// refused alone are dropped.
func (r *Recorder) send(batch [][]byte) {
	backoff := r.o.MinBackoff
	failing := false
	for {
		var out recordedAnswer
		status, err := r.o.Client.Post(r.ctx, r.o.URL, body(batch), &out)
		if r.ctx.Err() != nil {
			r.abandon(len(batch))
			return
		}
		var se *httpclient.StatusError
		errors.As(err, &se)
		switch {
		case err == nil || (status >= 200 && status <= 299):
			if failing {
				r.o.Log.Info().Str(logging.Event, "decisions_post_recovered").Int(logging.Count, len(batch)).
					Msg("history store takes decisions again")
			}
			r.settle(len(batch))
			if m := r.o.Metrics; m != nil {
				m.recorded.Add(float64(len(batch)))
			}
			return
		case se != nil && (se.Code == http.StatusRequestEntityTooLarge || se.Code == http.StatusBadRequest) && len(batch) > 1:
			// Too large, or one decision the store refuses (a batch is
			// recorded all or nothing): halves, until only what is refused
			// alone is dropped.
			r.postError(postRefused)
			r.o.Log.Warn().Str(logging.Event, "decisions_batch_split").Int(logging.Count, len(batch)).
				Int(logging.Status, se.Code).Str(logging.ErrorKey, se.Msg).
				Msg("history store refused a batch; sending it in halves")
			half := len(batch) / 2
			r.send(batch[:half])
			if r.ctx.Err() != nil {
				r.abandon(len(batch) - half)
				return
			}
			r.send(batch[half:])
			return
		case se != nil && se.Code >= 400 && se.Code < 500 && !retryable4xx(se.Code):
			// 400 or 413 for one decision, any other refusal of the
			// batch itself: sending it again gets the same answer.
			r.postError(postRefused)
			r.settle(len(batch))
			r.o.Metrics.drop(DropRefused, len(batch))
			r.o.Log.Error().Str(logging.Event, "decisions_dropped").Str(logging.Reason, DropRefused).
				Int(logging.Count, len(batch)).Int(logging.Status, se.Code).Str(logging.ErrorKey, se.Msg).
				Msg("history store refused a batch of decisions; not retried")
			return
		case se != nil && se.Code != http.StatusTooManyRequests && retryable4xx(se.Code):
			// The token, its scope or the URL: nothing but the
			// configuration fixes it. Said loudly, on every try.
			r.postError(postUnauthorized)
			r.o.Log.Error().Str(logging.Event, "decisions_post_failed").Str(logging.Reason, "unauthorized").
				Int(logging.Status, se.Code).Str(logging.ErrorKey, se.Msg).Int(logging.Count, len(batch)).
				Int64(logging.DelayMS, backoff.Milliseconds()).
				Msg("history store refuses the classifier's token or URL (history.token_file, scope record, history.url); retrying")
		default:
			r.postError(postUnavailable)
			if !failing {
				r.o.Log.Warn().Str(logging.Event, "decisions_post_failed").Str(logging.Reason, "unavailable").
					Str(logging.ErrorKey, err.Error()).Int(logging.Count, len(batch)).
					Int64(logging.DelayMS, backoff.Milliseconds()).
					Msg("history store unavailable; decisions kept and retried")
			}
		}
		failing = true
		// Jitter: up to a fifth more, so replicas do not retry in step.
		t := time.NewTimer(backoff + rand.N(backoff/5+1))
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			r.abandon(len(batch))
			return
		}
		backoff = min(2*backoff, r.o.MaxBackoff)
	}
}

// retryable4xx: answers that say the configuration is wrong (token, scope,
// URL) or the store is busy, not that the batch is.
func retryable4xx(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusTooManyRequests:
		return true
	}
	return false
}

func (r *Recorder) postError(kind string) {
	if m := r.o.Metrics; m != nil {
		m.postErrors.WithLabelValues(kind).Inc()
	}
}
