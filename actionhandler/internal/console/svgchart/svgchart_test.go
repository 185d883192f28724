package svgchart

import (
	"bytes"
	"encoding/xml"
	"flag"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)

const hostile = "</svg><script>alert(1)</script><img src=x onerror=alert(2)>\"'&"

func goldenCases() map[string]template.HTML {
	return map[string]template.HTML{
		"bars": Bars(BarChart{
			Title:  "Success rate per rule",
			Suffix: "%",
			Max:    100,
			Bars: []Bar{
				{Label: "disk-full", Value: 97.5, Href: "/rules/disk-full.json"},
				{Label: "nginx-down", Value: 62},
				{Label: "a rule with a very long name that does not fit", Value: 0},
			},
		}),
		"stacked": Stacked(StackedChart{
			Title:  "Runs per rule",
			Series: []string{"success", "failure", "other"},
			Stacks: []Stack{
				{Label: "disk-full", Values: []float64{39, 1, 0}},
				{Label: "nginx-down", Values: []float64{5, 3, 2}},
			},
		}),
		"columns": Series(TimeChart{
			Title:  "Executions per hour",
			Series: []string{"success", "failure"},
			Buckets: []Bucket{
				{Start: t0, Values: []float64{4, 1}},
				{Start: t0.Add(time.Hour), Values: []float64{0, 0}},
				{Start: t0.Add(2 * time.Hour), Values: []float64{7, 2}},
			},
		}),
		"lines": Series(TimeChart{
			Title:  "p95 duration per day",
			Kind:   Lines,
			Suffix: " s",
			Series: []string{"disk-full", "nginx-down"},
			Buckets: []Bucket{
				{Start: t0, Values: []float64{1.5, 12}},
				{Start: t0.Add(24 * time.Hour), Values: []float64{2.25, 9}},
				{Start: t0.Add(48 * time.Hour), Values: []float64{1, 30}},
			},
		}),
		"empty": Bars(BarChart{Title: "Success rate per rule"}),
	}
}

func TestGolden(t *testing.T) {
	for name, got := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".svg")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
			}
			checkSafe(t, got)
		})
	}
}

func TestDeterministic(t *testing.T) {
	a, b := goldenCases(), goldenCases()
	for name := range a {
		if a[name] != b[name] {
			t.Errorf("%s renders differently twice", name)
		}
	}
	sorted := Series(TimeChart{Series: []string{"n"}, Buckets: []Bucket{{Start: t0, Values: []float64{1}}, {Start: t0.Add(time.Hour), Values: []float64{2}}}})
	shuffled := Series(TimeChart{Series: []string{"n"}, Buckets: []Bucket{{Start: t0.Add(time.Hour), Values: []float64{2}}, {Start: t0, Values: []float64{1}}}})
	if sorted != shuffled {
		t.Error("buckets are not drawn in time order")
	}
}

func TestEmpty(t *testing.T) {
	for name, got := range map[string]template.HTML{
		"bars":    Bars(BarChart{}),
		"stacked": Stacked(StackedChart{Series: []string{"success"}}),
		"columns": Series(TimeChart{Series: []string{"success"}}),
		"lines":   Series(TimeChart{Kind: Lines}),
	} {
		t.Run(name, func(t *testing.T) {
			d := parse(t, got)
			if !strings.Contains(d.texts(), "no data") {
				t.Errorf("no \"no data\" text in %s", got)
			}
			if d.count["rect"] != 0 || d.count["polyline"] != 0 {
				t.Errorf("an empty chart draws shapes: %s", got)
			}
			if d.root["aria-label"] != "chart" || d.root["role"] != "img" {
				t.Errorf("svg attributes %v", d.root)
			}
		})
	}
}

