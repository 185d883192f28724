package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
)

// fixClock makes the two writers see the same timestamp.
var fixClock sync.Once

// both logs one event through the new writer and the reference and returns
// the two outputs.
func both(t testing.TB, emit func(zerolog.Logger)) (got, want string) {
	t.Helper()
	var g, w bytes.Buffer
	ts := func(l zerolog.Logger) zerolog.Logger {
		return l.With().Str(Service, "classifier").Timestamp().Logger()
	}
	fixClock.Do(func() {
		zerolog.TimeFieldFormat = time.RFC3339Nano
		zerolog.TimestampFunc = func() time.Time { return time.Date(2026, 12, 2, 6, 50, 1, 498326785, time.UTC) }
	})
	emit(ts(zerolog.New(Logfmt(&g))))
	emit(ts(zerolog.New(refLogfmt(&w))))
	return g.String(), w.String()
}

var hostile = []string{
	"", "plain", "two words", "a\nb", "a\r\nb", `say "hi"`, "k=v", "a=b c=d", `back\slash`,
	"tab\there", "nul\x00byte", "bell\x07", "del\x7f", "é unicode ✓", "emoji 🚀", "\u2028line sep",
	"bad utf8 \xff\xfe", "half \xe2\x82", "<html>&amp;", "trailing space ", " ", "=", `"`, "\\",
	"level=error msg=forged",
	strings.Repeat("long value ", 2000), strings.Repeat("x\n", 40000), // the last: a line too big to pool
}

func TestLogfmtMatchesReference(t *testing.T) {
	type tc struct {
		name string
		emit func(zerolog.Logger)
	}
	cases := []tc{
		{"service line", func(l zerolog.Logger) {
			l.Info().Str(Event, "alert_classified").Str(AlertID, "a-1").Str(RuleName, "gc restart").
				Str(Entity, "web01").Str(Result, "matched").Int64(ElapsedMS, 3).Msg("classified")
		}},
		{"error first", func(l zerolog.Logger) {
			l.Warn().Str(Event, "x").Err(errors.New(`dial "tcp": refused`)).Int("a", 1).Msg("write-back failed")
		}},
		{"nil error", func(l zerolog.Logger) { l.Error().Err(nil).Str("z", "1").Send() }},
		{"ints floats bools", func(l zerolog.Logger) {
			l.Debug().Int("i", -3).Uint64("u", 1<<63).Float64("f", 0.1).Float64("big", 1e300).
				Float32("f32", 1.5).Bool("t", true).Bool("f", false).Send()
		}},
		{"durations and times", func(l zerolog.Logger) {
			l.Info().Dur("d", 1500*time.Millisecond).Time("at", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)).Send()
		}},
		{"interface and rawjson", func(l zerolog.Logger) {
			l.Info().Interface("obj", map[string]any{"b": 1, "a": "x y", "h": "<&>"}).
				RawJSON("raw", []byte(`{"z":1,"a":[1,"two",{"y":null,"b":true}],"z":2}`)).
				Interface("nilv", nil).Interface("s", "str ing").Send()
		}},
		{"arrays", func(l zerolog.Logger) {
			l.Info().Strs("hosts", []string{"a", "b c", "d\ne", "<x>"}).Ints("n", []int{1, 2}).
				Errs("errs", []error{errors.New("e1"), nil}).Strs("empty", nil).Send()
		}},
		{"nested dict", func(l zerolog.Logger) {
			l.Info().Dict("d", zerolog.Dict().Str("z", "1").Int("a", 2).Dict("in", zerolog.Dict().Str("k", "v w"))).Send()
		}},
		{"empty msg", func(l zerolog.Logger) { l.Info().Str("a", "b").Msg("") }},
		{"no level", func(l zerolog.Logger) { l.Log().Str("a", "b").Msg("hi") }},
		{"no fields", func(l zerolog.Logger) { l.Log().Send() }},
		{"duplicate keys last wins", func(l zerolog.Logger) {
			l.Info().Str("a", "1").Str("b", "x").Str("a", "2").Str(Service, "again").Send()
		}},
		{"fields named like parts", func(l zerolog.Logger) {
			l.Info().Str("msg", "m").Str("message", "overrides").Str("caller", "c.go:1").Str("level", "forged").Send()
		}},
		{"escaped key", func(l zerolog.Logger) { l.Info().Str("k\u00e9y", "v").Send() }},
		{"unsorted keys", func(l zerolog.Logger) {
			l.Info().Str("zz", "1").Str("B", "2").Str("a_b", "3").Str("a", "4").Str("errors", "5").Str("erro", "6").Send()
		}},
	}
	for i, s := range hostile {
		cases = append(cases,
			tc{"hostile value " + strconv.Itoa(i), func(l zerolog.Logger) { l.Info().Str(Entity, s).Str("x", s).Msg(s) }},
			tc{"hostile error " + strconv.Itoa(i), func(l zerolog.Logger) { l.Error().Err(errors.New(s)).Send() }},
			tc{"hostile nested " + strconv.Itoa(i), func(l zerolog.Logger) {
				l.Info().Strs("a", []string{s}).Interface("m", map[string]string{s: s}).Send()
			}},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, want := both(t, c.emit)
			if got != want {
				t.Fatalf("differs from ConsoleWriter reference\n got %q\nwant %q", got, want)
			}
			if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
				t.Fatalf("not one line: %q", got)
			}
		})
	}
}

