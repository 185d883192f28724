package replay

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/rs/zerolog"
)

type failingRunner struct{ err error }

func (f failingRunner) Replay(context.Context, Request) (*Report, error) { return nil, f.err }

func outcomeCount(t *testing.T, m *metrics.Metrics, outcome string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if mf.GetName() == "actionhandler_replays_total" && s.GetLabel()[0].GetValue() == outcome {
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series for %s", outcome)
	return 0
}

// TestServiceOutcomes: a store error is counted error and timed, not
// logged as a replay; a replay is counted by whether it changed
// anything; without metrics nothing is counted and nothing fails.
func TestServiceOutcomes(t *testing.T) {
	m := metrics.New("actionhandler")
	var logs strings.Builder
	boom := errors.New("store down")
	s := NewService(ServiceOptions{Replayer: failingRunner{boom}, Metrics: m, Log: zerolog.New(&logs)})
	if _, err := s.Replay(ctx, Call{Client: "c", Path: "/v1/replay"}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	s.Refused()
	if outcomeCount(t, m, OutcomeError) != 1 || outcomeCount(t, m, OutcomeRefused) != 1 || outcomeCount(t, m, OutcomeChanged) != 0 {
		t.Errorf("counts wrong")
	}
	if strings.Contains(logs.String(), `"event":"replay"`) {
		t.Errorf("a failed replay logged as done: %s", logs.String())
	}
	f := newFixture(t)
	f.decided(alertJSON("a1", "mem", "java"))
	set := candidate(t, map[string]string{"mem.json": ruleJSON("mem_hog", "mem", "uptime")})
	m = metrics.New("actionhandler")
	s = NewService(ServiceOptions{Replayer: New(Options{Store: f.st, Runners: runners(t)}), Metrics: m, Log: zerolog.New(&logs)})
	rep, err := s.Replay(ctx, Call{Request: Request{Rules: set}, Client: "oncall", Path: "/console/replay", Files: 1})
	if err != nil || rep.Changes() != 1 || outcomeCount(t, m, OutcomeChanged) != 1 {
		t.Fatalf("%v %+v", err, rep)
	}
	if l := logs.String(); !strings.Contains(l, `"event":"replay"`) || !strings.Contains(l, `"client":"oncall"`) ||
		!strings.Contains(l, `"path":"/console/replay"`) || !strings.Contains(l, `"elapsed_ms":`) {
		t.Errorf("log %s", l)
	}
	if _, err := NewService(ServiceOptions{Replayer: failingRunner{boom}}).Replay(ctx, Call{}); !errors.Is(err, boom) {
		t.Errorf("without metrics: %v", err)
	}
}

// TestCandidates: the refusals name the file and field, and say which
// are too large.
func TestCandidates(t *testing.T) {
	good := ruleJSON("mem_hog", "mem", "uptime")
	for _, tc := range []struct {
		name        string
		files       map[string][]byte
		tooLarge    bool
		file, field string
		msg         string
	}{
		{"none", map[string][]byte{}, false, "", "", "rules: required"},
		{"invalid", map[string][]byte{"a.json": []byte(good), "b.json": []byte(`{"rule_name": 1}`)}, false, "b.json", "rule_name", "rules: b.json: rule_name"},
		{"bad name", map[string][]byte{"../a.json": []byte(good)}, false, "", "", "a file name, not a path"},
		{"too large", map[string][]byte{"big.json": make([]byte, rules.MaxFileSize+1)}, true, "big.json", "", `rules: "big.json": larger than`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Candidates(tc.files)
			var ie *InputError
			if !errors.As(err, &ie) || ie.TooLarge != tc.tooLarge || ie.File != tc.file || ie.Field != tc.field ||
				!strings.Contains(ie.Msg, tc.msg) {
				t.Errorf("%#v", err)
			}
		})
	}
	if set, err := Candidates(map[string][]byte{"a.json": []byte(good)}); err != nil || len(set.Files) != 1 {
		t.Errorf("good: %v", err)
	}
}