func TestHostileLabels(t *testing.T) {
	charts := map[string]template.HTML{
		"bars": Bars(BarChart{Title: hostile, Suffix: hostile, Bars: []Bar{{Label: hostile, Value: 1}}}),
		"stacked": Stacked(StackedChart{Title: hostile, Series: []string{hostile, "ok"},
			Stacks: []Stack{{Label: hostile, Values: []float64{1, 2}}}}),
		"columns": Series(TimeChart{Title: hostile, Series: []string{hostile},
			Buckets: []Bucket{{Start: t0, Values: []float64{3}}}}),
		"lines": Series(TimeChart{Title: hostile, Kind: Lines, Series: []string{hostile},
			Buckets: []Bucket{{Start: t0, Values: []float64{3}}}}),
	}
	for name, got := range charts {
		t.Run(name, func(t *testing.T) {
			checkSafe(t, got)
			d := parse(t, got)
			// The hostile text is there, as text.
			if !strings.Contains(d.titles(), hostile) && !strings.Contains(d.titles(), truncate(hostile)) {
				t.Errorf("the label is not shown as text: titles %q", d.titles())
			}
			if d.root["aria-label"] != hostile {
				t.Errorf("aria-label %q", d.root["aria-label"])
			}
			if strings.Contains(string(got), "<script") || strings.Contains(string(got), "<img") {
				t.Errorf("markup from a label got through: %s", got)
			}
		})
	}
}

func TestControlCharacters(t *testing.T) {
	label := "disk\x1b[31m\x00full\xff\u2028x\n"
	got := Bars(BarChart{Bars: []Bar{{Label: label, Value: 1}}})
	checkSafe(t, got)
	for _, bad := range []string{"\x1b", "\x00", "\xff", "\n"} {
		if strings.Contains(string(got), bad) {
			t.Errorf("output holds %q", bad)
		}
	}
	if !utf8.ValidString(string(got)) {
		t.Error("output is not valid UTF-8")
	}
}

func TestLongLabel(t *testing.T) {
	long := strings.Repeat("é", 40) + "-end"
	d := parse(t, Bars(BarChart{Bars: []Bar{{Label: long, Value: 3}}}))
	label := d.byClass["svgchart-label"]
	if len(label) != 1 {
		t.Fatalf("labels %q", label)
	}
	if utf8.RuneCountInString(label[0]) != MaxLabel || !strings.HasSuffix(label[0], "…") {
		t.Errorf("label drawn as %q, want %d characters ending in …", label[0], MaxLabel)
	}
	if !strings.Contains(d.titles(), long) {
		t.Errorf("the full label is not in a title: %q", d.titles())
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		widths []float64 // of the bars, in px, ±0.01
	}{
		{name: "zero", values: []float64{0, 0}, widths: []float64{0, 0}},
		{name: "huge", values: []float64{1e300, 5e299}, widths: []float64{full, full / 2}},
		{name: "largest float", values: []float64{math.MaxFloat64, 1}, widths: []float64{full, 0}},
		{name: "nan inf negative", values: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -5, 2}, widths: []float64{0, 0, 0, 0, full}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bars []Bar
			for i, v := range tc.values {
				bars = append(bars, Bar{Label: "r" + strconv.Itoa(i), Value: v})
			}
			got := Bars(BarChart{Width: 640, Bars: bars})
			checkSafe(t, got)
			d := parse(t, got)
			if len(d.barWidths) != len(tc.widths) {
				t.Fatalf("bars %v", d.barWidths)
			}
			for i, w := range tc.widths {
				if math.Abs(d.barWidths[i]-w) > 0.01 {
					t.Errorf("bar %d: width %v, want %v", i, d.barWidths[i], w)
				}
			}
		})
	}
	// The same values in the other charts.
	for _, got := range []template.HTML{
		Stacked(StackedChart{Series: []string{"a", "b"}, Stacks: []Stack{{Label: "x", Values: []float64{math.MaxFloat64, math.MaxFloat64}}, {Label: "y", Values: []float64{math.NaN(), -1}}}}),
		Series(TimeChart{Series: []string{"a", "b"}, Buckets: []Bucket{{Start: t0, Values: []float64{math.MaxFloat64, math.MaxFloat64}}, {Start: t0.Add(time.Hour), Values: []float64{math.Inf(1)}}}}),
		Series(TimeChart{Kind: Lines, Series: []string{"a"}, Buckets: []Bucket{{Start: t0, Values: []float64{0}}}}),
	} {
		checkSafe(t, got)
	}
}

