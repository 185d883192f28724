// Package poller runs the feeds: every loop interval each feed lists the
// alerts matching its query, and every alert not yet delivered is fetched
// and posted to the classifier. It holds no rule logic.
//
// Delivery guarantees:
//   - an alert the classifier took (200 matched/unmatched) is remembered
//     and not delivered again while its feed's query still returns it;
//   - an alert answered "deferred", or that could not be delivered (5xx,
//     429, timeout, classifier down), is offered again on the next loop;
//   - an alert the classifier rejected (4xx) is remembered with the error
//     and not sent again, so a bad alert cannot cause a hot loop;
//   - an alert is forgotten once it leaves its feed's query results;
//   - each delivery is committed to the state (journal + fsync) before the
//     next alert is delivered, so a restart, even after SIGKILL, delivers
//     none again except the one whose answer was in flight when the
//     process died (delivery is at least once, and exactly once unless the
//     poller dies during a delivery).
//
// Each feed runs on its own goroutine, so a slow feed delays only itself.
// A feed whose source fails (listing or fetching: 429 after the client's
// own retries, 5xx, unreachable) is backed off: its next poll waits twice
// as long after each failed poll in a row, at least what a 429 asked for,
// at most MaxBackoff; a successful poll brings it back to its interval. A
// classifier that cannot take alerts does not back a feed off: its alerts
// are offered again on the next loop, so they flow as soon as it is back.
package poller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"github.com/alexis-ops/alexis/poller/internal/state"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Result values remembered for alerts that got no classification.
const (
	ResultRejected = "rejected" // the classifier answered 4xx
	ResultUnknown  = "unknown"  // the classifier answered 2xx with a body that is not a classification
)

// Classifier takes alerts.
type Classifier interface {
	Classify(ctx context.Context, env *alert.Envelope) (api.Classification, error)
}

// ErrBadAnswer is a 2xx answer that is not a classification: the alert was
// taken, but what became of it is unknown.
var ErrBadAnswer = errors.New("classifier answer is not a classification")

// HTTPClassifier posts envelopes to the classifier's URL.
type HTTPClassifier struct {
	URL    string
	Client *httpclient.Client
}

// Classify posts env and returns the classifier's answer. A non-2xx answer
// is an *httpclient.StatusError.
func (h *HTTPClassifier) Classify(ctx context.Context, env *alert.Envelope) (api.Classification, error) {
	var out api.Classification
	status, err := h.Client.PostJSON(ctx, h.URL, env, &out)
	switch {
	case err != nil && status >= 200 && status <= 299:
		return out, fmt.Errorf("%w: %w", ErrBadAnswer, err)
	case err != nil:
		return out, err
	case out.Result == "":
		return out, fmt.Errorf("%w: no result", ErrBadAnswer)
	}
	return out, nil
}

// State is the memory of delivered alerts: a state file (FileState) or
// PostgreSQL (package pgstate). Commit makes a delivery durable before it
// returns; Retain forgets the alerts of a feed its query no longer
// returns; Save makes durable what Commit could not.
type State interface {
	Delivered(feed, id string) bool
	Count(feed string) int
	Commit(ctx context.Context, feed, id string, e state.Entry) error
	Retain(ctx context.Context, feed string, current map[string]bool) (int, error)
	Save(ctx context.Context) error
}

// FileState is the state file as a State.
func FileState(s *state.Store) State { return fileState{s} }

type fileState struct{ s *state.Store }

func (f fileState) Delivered(feed, id string) bool { return f.s.Delivered(feed, id) }
func (f fileState) Count(feed string) int          { return f.s.Count(feed) }
func (f fileState) Save(context.Context) error     { return f.s.Save() }
func (f fileState) Commit(_ context.Context, feed, id string, e state.Entry) error {
	return f.s.Commit(feed, id, e)
}
func (f fileState) Retain(_ context.Context, feed string, current map[string]bool) (int, error) {
	return f.s.Retain(feed, current), nil
}

// Source is a feed and how often it polls.
type Source struct {
	Feed     feed.Feed
	Interval time.Duration
}

// Options configure New.
type Options struct {
	Sources    []Source
	Classifier Classifier
	State      State
	Log        zerolog.Logger
	// MaxBackoff caps the wait of a feed whose source keeps failing;
	// default 5m (never less than the feed's interval).
	MaxBackoff time.Duration
	// Metrics, if set, receives counters (see NewMetrics).
	Metrics *Metrics
}

