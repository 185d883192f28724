package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLogfmtLine(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "actionhandler", Options{})
	log.Info().Str(Event, "action_finished").Str(RuleName, "gc restart").Int(ExitCode, 0).
		Err(errors.New(`bad "x"`)).Msg("done")
	line := strings.TrimSpace(buf.String())
	for _, want := range []string{
		"level=info", "msg=done", "service=actionhandler", "event=action_finished",
		`rule_name="gc restart"`, "exit_code=0", `error="bad \"x\""`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("want exactly one line, got %q", buf.String())
	}
}

func TestLogfmtNewlineStaysOnOneLine(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "x", Options{})
	l.Info().Str("output", "a\nb").Send()
	if strings.Count(buf.String(), "\n") != 1 || !strings.Contains(buf.String(), `output="a\nb"`) {
		t.Fatalf("got %q", buf.String())
	}
}

func TestJSONFormat(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "poller", Options{Format: "json"})
	l.Info().Str(Event, "x").Send()
	if !strings.HasPrefix(buf.String(), "{") || !strings.Contains(buf.String(), `"service":"poller"`) {
		t.Fatalf("got %q", buf.String())
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "x", Options{Level: "warn"})
	l.Info().Msg("hidden")
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %q", buf.String())
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"json debug", Options{Format: "json", Level: "debug"}, true},
		{"bad format", Options{Format: "xml"}, false},
		{"bad level", Options{Level: "loud"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate("log."); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestTrim(t *testing.T) {
	if got := Trim("héllo world", 3); got != "hé…[trimmed]" {
		t.Fatalf("Trim = %q", got)
	}
	if got := Trim("short", 10); got != "short" {
		t.Fatalf("Trim = %q", got)
	}
}

func TestLogfmtBoolAndNumbers(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "x", Options{})
	l.Info().Bool("rate_limited", true).Float64("ratio", 0.5).Int64(ElapsedMS, 12).Send()
	for _, want := range []string{"rate_limited=true", "ratio=0.5", "elapsed_ms=12"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("line %q lacks %q", buf.String(), want)
		}
	}
}