// full is the length of a full bar in a 640 px bar chart with labels "rN".
const full = 640 - (2*charWidth + 10) - valueWidth

func TestMaxAndSuffix(t *testing.T) {
	d := parse(t, Bars(BarChart{Max: 100, Suffix: "%", Bars: []Bar{{Label: "r", Value: 50}, {Label: "s", Value: 150}}}))
	barLen := float64(640 - (1*charWidth + 10) - valueWidth)
	if math.Abs(d.barWidths[0]-barLen/2) > 0.01 || math.Abs(d.barWidths[1]-barLen) > 0.01 {
		t.Errorf("widths %v with max 100, want %v and %v", d.barWidths, barLen/2, barLen)
	}
	if got := d.byClass["svgchart-value"]; len(got) != 2 || got[0] != "50%" || got[1] != "150%" {
		t.Errorf("values %q", got)
	}
}

func TestHref(t *testing.T) {
	for _, tc := range []struct {
		href string
		link bool
	}{
		{"/rules/disk-full.json", true},
		{"/rules/x?a=1&b=\"2\"", true},
		{"javascript:alert(1)", false},
		{"//evil.example/x", false},
		{"/\\evil.example", false},
		{"https://evil.example/", false},
		{"", false},
	} {
		got := Bars(BarChart{Bars: []Bar{{Label: "r", Value: 1, Href: tc.href}}})
		checkSafe(t, got)
		d := parse(t, got)
		if (d.count["a"] == 1) != tc.link {
			t.Errorf("href %q: %d links, want link %v", tc.href, d.count["a"], tc.link)
		}
	}
}

func TestSeriesClasses(t *testing.T) {
	got := string(Stacked(StackedChart{Series: []string{"Success", "fail ure\"><x"}, Stacks: []Stack{{Label: "r", Values: []float64{1, 1}}}}))
	for _, want := range []string{`class="svgchart-bar svgchart-series-0 svgchart-s-success"`, `class="svgchart-bar svgchart-series-1 svgchart-s-failurex"`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in %s", want, got)
		}
	}
}

