// Package logging builds the one zerolog logger a service uses and defines
// the key vocabulary every Alexis log line shares.
//
// Lines are logfmt (key=value) by default so a log platform can report on
// them without a parser; JSON is an option. One event per line.
package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
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
	Decisions    = "decisions"    // how many recorded decisions were read (replay)
	Changes      = "changes"      // how many of them the candidate rules decide otherwise (replay)
	VerifyAt     = "verify_at"    // when an execution's verification is due (RFC 3339, UTC)
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
// time=... level=... msg=... then the fields sorted by key, except that error
// comes first. An empty message is left out; a missing level reads info; the
// caller field is not printed. String values that need it are Go-quoted, so a
// value never spans lines; nested objects and arrays are printed as compact
// JSON with sorted keys.
//
// The writer converts each line in one pass (no map, no reflection) into a
// pooled buffer and hands it to w with one Write call; it is safe for
// concurrent use when w is. A line that is not a JSON object is written as
// msg="<the line, quoted>" rather than dropped.
func Logfmt(w io.Writer) io.Writer {
	lw := &logfmtWriter{
		out:       w,
		timeKey:   zerolog.TimestampFieldName,
		levelKey:  zerolog.LevelFieldName,
		msgKey:    zerolog.MessageFieldName,
		callerKey: zerolog.CallerFieldName,
	}
	lw.pool.New = func() any { return &logfmtState{buf: make([]byte, 0, 512), fields: make([]logfmtField, 0, 16)} }
	return lw
}

type logfmtWriter struct {
	out                                  io.Writer
	timeKey, levelKey, msgKey, callerKey string
	pool                                 sync.Pool // *logfmtState
}

// logfmtState is the per-Write scratch space, reused through the pool.
type logfmtState struct {
	buf    []byte
	fields []logfmtField
	order  []int // fields' print order
}

type logfmtField struct {
	key string
	val gjson.Result
}

// maxPooled keeps one huge line from pinning its buffer in the pool.
const maxPooled = 64 << 10

// Write converts one zerolog JSON event into one logfmt line.
func (lw *logfmtWriter) Write(p []byte) (int, error) {
	st := lw.pool.Get().(*logfmtState)
	defer func() {
		if cap(st.buf) <= maxPooled {
			clear(st.fields)
			st.buf, st.fields = st.buf[:0], st.fields[:0]
			lw.pool.Put(st)
		}
	}()
	st.buf = lw.appendLine(st, p)
	if _, err := lw.out.Write(st.buf); err != nil {
		return 0, fmt.Errorf("write log line: %w", err)
	}
	return len(p), nil
}

func (lw *logfmtWriter) appendLine(st *logfmtState, p []byte) []byte {
	b := st.buf
	trimmed := bytes.TrimSpace(p)
	if !gjson.ValidBytes(trimmed) || !(bytes.HasPrefix(trimmed, []byte("{")) || string(trimmed) == "null") {
		// Not a zerolog event (a stray write): keep it, on one line.
		b = append(b, "msg="...)
		b = appendQuote(b, string(trimmed))
		return append(b, '\n')
	}
	var timeV, levelV, msgV gjson.Result
	obj := gjson.ParseBytes(trimmed)
	if obj.Type == gjson.Null {
		obj = gjson.Result{} // "null" decoded to an empty event; ForEach would call back once with it
	}
	obj.ForEach(func(k, v gjson.Result) bool {
		key, _ := jsonUnquote(k.Raw)
		switch key {
		case lw.timeKey:
			timeV = v
		case lw.levelKey:
			levelV = v
		case lw.msgKey:
			msgV = v
		case lw.callerKey:
		default:
			st.fields = append(st.fields, logfmtField{key: key, val: v})
		}
		return true
	})

	b = append(b, "time="...)
	if timeV.Exists() && timeV.Type != gjson.Null {
		b = appendQuote(b, partText(timeV))
	} else {
		b = append(b, "<nil>"...)
	}
	b = append(b, " level="...)
	if levelV.Exists() && levelV.Type != gjson.Null {
		b = appendQuote(b, partText(levelV))
	} else {
		b = append(b, "info"...)
	}
	if msgV.Exists() && msgV.Type != gjson.Null {
		if m := partText(msgV); m != "" {
			b = append(b, " msg="...)
			b = appendQuote(b, m)
		}
	}

	// Sorted by key; of repeated keys the last one wins (as decoding into a
	// map did); error goes first.
	// Sort indices, not the fields themselves: cheaper to move.
	fields := st.fields
	order := st.order[:0]
	for i := range fields {
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(x, y int) int { return strings.Compare(fields[x].key, fields[y].key) })
	n := 0
	for i, fi := range order {
		if i+1 < len(order) && fields[order[i+1]].key == fields[fi].key {
			continue
		}
		order[n] = fi
		n++
	}
	order = order[:n]
	for i, fi := range order {
		if fields[fi].key == ErrorKey {
			copy(order[1:i+1], order[:i])
			order[0] = fi
			break
		}
	}
	st.order = order
	for _, fi := range order {
		b = append(b, ' ')
		b = appendKey(b, fields[fi].key)
		b = append(b, '=')
		b = appendFieldValue(b, fields[fi].val)
	}
	return append(b, '\n')
}

