package replay

// Service is replay as the API (POST /v1/replay) and the console
// (/console/replay) offer it, so that both do the same: the candidate
// files checked by Candidates, at most MaxRunning replays at once on this
// replica (shared by both), every replay counted in
// actionhandler_replays_total and timed in
// actionhandler_replay_duration_seconds, and logged once (event=replay).

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Runner replays (*Replayer is one).
type Runner interface {
	Replay(ctx context.Context, req Request) (*Report, error)
}

// MaxRunning is how many replays one action handler runs at once by
// default; another is refused with ErrBusy (a replay is CPU work on the
// replica that answers, and scope read is widely given).
const MaxRunning = 2

// MaxBody bounds the body of a replay's request (POST /v1/replay, the
// console's form): the candidate files, encoded. It replaces body_limit
// for those routes.
const MaxBody = 16 << 20

// Outcomes: the outcome label of actionhandler_replays_total.
const (
	OutcomeUnchanged = "unchanged" // replayed; the candidate rules decide every alert as recorded
	OutcomeChanged   = "changed"   // replayed; at least one difference
	OutcomeRefused   = "refused"   // its input was refused (a bad rule file, range or limit; too many or too large files)
	OutcomeBusy      = "busy"      // MaxRunning replays were running
	OutcomeError     = "error"     // the store could not be read
)

// ErrBusy: MaxRunning replays are running.
var ErrBusy = fmt.Errorf("%d replays are running on this action handler; retry later", MaxRunning)

// ServiceOptions configure NewService.
type ServiceOptions struct {
	Replayer Runner
	// MaxRunning: default MaxRunning.
	MaxRunning int
	// Metrics registers actionhandler_replays_total and
	// actionhandler_replay_duration_seconds; nil: none.
	Metrics *metrics.Metrics
	Log     zerolog.Logger
}

// Service runs replays for the API and the console. It is safe for
// concurrent use.
type Service struct {
	o     ServiceOptions
	slots chan struct{} // a token per replay running
	count *prometheus.CounterVec
	secs  prometheus.Observer
}

// NewService returns a Service.
func NewService(o ServiceOptions) *Service {
	if o.MaxRunning <= 0 {
		o.MaxRunning = MaxRunning
	}
	s := &Service{o: o, slots: make(chan struct{}, o.MaxRunning)}
	if m := o.Metrics; m != nil {
		s.count = m.CounterVec("replays_total",
			"Replays asked for (API and console), by outcome (unchanged, changed, refused, busy, error).", "outcome")
		s.secs = m.HistogramVec("replay_duration_seconds",
			"Time a replay took: reading the recorded decisions and re-classifying them.",
			[]float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}).WithLabelValues()
		for _, o := range []string{OutcomeUnchanged, OutcomeChanged, OutcomeRefused, OutcomeBusy, OutcomeError} {
			s.count.WithLabelValues(o) // every series from the start, at 0
		}
	}
	return s
}

// Call is one replay asked for.
type Call struct {
	Request
	Client string // the token's name (the console: the session's)
	Path   string // where it was asked: /v1/replay, /console/replay
	Files  int    // how many candidate files
}

// Replay runs call unless MaxRunning replays are running (ErrBusy); only
// a store error (or ctx's) fails it otherwise.
func (s *Service) Replay(ctx context.Context, call Call) (*Report, error) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.outcome(OutcomeBusy)
		return nil, ErrBusy
	}
	start := time.Now()
	rep, err := s.o.Replayer.Replay(ctx, call.Request)
	elapsed := time.Since(start)
	if s.secs != nil {
		s.secs.Observe(elapsed.Seconds())
	}
	if err != nil {
		s.outcome(OutcomeError)
		return nil, err
	}
	if rep.Changes() > 0 {
		s.outcome(OutcomeChanged)
	} else {
		s.outcome(OutcomeUnchanged)
	}
	s.o.Log.Info().Str(logging.Event, "replay").Str(logging.Client, call.Client).Str(logging.Path, call.Path).
		Int(logging.Count, call.Files).Int(logging.Decisions, rep.Decisions).Int(logging.Changes, rep.Changes()).
		Int64(logging.ElapsedMS, elapsed.Milliseconds()).
		Msg("replayed recorded decisions with candidate rules")
	return rep, nil
}

// Refused counts a replay refused for its input (Candidates' error, a bad
// range or limit).
func (s *Service) Refused() { s.outcome(OutcomeRefused) }

func (s *Service) outcome(o string) {
	if s.count != nil {
		s.count.WithLabelValues(o).Inc()
	}
}

// InputError is candidate rule files refused: TooLarge (too many files,
// or one too large: 413) or invalid (400), naming the first file and
// field at fault; Msg has every problem.
type InputError struct {
	TooLarge    bool
	File, Field string
	Msg         string
}

func (e *InputError) Error() string { return e.Msg }

// Candidates loads the candidate rule set from files (name → content) as
// loading a rules directory holding them would: at most rules.MaxFiles,
// each at most rules.MaxFileSize, names plain .json file names, every
// file valid; otherwise an *InputError. Messages start "rules: " (the
// field of the API's body and the console's form).
func Candidates(files map[string][]byte) (*rules.Set, error) {
	if len(files) == 0 {
		return nil, &InputError{Msg: "rules: required: the candidate rule files by name"}
	}
	if len(files) > rules.MaxFiles {
		return nil, &InputError{TooLarge: true, Msg: fmt.Sprintf("rules: %d files, at most %d", len(files), rules.MaxFiles)}
	}
	for name, content := range files {
		if len(content) > rules.MaxFileSize {
			return nil, &InputError{TooLarge: true, File: TrimName(name),
				Msg: fmt.Sprintf("rules: %s: larger than %d bytes", strconv.Quote(TrimName(name)), rules.MaxFileSize)}
		}
	}
	set, err := rules.FromFiles(files, nil)
	if err != nil {
		return nil, &InputError{Msg: "rules: " + err.Error()}
	}
	var msgs []string
	var first *InputError
	for _, f := range set.Files {
		if f.Status == rules.StatusOK {
			continue
		}
		for _, e := range f.Errors {
			msgs = append(msgs, f.Path+": "+e.Path+": "+e.Msg)
		}
		if first == nil {
			first = &InputError{File: f.Path}
			if len(f.Errors) > 0 {
				first.Field = f.Errors[0].Path
			}
		}
	}
	if first != nil {
		first.Msg = "rules: " + strings.Join(msgs, "; ")
		return nil, first
	}
	return set, nil
}

// TrimName bounds a file name the caller chose, for a message.
func TrimName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