// TestLogfmtRawLines feeds lines zerolog never writes: hand-made JSON the
// reference decodes, and non-JSON the reference dropped with an error and
// the new writer keeps on one line.
func TestLogfmtRawLines(t *testing.T) {
	same := []string{
		`{"time":"t","level":"info","message":"m","a":"\ud83d\ude80 \ud800 \u00e9 \/ \b\f"}` + "\n",
		`{"a":1e5,"b":-0,"c":1.50,"d":null}`,
		`null`,
		`{}`,
		` {"level":null,"time":null,"message":null} `,
		`{"level":3,"time":12,"message":true}`,
		`{"level":{"b":1,"a":2},"time":[1,"x"],"message":{"m":"\u003c"}}`,
		`{"a":"x","a":{"q":1},"error":[]}`,
	}
	for _, in := range same {
		var g, w bytes.Buffer
		if _, err := Logfmt(&g).Write([]byte(in)); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if _, err := refLogfmt(&w).Write([]byte(in)); err != nil {
			t.Fatalf("reference %q: %v", in, err)
		}
		if g.String() != w.String() {
			t.Errorf("%q:\n got %q\nwant %q", in, g.String(), w.String())
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"not json\nsecond line", `msg="not json\nsecond line"` + "\n"},
		{`{"a":1`, `msg="{\"a\":1"` + "\n"},
		{`["array"]`, `msg="[\"array\"]"` + "\n"},
		{`"str"`, `msg="\"str\""` + "\n"},
		{"", `msg=""` + "\n"},
		{"{\"a\":\"raw\nnewline\"}", `msg="{\"a\":\"raw\nnewline\"}"` + "\n"},
	} {
		var g bytes.Buffer
		n, err := Logfmt(&g).Write([]byte(tc.in))
		if err != nil || n != len(tc.in) {
			t.Fatalf("%q: n=%d err=%v", tc.in, n, err)
		}
		if g.String() != tc.want {
			t.Errorf("%q: got %q want %q", tc.in, g.String(), tc.want)
		}
	}
}

// TestLogfmtKeyFraming: a field name that would break key=value framing is
// quoted (the reference printed it bare).
func TestLogfmtKeyFraming(t *testing.T) {
	var g bytes.Buffer
	l := zerolog.New(Logfmt(&g))
	l.Info().Str("a b\nc=d", "v").Send()
	if want := "time=<nil> level=info \"a b\\nc=d\"=v\n"; g.String() != want {
		t.Fatalf("got %q want %q", g.String(), want)
	}
}