// partText is what fmt.Sprint printed for the decoded time, level or message.
func partText(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		s, _ := jsonUnquote(v.Raw)
		return s
	case gjson.True:
		return "true"
	case gjson.False:
		return "false"
	case gjson.Number:
		return v.Raw
	}
	return fmt.Sprint(decodeRaw(v.Raw)) // object or array: rare, never on a service's line
}

// appendFieldValue prints a field value: strings quoted when they need it,
// numbers, booleans and null raw, objects and arrays as compact JSON.
func appendFieldValue(b []byte, v gjson.Result) []byte {
	switch v.Type {
	case gjson.String:
		s, _ := jsonUnquote(v.Raw)
		if needsQuote(s) {
			return strconv.AppendQuote(b, s)
		}
		return append(b, s...)
	case gjson.Number:
		return append(b, v.Raw...)
	case gjson.True:
		return append(b, "true"...)
	case gjson.False:
		return append(b, "false"...)
	case gjson.Null:
		return append(b, "null"...)
	}
	out, err := zerolog.InterfaceMarshalFunc(decodeRaw(v.Raw))
	if err != nil {
		return append(b, fmt.Sprintf("[error: %v]", err)...)
	}
	return append(b, out...)
}

// decodeRaw decodes a (valid) nested JSON value the way the line's decoder
// would: numbers kept as written, keys deduplicated.
func decodeRaw(raw string) any {
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	var v any
	_ = d.Decode(&v) // raw was validated with its line
	return v
}

// appendKey prints a field name bare; one that would break the line's
// framing (empty, space, control character, quote, =) is Go-quoted.
func appendKey(b []byte, k string) []byte {
	if k == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == '"' || c == '=' || c == 0x7f {
			return strconv.AppendQuote(b, k)
		}
	}
	return append(b, k...)
}

// needsQuote is zerolog's rule for field values: control characters,
// non-ASCII, space, backslash and double quote.
func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == ' ' || c == '\\' || c == '"' {
			return true
		}
	}
	return false
}

// appendQuote appends quote(s) without allocating.
func appendQuote(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c == '\\' || c > '~' {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}

// jsonUnquote turns a JSON string literal into its text exactly as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD). The
// common case, a literal with no escapes, is a substring of raw.
func jsonUnquote(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	r := 0
	for r < len(s) {
		c := s[r]
		if c == '\\' || c == '"' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			r++
			continue
		}
		rr, size := utf8.DecodeRuneInString(s[r:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		r += size
	}
	if r == len(s) {
		return s, true
	}
	b := make([]byte, 0, len(s)+2*utf8.UTFMax)
	b = append(b, s[:r]...)
	for r < len(s) {
		switch c := s[r]; {
		case c == '\\':
			r++
			if r >= len(s) {
				return string(b), false
			}
			switch s[r] {
			default:
				return string(b), false
			case '"', '\\', '/', '\'':
				b = append(b, s[r])
				r++
			case 'b':
				b = append(b, '\b')
				r++
			case 'f':
				b = append(b, '\f')
				r++
			case 'n':
				b = append(b, '\n')
				r++
			case 'r':
				b = append(b, '\r')
				r++
			case 't':
				b = append(b, '\t')
				r++
			case 'u':
				r--
				rr := getu4(s[r:])
				if rr < 0 {
					return string(b), false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			}
		case c == '"', c < ' ':
			return string(b), false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRuneInString(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b), true
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for i := 2; i < 6; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
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