// Poller runs feeds.
type Poller struct {
	o Options

	mu     sync.Mutex
	status map[string]*FeedStatus
}

// FeedStatus is what GET /v1/feeds shows of a feed.
type FeedStatus struct {
	Name             string    `json:"name"`
	Type             string    `json:"type"`
	LoopInterval     string    `json:"loop_interval"`
	Polls            int       `json:"polls"`                 // since start
	LastPoll         time.Time `json:"last_poll,omitzero"`    // start of the last finished poll
	LastSuccess      time.Time `json:"last_success,omitzero"` // start of the last poll without error
	LastElapsedMS    int64     `json:"last_elapsed_ms"`       // duration of the last poll
	LastError        string    `json:"last_error,omitempty"`  // error of the last poll, if it failed
	AlertsSeen       int       `json:"alerts_seen"`           // matching the query at the last listing
	AlertsDelivered  int       `json:"alerts_delivered"`      // taken by the classifier since start
	AlertsDeferred   int       `json:"alerts_deferred"`       // answered "deferred" since start
	AlertsRejected   int       `json:"alerts_rejected"`       // answered 4xx since start
	DeliveryFailures int       `json:"delivery_failures"`     // fetch or delivery failures since start
	Remembered       int       `json:"remembered"`            // delivered alerts still matching (state file)
	SourceFailures   int       `json:"source_failures"`       // polls in a row whose source failed (backing off while > 0)
	NextPoll         time.Time `json:"next_poll,omitzero"`    // when the feed polls next
}

// Result counts what one poll did.
type Result struct {
	Seen      int // alerts matching the query
	New       int // not delivered before, offered this poll
	Delivered int // taken by the classifier
	Deferred  int // answered "deferred"
	Rejected  int // answered 4xx
	Failed    int // could not be fetched or delivered; offered again next poll
	Forgotten int // remembered alerts that left the query results
}

// DefaultMaxBackoff is the default of Options.MaxBackoff.
const DefaultMaxBackoff = 5 * time.Minute

// New builds a poller.
func New(o Options) *Poller {
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	p := &Poller{o: o, status: map[string]*FeedStatus{}}
	for _, s := range o.Sources {
		p.status[s.Feed.Name()] = &FeedStatus{
			Name: s.Feed.Name(), Type: s.Feed.Type(), LoopInterval: s.Interval.String(),
		}
	}
	return p
}

