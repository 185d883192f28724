// Package logging builds the one zerolog logger a service uses and defines
// the key vocabulary every Alexis log line shares.
//
// Lines are logfmt (key=value) by default so a log platform can report on
// them without a parser; JSON is an option. One event per line.
package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Log keys. Every service uses these spellings and no others for the same
// meaning; the README's "Log keys" table documents each one.
const (
	Service      = "service"
	Component    = "component"
	Event        = "event"
	AlertID      = "alert_id"
	UniqueValue  = "unique_value"
	FeedType     = "feed_type"
	FeedName     = "feed_name"
	RuleName     = "rule_name"
	RuleFile     = "rule_file"
	Entity       = "entity"
	Action       = "action"
	ActionReason = "action_reason"
	ActionStatus = "action_status"
	TaskIndex    = "task_index"
	TaskType     = "task_type"
	ExitCode     = "exit_code"
	ElapsedMS    = "elapsed_ms"
	Client       = "client"
	RequestedBy  = "requested_by" // who posted the alert to the classifier (the token name), relayed to the action handler
	Method       = "method"
	Path         = "path"
	Status       = "status"
	Count        = "count"
	Target       = "target"
	Team         = "team"
	ErrorKey     = "error"
	ExecutionID  = "execution_id" // an action handler execution
	Listen       = "listen"       // a service's listen address
	Command      = "command"      // a task's command (dry runs only; never its output)
	Succeeded    = "succeeded"    // how many succeeded (e.g. hosts of an execution)
	Failed       = "failed"       // how many failed
	Result       = "result"       // the classifier's answer to a delivered alert: matched, unmatched, deferred
	DelayMS      = "delay_ms"     // how long a retry or back-off waits before the next try
	Reason       = "reason"       // why something was skipped, refused or interrupted: a Reason* word on refusals
	Detail       = "detail"       // the human-readable explanation that goes with a reason
	Replica      = "replica"      // an action handler replica's name in its store
	RateLimited  = "rate_limited" // a source answered 429 (too many requests)
	Mode         = "mode"         // how the classifier sees rule file changes: inotify or poll; a file's permission bits (0644)
	Field        = "field"        // the configuration key naming a file (e.g. ssh.key_file)
)

// Action statuses (values of ActionStatus).
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusSkipped = "skipped"
	StatusDryRun  = "dry_run"
	// StatusRefused: a remediation refused before anything ran (see the
	// Reason* words).
	StatusRefused = "refused"
)

// Reasons a remediation did not run: the value of Reason on the one line
// (with ActionStatus skipped or refused) that reports it.
const (
	ReasonEntityRefused = "entity_refused" // no entity resolved to a safe host name
	ReasonValueRefused  = "value_refused"  // an alert value did not fit its template: nothing was run
	ReasonNoHandler     = "no_handler"     // classifier: no action handler for the rule's os_type
	ReasonGovernor      = "governor"       // a governor limit (rate, cooldown, hosts per minute)
	ReasonQueueFull     = "queue_full"     // too many executions queued (answered 503; the sender retries)
)

// Options select the format and level of a service logger.
type Options struct {
	Format string // "logfmt" (default) or "json"
	Level  string // "debug", "info" (default), "warn", "error"
}

// Validate reports a bad format or level, naming the config key prefix.
func (o Options) Validate(prefix string) error {
	switch o.Format {
	case "", "logfmt", "json":
	default:
		return fmt.Errorf("%sformat: must be logfmt or json, got %q", prefix, o.Format)
	}
	if o.Level != "" {
		if _, err := zerolog.ParseLevel(o.Level); err != nil {
			return fmt.Errorf("%slevel: unknown level %q", prefix, o.Level)
		}
	}
	return nil
}

// New returns the service's root logger writing to w. Every line carries
// service=<service>, a UTC RFC3339 time and the level.
func New(w io.Writer, service string, o Options) zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	level := zerolog.InfoLevel
	if o.Level != "" {
		if l, err := zerolog.ParseLevel(o.Level); err == nil {
			level = l
		}
	}
	out := w
	if o.Format != "json" {
		out = Logfmt(w)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Str(Service, service).Logger()
}

// Logfmt wraps w so zerolog's JSON events are written as logfmt lines:
// time=... level=... msg=... then the fields in the order they were added.
func Logfmt(w io.Writer) io.Writer {
	return zerolog.ConsoleWriter{
		Out:        w,
		NoColor:    true,
		TimeFormat: time.RFC3339Nano,
		PartsOrder: []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, zerolog.MessageFieldName},
		FormatTimestamp: func(i any) string {
			return "time=" + quote(fmt.Sprint(i))
		},
		FormatLevel: func(i any) string {
			if i == nil {
				return "level=info"
			}
			return "level=" + quote(fmt.Sprint(i))
		},
		FormatMessage: func(i any) string {
			if i == nil || fmt.Sprint(i) == "" {
				return ""
			}
			return "msg=" + quote(fmt.Sprint(i))
		},
		FormatFieldName: func(i any) string { return fmt.Sprint(i) + "=" },
		// ConsoleWriter already quotes string values that need it.
		FormatFieldValue:    value,
		FormatErrFieldName:  func(i any) string { return fmt.Sprint(i) + "=" },
		FormatErrFieldValue: value,
	}
}

// value prints a field value; ConsoleWriter hands some JSON values (e.g.
// booleans) over as raw bytes.
func value(i any) string {
	switch v := i.(type) {
	case []byte:
		return string(v)
	case json.RawMessage:
		return string(v)
	}
	return fmt.Sprint(i)
}

// quote returns s bare when it is a plain token and Go-quoted otherwise, so a
// value never breaks the key=value framing of its line.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r == '\\' || r > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}

// Trim shortens s to at most n bytes (on a rune boundary), marking the cut.
func Trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " \n") + "…[trimmed]"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