// TestLogfmtConcurrent: many goroutines logging through one writer each get
// whole lines, one Write per line.
func TestLogfmtConcurrent(t *testing.T) {
	var cw countingWriter
	l := New(&cw, "x", Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l.Info().Int("g", g).Int("i", i).Str("v", strings.Repeat("y", i)).Msg("m")
			}
		}()
	}
	wg.Wait()
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.writes != 1600 {
		t.Fatalf("writes = %d, want 1600", cw.writes)
	}
	for _, line := range strings.SplitAfter(cw.buf.String(), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "time=") || strings.Count(line, "\n") != 1 || !strings.Contains(line, " service=x v=") {
			t.Fatalf("torn line %q", line)
		}
	}
}

type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Count(p, []byte("\n")) != 1 {
		panic("write is not one line")
	}
	c.writes++
	return c.buf.Write(p)
}

func FuzzLogfmt(f *testing.F) {
	for _, s := range hostile[:len(hostile)-2] {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, want := both(t, func(l zerolog.Logger) {
			l.Info().Str(Entity, a).Err(errors.New(b)).Strs("list", []string{a, b}).
				Interface("obj", map[string]string{"k": a, "j": b}).Msg(b)
		})
		if got != want {
			t.Fatalf("differs from reference\n got %q\nwant %q", got, want)
		}
		if strings.Count(got, "\n") != 1 {
			t.Fatalf("not one line: %q", got)
		}
	})
}

// BenchmarkLogfmt logs a classifier-like line (8 fields) through zerolog to
// io.Discard: plain JSON, the old ConsoleWriter-based logfmt, the new writer.
func BenchmarkLogfmt(b *testing.B) {
	for _, w := range []struct {
		name string
		mk   func(io.Writer) io.Writer
	}{
		{"json", func(w io.Writer) io.Writer { return w }}, // zerolog alone: the floor
		{"consolewriter", refLogfmt},
		{"direct", Logfmt},
	} {
		b.Run(w.name, func(b *testing.B) {
			l := zerolog.New(w.mk(io.Discard)).With().Timestamp().Str(Service, "classifier").Logger()
			b.ReportAllocs()
			for b.Loop() {
				l.Info().Str(Event, "alert_classified").Str(AlertID, "OG-12345-abcdef").Str(RuleName, "gc restart").
					Str(Entity, "web01.example.com").Str(Result, "matched").Str(RequestedBy, "opsgenie-poller").
					Int64(ElapsedMS, 3).Msg("alert classified")
			}
		})
	}
}

// FuzzLogfmtRaw feeds arbitrary bytes straight to the writer: always one
// line, and for a valid JSON object the reference's line.
func FuzzLogfmtRaw(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"time":1,"level":"x","message":"m\n","error":{"e":[1]}}`, "null", "x\ny", `{"a":"\ud800"}`, "{\"a\":\"\x01\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var g, w bytes.Buffer
		if _, err := Logfmt(&g).Write(in); err != nil {
			t.Fatal(err)
		}
		if strings.Count(g.String(), "\n") != 1 || !strings.HasSuffix(g.String(), "\n") {
			t.Fatalf("not one line: %q", g.String())
		}
		trimmed := bytes.TrimSpace(in)
		if !json.Valid(trimmed) || !(bytes.HasPrefix(trimmed, []byte("{")) || string(trimmed) == "null") {
			if !strings.HasPrefix(g.String(), "msg=") {
				t.Fatalf("invalid input not written through: %q", g.String())
			}
			return
		}
		reframed := false // a key the new writer quotes on purpose
		gjson.ParseBytes(trimmed).ForEach(func(k, _ gjson.Result) bool {
			key, _ := jsonUnquote(k.Raw)
			reframed = reframed || string(appendKey(nil, key)) != key
			return true
		})
		if _, err := refLogfmt(&w).Write(in); err != nil {
			t.Fatalf("reference: %v", err)
		}
		if !reframed && g.String() != w.String() {
			t.Fatalf("%q\n got %q\nwant %q", in, g.String(), w.String())
		}
	})
}