// Run polls every feed on its own loop until ctx is done.
func (p *Poller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, src := range p.o.Sources {
		wg.Go(func() {
			failures := 0
			for {
				_, err := p.Poll(ctx, src)
				if ctx.Err() != nil {
					return
				}
				var wait time.Duration
				wait, failures = p.next(src, err, failures)
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		})
	}
	wg.Wait()
}

// next decides when src polls again after a poll that returned err, given
// the failed polls in a row before it, and logs entering and leaving a
// back-off.
func (p *Poller) next(src Source, err error, failures int) (time.Duration, int) {
	log := p.o.Log.With().Str(logging.FeedName, src.Feed.Name()).Logger()
	var se *SourceError
	if !errors.As(err, &se) {
		if failures > 0 {
			log.Info().Str(logging.Event, "feed_recovered").Int(logging.Count, failures).Msg("source answers again")
		}
		p.scheduled(src.Feed.Name(), 0, src.Interval)
		return src.Interval, 0
	}
	failures++
	after, limited := feed.RateLimited(err)
	wait := Backoff(src.Interval, p.o.MaxBackoff, failures, after)
	log.Warn().Str(logging.Event, "feed_backoff").Int(logging.Count, failures).Str(logging.RateLimited, strconv.FormatBool(limited)).
		Int64(logging.DelayMS, wait.Milliseconds()).Msg("source failing: polling less often")
	p.scheduled(src.Feed.Name(), failures, wait)
	return wait, failures
}

// Backoff is the wait before the next poll of a feed whose source failed
// failures polls in a row: interval doubled per failure, at least what the
// source asked for (retryAfter), at most limit (but never below interval).
func Backoff(interval, limit time.Duration, failures int, retryAfter time.Duration) time.Duration {
	limit = max(limit, interval)
	wait := limit
	if failures < 30 {
		if d := interval << failures; d > 0 && d < limit {
			wait = d
		}
	}
	if retryAfter > wait {
		wait = min(retryAfter, limit)
	}
	return wait
}

// SourceError is a poll failure of the feed's source (listing or fetching),
// as opposed to the classifier's.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Once polls every feed once, concurrently, and returns the errors of the
// feeds that failed, each prefixed with the feed name.
func (p *Poller) Once(ctx context.Context) error {
	errs := make([]error, len(p.o.Sources))
	var wg sync.WaitGroup
	for i, src := range p.o.Sources {
		wg.Go(func() {
			if _, err := p.Poll(ctx, src); err != nil {
				errs[i] = fmt.Errorf("feed %s: %w", src.Feed.Name(), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Poll runs one poll of src: list, forget what left the query, deliver
// what is new, save the state. It logs poll_started and then poll_finished
// or poll_failed (not when ctx was cancelled).
func (p *Poller) Poll(ctx context.Context, src Source) (Result, error) {
	f := src.Feed
	log := p.o.Log.With().Str(logging.FeedName, f.Name()).Logger()
	start := time.Now()
	log.Info().Str(logging.Event, "poll_started").Send()
	res, err := p.poll(ctx, f, log)
	if serr := p.o.State.Save(ctx); serr != nil {
		log.Error().Str(logging.Event, "state_save_failed").Err(serr).Send()
		err = errors.Join(err, serr)
	}
	elapsed := time.Since(start)
	p.record(f.Name(), start, elapsed, res, err)
	p.o.Metrics.polled(f.Name(), elapsed, res, err)
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case err != nil:
		log.Warn().Str(logging.Event, "poll_failed").Int(logging.Count, res.Seen).
			Int(logging.Succeeded, res.Delivered).Int(logging.Failed, res.Failed).
			Int64(logging.ElapsedMS, elapsed.Milliseconds()).Err(err).Send()
	default:
		log.Info().Str(logging.Event, "poll_finished").Int(logging.Count, res.Seen).
			Int(logging.Succeeded, res.Delivered).Int(logging.Failed, res.Failed).
			Int64(logging.ElapsedMS, elapsed.Milliseconds()).Send()
	}
	return res, err
}

func (p *Poller) poll(ctx context.Context, f feed.Feed, log zerolog.Logger) (Result, error) {
	var res Result
	ids, err := f.List(ctx)
	if err != nil {
		return res, &SourceError{Err: fmt.Errorf("list alerts: %w", err)}
	}
	res.Seen = len(ids)
	current := make(map[string]bool, len(ids))
	for _, id := range ids {
		current[id] = true
	}
	res.Forgotten, err = p.o.State.Retain(ctx, f.Name(), current)
	if err != nil {
		return res, err
	}

	var failure error // the last fetch or delivery failure
	for _, id := range ids {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if p.o.State.Delivered(f.Name(), id) {
			continue
		}
		res.New++
		env, err := f.Fetch(ctx, id)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return res, ctx.Err()
		case errors.Is(err, feed.ErrGone):
			log.Debug().Str(logging.Event, "alert_gone").Str(logging.AlertID, id).Send()
			continue
		case errors.Is(err, feed.ErrInvalid):
			log.Warn().Str(logging.Event, "alert_invalid").Str(logging.AlertID, id).Err(err).Send()
			res.Failed++
			failure = err
			continue
		default:
			// The source is struggling (rate limit, outage): leave the rest
			// for the next poll rather than hammering it.
			log.Warn().Str(logging.Event, "alert_fetch_failed").Str(logging.AlertID, id).Err(err).Send()
			res.Failed++
			return res, &SourceError{Err: p.failed(res, fmt.Errorf("fetch alert %s: %w", id, err))}
		}

		if ctx.Err() != nil { // e.g. the lease ended while fetching
			return res, ctx.Err()
		}
		stop, err := p.deliver(ctx, log, f.Name(), id, env, &res)
		if err != nil {
			failure = err
		}
		if stop {
			return res, p.failed(res, err)
		}
	}
	if failure != nil {
		return res, p.failed(res, failure)
	}
	return res, nil
}

// failed is the error of a poll that left alerts undelivered.
func (p *Poller) failed(res Result, err error) error {
	return fmt.Errorf("%d alert(s) failed, offered again next poll: %w", res.Failed, err)
}

// deliver posts one envelope and records the outcome. It returns stop when
// the classifier looks unavailable (no answer, 429, 502, 503, 504), so the
// rest wait for the next poll, and the delivery error if it failed.
func (p *Poller) deliver(ctx context.Context, log zerolog.Logger, feedName, id string, env *alert.Envelope, res *Result) (stop bool, failure error) {
	uv := env.Meta.UniqueValue
	cl, err := p.o.Classifier.Classify(ctx, env)
	if err == nil && cl.Result == api.ResultDeferred {
		p.o.Metrics.delivered(feedName, cl.Result)
		res.Deferred++
		log.Info().Str(logging.Event, "alert_deferred").Str(logging.AlertID, id).Str(logging.UniqueValue, uv).
			Str(logging.Result, cl.Result).Send()
		return false, nil
	}
	if err == nil {
		p.o.Metrics.delivered(feedName, cl.Result)
		res.Delivered++
		p.commit(ctx, log, feedName, id, state.Entry{UniqueValue: uv, DeliveredAt: time.Now().UTC(), Result: cl.Result})
		log.Info().Str(logging.Event, "alert_delivered").Str(logging.AlertID, id).Str(logging.UniqueValue, uv).
			Str(logging.Result, cl.Result).Send()
		return false, nil
	}
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	if errors.Is(err, ErrBadAnswer) {
		res.Delivered++
		p.commit(ctx, log, feedName, id, state.Entry{UniqueValue: uv, DeliveredAt: time.Now().UTC(), Result: ResultUnknown, Error: err.Error()})
		log.Warn().Str(logging.Event, "alert_delivered").Str(logging.AlertID, id).Str(logging.UniqueValue, uv).
			Str(logging.Result, ResultUnknown).Err(err).Send()
		return false, nil
	}
	var se *httpclient.StatusError
	isStatus := errors.As(err, &se)
	if isStatus && se.Code >= 400 && se.Code <= 499 && se.Code != http.StatusTooManyRequests {
		p.o.Metrics.delivered(feedName, ResultRejected)
		res.Rejected++
		p.commit(ctx, log, feedName, id, state.Entry{UniqueValue: uv, DeliveredAt: time.Now().UTC(), Result: ResultRejected, Error: err.Error()})
		log.Warn().Str(logging.Event, "delivery_rejected").Str(logging.AlertID, id).Str(logging.UniqueValue, uv).
			Int(logging.Status, se.Code).Err(err).Send()
		return false, nil
	}
	res.Failed++
	ev := log.Warn().Str(logging.Event, "delivery_failed").Str(logging.AlertID, id).Str(logging.UniqueValue, uv)
	if isStatus {
		ev = ev.Int(logging.Status, se.Code)
	}
	ev.Err(err).Send()
	unavailable := !isStatus
	if isStatus {
		switch se.Code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			unavailable = true
		}
	}
	return unavailable, fmt.Errorf("deliver alert %s: %w", id, err)
}

// commit records a delivery durably before the next one starts. If the
// disk fails, the delivery is still remembered in memory (and saved when
// the poll ends, if the disk allows by then).
//
// With PostgreSQL a failed commit also ends the lease term, which cancels
// ctx: the poll stops before the next delivery.
func (p *Poller) commit(ctx context.Context, log zerolog.Logger, feedName, id string, e state.Entry) {
	// Not cancelled with ctx: an answered delivery is recorded even while
	// stopping (the lease still fences it).
	if err := p.o.State.Commit(context.WithoutCancel(ctx), feedName, id, e); err != nil {
		log.Error().Str(logging.Event, "state_save_failed").Str(logging.AlertID, id).Err(err).Send()
	}
}

// scheduled records a feed's back-off state and next poll.
func (p *Poller) scheduled(name string, failures int, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.status[name]; st != nil {
		st.SourceFailures = failures
		st.NextPoll = time.Now().Add(wait).UTC()
	}
}

func (p *Poller) record(name string, start time.Time, elapsed time.Duration, res Result, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status[name]
	if st == nil {
		return
	}
	st.Polls++
	st.LastPoll = start.UTC()
	st.LastElapsedMS = elapsed.Milliseconds()
	st.AlertsDelivered += res.Delivered
	st.AlertsDeferred += res.Deferred
	st.AlertsRejected += res.Rejected
	st.DeliveryFailures += res.Failed
	if res.Seen > 0 || err == nil {
		st.AlertsSeen = res.Seen
	}
	if err != nil {
		st.LastError = err.Error()
	} else {
		st.LastError = ""
		st.LastSuccess = start.UTC()
	}
}

// Status returns every feed's status, in configuration order.
func (p *Poller) Status() []FeedStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]FeedStatus, 0, len(p.o.Sources))
	for _, s := range p.o.Sources {
		st := *p.status[s.Feed.Name()]
		st.Remembered = p.o.State.Count(st.Name)
		out = append(out, st)
	}
	return out
}