func TestTimeLabels(t *testing.T) {
	var buckets []Bucket
	for i := range 48 {
		buckets = append(buckets, Bucket{Start: t0.Add(time.Duration(i) * time.Hour), Values: []float64{float64(i)}})
	}
	d := parse(t, Series(TimeChart{Series: []string{"n"}, Buckets: buckets}))
	axis := d.byClass["svgchart-axis"]
	// Three y labels (0, half, top) and at most about eight time labels.
	if len(axis) < 3+4 || len(axis) > 3+9 {
		t.Errorf("axis labels %q", axis)
	}
	if axis[0] != "0" || axis[2] != "50" || axis[3] != "18:00" {
		t.Errorf("axis labels %q, want 0, 25, 50 then 18:00 …", axis)
	}
	days := parse(t, Series(TimeChart{Series: []string{"n"}, Buckets: []Bucket{{Start: t0}, {Start: t0.Add(72 * time.Hour)}}}))
	if got := days.byClass["svgchart-axis"]; got[3] != "Dec 2" {
		t.Errorf("a span of days is labelled %q", got)
	}
	if d.count["rect"] != 47+1 { // bucket 0 has value 0; plus the legend's
		t.Errorf("%d rects", d.count["rect"])
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {3, "3"}, {97.5, "97.5"}, {0.126, "0.13"}, {999999, "999999"},
		{1.25e6, "1.2M"}, {3e9, "3G"}, {7e20, "700E"}, {1e300, "1.00e+300"},
		{-1, "0"}, {math.NaN(), "0"}, {math.Inf(1), "0"},
	} {
		if got := FormatValue(tc.v); got != tc.want {
			t.Errorf("FormatValue(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestInTemplate(t *testing.T) {
	tmpl := template.Must(template.New("").Parse(`<div>{{.}}</div>`))
	var out bytes.Buffer
	if err := tmpl.Execute(&out, Bars(BarChart{Bars: []Bar{{Label: "<b>", Value: 1}}})); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "<div><svg ") || !strings.Contains(out.String(), "&lt;b&gt;") {
		t.Errorf("template output %s", out.String())
	}
}

func FuzzLabels(f *testing.F) {
	f.Add(hostile, "success", 1.0)
	f.Add("\x1b]0;x\x07", "\xff\xfe", math.Inf(1))
	f.Add(strings.Repeat("<", 100), "]]>", -3.0)
	f.Fuzz(func(t *testing.T, label, series string, v float64) {
		for _, got := range []template.HTML{
			Bars(BarChart{Title: label, Suffix: series, Bars: []Bar{{Label: label, Value: v, Href: label}}}),
			Stacked(StackedChart{Title: label, Series: []string{series}, Stacks: []Stack{{Label: label, Values: []float64{v}, Href: series}}}),
			Series(TimeChart{Title: label, Series: []string{series}, Buckets: []Bucket{{Start: t0, Values: []float64{v}}}}),
			Series(TimeChart{Kind: Lines, Series: []string{series, label}, Buckets: []Bucket{{Start: t0, Values: []float64{v, v}}}}),
		} {
			checkSafe(t, got)
		}
	})
}

// checkSafe: well-formed XML, one svg root with role and label, no script,
// no event handlers, no style, links only to local paths, no NaN.
func checkSafe(t *testing.T, got template.HTML) {
	t.Helper()
	s := string(got)
	if !utf8.ValidString(s) {
		t.Fatalf("not valid UTF-8: %q", s)
	}
	if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Errorf("non-finite number in %s", s)
	}
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "svg" || attr(tok, "role") != "img" || attr(tok, "aria-label") == "" {
					t.Errorf("root %v", tok)
				}
			}
			depth++
			switch strings.ToLower(tok.Name.Local) {
			case "script", "foreignobject", "style", "iframe", "image", "use", "animate", "set":
				t.Errorf("element %s in %s", tok.Name.Local, s)
			}
			for _, a := range tok.Attr {
				name := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(name, "on") || name == "style" {
					t.Errorf("attribute %s in %s", a.Name.Local, s)
				}
				if name == "href" && !localPath(a.Value) {
					t.Errorf("href %q", a.Value)
				}
			}
		case xml.EndElement:
			depth--
		case xml.ProcInst, xml.Directive:
			t.Errorf("%T in %s", tok, s)
		}
	}
	if roots != 1 {
		t.Errorf("%d root elements", roots)
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// doc is what a chart holds, read back with encoding/xml.
type doc struct {
	root      map[string]string
	count     map[string]int      // elements by name
	byClass   map[string][]string // texts (without their titles) by class
	allTitles []string
	allTexts  []string
	barWidths []float64 // of rect.svgchart-bar, in order
}

func (d doc) titles() string { return strings.Join(d.allTitles, "\n") }
func (d doc) texts() string  { return strings.Join(d.allTexts, "\n") }

func parse(t *testing.T, got template.HTML) doc {
	t.Helper()
	d := doc{root: map[string]string{}, count: map[string]int{}, byClass: map[string][]string{}}
	dec := xml.NewDecoder(strings.NewReader(string(got)))
	var stack []xml.StartElement
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			tok = tok.Copy()
			if len(stack) == 0 {
				for _, a := range tok.Attr {
					d.root[a.Name.Local] = a.Value
				}
			}
			d.count[tok.Name.Local]++
			if tok.Name.Local == "rect" && strings.Contains(attr(tok, "class"), "svgchart-bar") &&
				!strings.Contains(attr(tok, "class"), "svgchart-series-") {
				w, _ := strconv.ParseFloat(attr(tok, "width"), 64)
				d.barWidths = append(d.barWidths, w)
			}
			if tok.Name.Local == "text" {
				text.Reset()
			}
			stack = append(stack, tok)
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch top := stack[len(stack)-1]; top.Name.Local {
			case "title":
				d.allTitles = append(d.allTitles, string(tok))
			case "text":
				text.Write(tok)
			}
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.Name.Local == "text" {
				d.allTexts = append(d.allTexts, text.String())
				for _, c := range strings.Fields(attr(top, "class")) {
					d.byClass[c] = append(d.byClass[c], text.String())
				}
			}
		}
	}
	return d
}
