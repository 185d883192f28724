// Package svgchart renders small, accessible SVG charts as strings that
// html/template inserts as they are (template.HTML): a horizontal bar chart
// (Bars), a stacked bar chart with a legend (Stacked) and a time series of
// columns or lines (Series).
//
// The output is safe to embed in a page whatever the data holds: every
// label is escaped (a label "</svg><script>" shows as that text), control
// characters and invalid UTF-8 are replaced, and the charts contain no
// script, no event handler attributes, no links to other origins and no
// style attributes. They are styled by class names only (see CSS for a
// default stylesheet to serve from a file, so that a Content-Security-Policy
// without inline style holds), carry role="img" and an aria-label on the
// svg, a <desc> listing the data for screen readers, and a <title> on
// every bar, segment and point for tooltips. Long labels are truncated to
// MaxLabel characters with "…"; the full text stays in the <title>.
// Values that are negative, NaN or infinite are drawn as zero. Output is
// deterministic: the same chart renders to the same bytes.
//
// Example:
//
//	rate := svgchart.Bars(svgchart.BarChart{
//		Title:  "Success rate per rule, last 7 days",
//		Suffix: "%",
//		Bars: []svgchart.Bar{
//			{Label: "disk-full", Value: 97.5, Href: "/rules/disk-full.json"},
//			{Label: "nginx-down", Value: 62},
//		},
//	})
//	outcomes := svgchart.Stacked(svgchart.StackedChart{
//		Title:  "Runs per rule",
//		Series: []string{"success", "failure", "other"},
//		Stacks: []svgchart.Stack{{Label: "disk-full", Values: []float64{39, 1, 0}}},
//	})
//	runs := svgchart.Series(svgchart.TimeChart{
//		Title:   "Executions per hour",
//		Kind:    svgchart.Columns,
//		Series:  []string{"success", "failure"},
//		Buckets: []svgchart.Bucket{{Start: t0, Values: []float64{4, 1}}},
//	})
//	tmpl.Execute(w, map[string]any{"Rate": rate, "Outcomes": outcomes, "Runs": runs})
//
// Class names (all prefixed "svgchart"): the svg has "svgchart" and
// "svgchart-bars", "svgchart-stacked" or "svgchart-columns"/"svgchart-lines";
// bars and segments have "svgchart-bar"; the n-th series (from 0) has
// "svgchart-series-N" and "svgchart-s-NAME" where NAME is the series name
// lower-cased with everything but a-z, 0-9 and "-" removed (so a
// stylesheet can colour "success" green); texts have "svgchart-label",
// "svgchart-value", "svgchart-axis" or "svgchart-legend"; grid lines
// "svgchart-grid"; an empty chart shows "no data" in "svgchart-empty".
package svgchart

import (
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxLabel is the most characters of a label drawn; longer labels end in
// "…" and show whole in their <title>.
const MaxLabel = 28

// maxDesc is the most data entries listed in a chart's <desc>.
const maxDesc = 50

// Bar is one bar of a BarChart.
type Bar struct {
	Label string
	Value float64
	// Href, when it is a path on the same site ("/rules/x"), makes the
	// label and bar a link; anything else (a scheme, "//host") is ignored.
	Href string
}

// BarChart is a horizontal bar chart: one row per bar, in the given order.
type BarChart struct {
	Title  string // the aria-label and <title>; "chart" when empty
	Bars   []Bar
	Suffix string               // appended to each value, e.g. "%", " s"
	Format func(float64) string // formats a value; FormatValue when nil
	Width  int                  // in px; 640 when 0
	// Max is the value of a full-length bar; the largest value when 0 or
	// smaller (100 makes sense for percentages).
	Max float64
}

// Stack is one row of a StackedChart: one value per series.
type Stack struct {
	Label  string
	Values []float64 // in the order of StackedChart.Series; missing ones are 0
	Href   string    // as Bar.Href
}

// StackedChart is a horizontal stacked bar chart with a legend, e.g. per
// rule the runs that succeeded, failed or ended otherwise.
type StackedChart struct {
	Title  string
	Series []string // legend names, one per value of a Stack
	Stacks []Stack
	Suffix string
	Format func(float64) string
	Width  int
}

// Kind is how a TimeChart draws its series.
type Kind int

const (
	// Columns draws one column per bucket, its series stacked.
	Columns Kind = iota
	// Lines draws one line per series with a point per bucket.
	Lines
)

// Bucket is one interval of a TimeChart: its start and a value per series.
type Bucket struct {
	Start  time.Time
	Values []float64 // in the order of TimeChart.Series; missing ones are 0
}

// TimeChart is a time series: buckets (sorted by start when drawn) on the
// x axis, counts on the y axis.
type TimeChart struct {
	Title   string
	Kind    Kind
	Series  []string
	Buckets []Bucket
	Suffix  string
	Format  func(float64) string
	// Layout formats bucket starts on the axis and in titles; "15:04"
	// when the buckets span less than two days, else "Jan 2".
	Layout   string
	Location *time.Location // UTC when nil
	Width    int            // 640 when 0
	Height   int            // 240 when 0
}

// CSS is a default stylesheet for the charts' class names; serve it as a
// file (the charts carry no style of their own).
const CSS = `.svgchart{font:12px system-ui,sans-serif;max-width:100%;height:auto}
.svgchart text{fill:currentColor}
.svgchart .svgchart-series-0{--svgchart-color:#4a78c2}
.svgchart .svgchart-series-1{--svgchart-color:#c24a4a}
.svgchart .svgchart-series-2{--svgchart-color:#999}
.svgchart .svgchart-series-3{--svgchart-color:#d9a521}
.svgchart .svgchart-series-4{--svgchart-color:#7b4ac2}
.svgchart .svgchart-s-success{--svgchart-color:#2e8b57}
.svgchart .svgchart-s-failure{--svgchart-color:#c24a4a}
.svgchart .svgchart-bar,.svgchart .svgchart-point{fill:var(--svgchart-color,#4a78c2)}
.svgchart .svgchart-line{fill:none;stroke-width:2;stroke:var(--svgchart-color,#4a78c2)}
.svgchart .svgchart-track{fill:#8882}
.svgchart .svgchart-grid{stroke:#8886;stroke-width:1}
.svgchart .svgchart-empty{fill:#888}
`

const (
	defaultWidth  = 640
	defaultHeight = 240
	rowHeight     = 24
	barHeight     = 16
	charWidth     = 7 // an estimate of a label character's width, in px
	valueWidth    = 72
	legendHeight  = 22
	emptyHeight   = 40
)

// Bars renders a horizontal bar chart.
func Bars(c BarChart) template.HTML {
	var b builder
	width := orDefault(c.Width, defaultWidth)
	format := formatter(c.Format, c.Suffix)
	if len(c.Bars) == 0 {
		return empty(&b, "svgchart-bars", c.Title, width)
	}
	labels := make([]string, len(c.Bars))
	max := sane(c.Max)
	for i, bar := range c.Bars {
		labels[i] = bar.Label
		if c.Max <= 0 {
			max = math.Max(max, sane(bar.Value))
		}
	}
	labelW := labelWidth(labels, width)
	barW := float64(width - labelW - valueWidth)
	height := len(c.Bars) * rowHeight
	b.open("svgchart-bars", c.Title, width, height)
	b.desc(len(c.Bars), func(i int) string { return clean(c.Bars[i].Label) + ": " + format(sane(c.Bars[i].Value)) })
	for i, bar := range c.Bars {
		y := i * rowHeight
		v := sane(bar.Value)
		tip := clean(bar.Label) + ": " + format(v)
		b.linkOpen(bar.Href)
		b.label(labelW-6, y, bar.Label, tip)
		b.raw(`<rect class="svgchart-track" x="` + itoa(labelW) + `" y="` + itoa(y+4) + `" width="` + num(barW) + `" height="` + itoa(barHeight) + `"/>`)
		b.raw(`<rect class="svgchart-bar" x="` + itoa(labelW) + `" y="` + itoa(y+4) + `" width="` + num(scale(v, max, barW)) + `" height="` + itoa(barHeight) + `">`)
		b.title(tip)
		b.raw(`</rect>`)
		b.linkClose(bar.Href)
		b.text("svgchart-value", width-valueWidth+6, y+16, "start", format(v))
	}
	return b.close()
}

// Stacked renders a horizontal stacked bar chart with a legend.
func Stacked(c StackedChart) template.HTML {
	var b builder
	width := orDefault(c.Width, defaultWidth)
	format := formatter(c.Format, c.Suffix)
	if len(c.Stacks) == 0 {
		return empty(&b, "svgchart-stacked", c.Title, width)
	}
	// Geometry works in units of the largest value, so that sums of
	// huge values do not overflow; totals shown are capped.
	unit := 0.0
	labels := make([]string, len(c.Stacks))
	for i, st := range c.Stacks {
		labels[i] = st.Label
		for j := range c.Series {
			unit = math.Max(unit, value(st.Values, j))
		}
	}
	totalsN := make([]float64, len(c.Stacks))
	totals := make([]float64, len(c.Stacks))
	maxN := 0.0
	for i, st := range c.Stacks {
		for j := range c.Series {
			totalsN[i] += units(value(st.Values, j), unit)
		}
		totals[i] = math.Min(totalsN[i]*unit, math.MaxFloat64)
		maxN = math.Max(maxN, totalsN[i])
	}
	labelW := labelWidth(labels, width)
	barW := float64(width - labelW - valueWidth)
	height := legendHeight + len(c.Stacks)*rowHeight
	b.open("svgchart-stacked", c.Title, width, height)
	b.desc(len(c.Stacks), func(i int) string {
		parts := make([]string, 0, len(c.Series))
		for j, name := range c.Series {
			parts = append(parts, clean(name)+" "+format(value(c.Stacks[i].Values, j)))
		}
		return clean(c.Stacks[i].Label) + ": " + strings.Join(parts, ", ")
	})
	b.legend(c.Series, labelW, 0)
	for i, s := range c.Stacks {
		y := legendHeight + i*rowHeight
		b.linkOpen(s.Href)
		b.label(labelW-6, y, s.Label, clean(s.Label)+": "+format(totals[i]))
		x := float64(labelW)
		for j, name := range c.Series {
			v := value(s.Values, j)
			if v == 0 {
				continue
			}
			w := scale(units(v, unit), maxN, barW)
			b.raw(`<rect class="svgchart-bar ` + seriesClass(j, name) + `" x="` + num(x) + `" y="` + itoa(y+4) + `" width="` + num(w) + `" height="` + itoa(barHeight) + `">`)
			b.title(clean(s.Label) + " – " + clean(name) + ": " + format(v) + share(units(v, unit), totalsN[i]))
			b.raw(`</rect>`)
			x += w
		}
		b.linkClose(s.Href)
		b.text("svgchart-value", width-valueWidth+6, y+16, "start", format(totals[i]))
	}
	return b.close()
}

// Series renders a time series as columns or lines.
func Series(c TimeChart) template.HTML {
	var b builder
	width := orDefault(c.Width, defaultWidth)
	height := orDefault(c.Height, defaultHeight)
	format := formatter(c.Format, c.Suffix)
	class := "svgchart-columns"
	if c.Kind == Lines {
		class = "svgchart-lines"
	}
	if len(c.Buckets) == 0 {
		return empty(&b, class, c.Title, width)
	}
	buckets := append([]Bucket(nil), c.Buckets...)
	sort.SliceStable(buckets, func(i, j int) bool { return buckets[i].Start.Before(buckets[j].Start) })
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	layout := c.Layout
	if layout == "" {
		layout = "15:04"
		if buckets[len(buckets)-1].Start.Sub(buckets[0].Start) >= 48*time.Hour {
			layout = "Jan 2"
		}
	}
	when := func(t time.Time) string { return clean(t.In(loc).Format(layout)) }

	// As in Stacked: columns are drawn in units of the largest value.
	unit, maxN := 0.0, 0.0
	for _, bk := range buckets {
		for j := range c.Series {
			unit = math.Max(unit, value(bk.Values, j))
		}
	}
	for _, bk := range buckets {
		sumN := 0.0
		for j := range c.Series {
			sumN += units(value(bk.Values, j), unit)
		}
		maxN = math.Max(maxN, sumN)
	}
	top := niceCeil(unit)
	topN := 1.0
	if c.Kind == Columns {
		top = niceCeil(math.Min(maxN*unit, math.MaxFloat64))
		topN = math.Max(units(top, unit), maxN)
	}

	const left, right, bottom = 56, 8, 22
	plotTop := legendHeight + 6
	plotW := float64(width - left - right)
	plotH := float64(height - plotTop - bottom)
	b.open(class, c.Title, width, height)
	b.desc(len(buckets), func(i int) string {
		parts := make([]string, 0, len(c.Series))
		for j, name := range c.Series {
			parts = append(parts, clean(name)+" "+format(value(buckets[i].Values, j)))
		}
		return when(buckets[i].Start) + ": " + strings.Join(parts, ", ")
	})
	b.legend(c.Series, left, 0)

	// Grid and y axis: 0, half and top.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(plotTop) + plotH*(1-f)
		b.raw(`<line class="svgchart-grid" x1="` + itoa(left) + `" y1="` + num(y) + `" x2="` + itoa(width-right) + `" y2="` + num(y) + `"/>`)
		b.text("svgchart-axis", left-6, int(math.Round(y))+4, "end", format(top*f))
	}

	slot := plotW / float64(len(buckets))
	every := (len(buckets) + 7) / 8 // at most about eight time labels
	yOf := func(v float64) float64 { return float64(plotTop) + plotH - scale(v, top, plotH) }
	for i, bk := range buckets {
		if i%every == 0 {
			b.text("svgchart-axis", int(math.Round(float64(left)+slot*(float64(i)+0.5))), height-6, "middle", when(bk.Start))
		}
	}
	switch c.Kind {
	case Lines:
		for j, name := range c.Series {
			points := make([]string, len(buckets))
			for i, bk := range buckets {
				points[i] = num(float64(left)+slot*(float64(i)+0.5)) + "," + num(yOf(value(bk.Values, j)))
			}
			b.raw(`<polyline class="svgchart-line ` + seriesClass(j, name) + `" points="` + strings.Join(points, " ") + `"/>`)
		}
		for i, bk := range buckets {
			for j, name := range c.Series {
				v := value(bk.Values, j)
				b.raw(`<circle class="svgchart-point ` + seriesClass(j, name) + `" cx="` + num(float64(left)+slot*(float64(i)+0.5)) + `" cy="` + num(yOf(v)) + `" r="3">`)
				b.title(when(bk.Start) + " – " + clean(name) + ": " + format(v))
				b.raw(`</circle>`)
			}
		}
	default:
		colW := math.Max(slot*0.8, 1)
		for i, bk := range buckets {
			x := float64(left) + slot*float64(i) + (slot-colW)/2
			baseN := 0.0
			for j, name := range c.Series {
				v := value(bk.Values, j)
				if v == 0 {
					continue
				}
				y0 := float64(plotTop) + plotH - scale(baseN, topN, plotH)
				baseN += units(v, unit)
				y1 := float64(plotTop) + plotH - scale(baseN, topN, plotH)
				b.raw(`<rect class="svgchart-bar ` + seriesClass(j, name) + `" x="` + num(x) + `" y="` + num(y1) + `" width="` + num(colW) + `" height="` + num(y0-y1) + `">`)
				b.title(when(bk.Start) + " – " + clean(name) + ": " + format(v))
				b.raw(`</rect>`)
			}
		}
	}
	return b.close()
}

// FormatValue formats a value shortly: whole numbers as they are up to a
// million, others with at most two decimals, large ones as 1.2M, 3.4G, ….
func FormatValue(v float64) string {
	v = sane(v)
	for _, u := range []struct {
		f float64
		s string
	}{{1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}} {
		if v >= u.f {
			if v/u.f >= 1000 { // beyond E
				return strconv.FormatFloat(v, 'e', 2, 64)
			}
			return trimFloat(v/u.f, 1) + u.s
		}
	}
	return trimFloat(v, 2)
}

func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// builder accumulates one chart's markup.
type builder struct{ strings.Builder }

func (b *builder) raw(s string) { b.WriteString(s) }

func (b *builder) open(class, title string, width, height int) {
	if strings.TrimSpace(title) == "" {
		title = "chart"
	}
	t := escape(title)
	b.raw(`<svg xmlns="http://www.w3.org/2000/svg" class="svgchart ` + class + `" role="img" aria-label="` + t +
		`" width="` + itoa(width) + `" height="` + itoa(height) + `" viewBox="0 0 ` + itoa(width) + ` ` + itoa(height) + `">`)
	b.raw(`<title>` + t + `</title>`)
}

func (b *builder) close() template.HTML {
	b.raw(`</svg>`)
	return template.HTML(b.String()) // every piece of data in it went through escape
}

// desc lists the data (at most maxDesc entries) for screen readers.
func (b *builder) desc(n int, entry func(int) string) {
	parts := make([]string, 0, min(n, maxDesc)+1)
	for i := 0; i < n && i < maxDesc; i++ {
		parts = append(parts, entry(i))
	}
	if n > maxDesc {
		parts = append(parts, "and "+itoa(n-maxDesc)+" more")
	}
	b.raw(`<desc>` + escape(strings.Join(parts, "; ")) + `</desc>`)
}

func (b *builder) title(s string) { b.raw(`<title>` + escape(s) + `</title>`) }

func (b *builder) text(class string, x, y int, anchor, s string) {
	b.raw(`<text class="` + class + `" x="` + itoa(x) + `" y="` + itoa(y) + `" text-anchor="` + anchor + `">` + escape(s) + `</text>`)
}

// label draws a row label right-aligned at x, truncated, its full text and
// tip in a <title>.
func (b *builder) label(x, y int, label, tip string) {
	b.raw(`<text class="svgchart-label" x="` + itoa(x) + `" y="` + itoa(y+16) + `" text-anchor="end">`)
	b.title(tip)
	b.raw(escape(truncate(clean(label))) + `</text>`)
}

func (b *builder) legend(series []string, x, y int) {
	for j, name := range series {
		n := clean(name)
		b.raw(`<rect class="svgchart-bar ` + seriesClass(j, name) + `" x="` + itoa(x) + `" y="` + itoa(y+5) + `" width="12" height="12">`)
		b.title(n)
		b.raw(`</rect>`)
		short := truncate(n)
		b.raw(`<text class="svgchart-legend" x="` + itoa(x+16) + `" y="` + itoa(y+15) + `">`)
		b.title(n)
		b.raw(escape(short) + `</text>`)
		x += 16 + utf8.RuneCountInString(short)*charWidth + 14
	}
}

func (b *builder) linkOpen(href string) {
	if localPath(href) {
		b.raw(`<a href="` + escape(href) + `">`)
	}
}

func (b *builder) linkClose(href string) {
	if localPath(href) {
		b.raw(`</a>`)
	}
}

func empty(b *builder, class, title string, width int) template.HTML {
	b.open(class+" svgchart-nodata", title, width, emptyHeight)
	b.raw(`<desc>no data</desc>`)
	b.text("svgchart-empty", width/2, emptyHeight/2+4, "middle", "no data")
	return b.close()
}

// localPath: a path on the same site, not a scheme or another host.
func localPath(href string) bool {
	return strings.HasPrefix(href, "/") && !strings.HasPrefix(href, "//") &&
		!strings.ContainsAny(href, "\\\x00\t\r\n") && utf8.ValidString(href)
}

// seriesClass names the j-th series by position and by name.
func seriesClass(j int, name string) string {
	class := "svgchart-series-" + itoa(j)
	var slug strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			slug.WriteRune(r)
		}
		if slug.Len() >= 32 {
			break
		}
	}
	if slug.Len() > 0 {
		class += " svgchart-s-" + slug.String()
	}
	return class
}

// escape makes s safe as SVG/HTML text or a double-quoted attribute value.
func escape(s string) string { return template.HTMLEscapeString(clean(s)) }

// clean replaces invalid UTF-8 and control characters (which XML does not
// allow and terminals misread) with U+FFFD, and line breaks with spaces.
func clean(s string) string {
	ok := utf8.ValidString(s)
	if ok {
		for _, r := range s {
			if unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF || unicode.Is(unicode.Cs, r) {
				ok = false
				break
			}
		}
	}
	if ok {
		return s
	}
	var out strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			out.WriteRune(' ')
		case unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF:
			out.WriteRune('\uFFFD')
		default:
			out.WriteRune(r)
		}
	}
	return out.String()
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= MaxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:MaxLabel-1]) + "…"
}

// labelWidth is the width of the label column: the longest (truncated)
// label's, at most half the chart.
func labelWidth(labels []string, width int) int {
	longest := 1
	for _, l := range labels {
		longest = max(longest, utf8.RuneCountInString(truncate(clean(l))))
	}
	return min(longest*charWidth+10, width/2)
}

func formatter(f func(float64) string, suffix string) func(float64) string {
	if f == nil {
		f = FormatValue
	}
	return func(v float64) string { return clean(f(v)) + suffix }
}

// sane: negative, NaN and infinite values count as zero.
func sane(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// units is v in units of unit (the largest value of a chart): in [0, 1].
func units(v, unit float64) float64 {
	if unit <= 0 {
		return 0
	}
	return v / unit
}

func value(vs []float64, i int) float64 {
	if i < len(vs) {
		return sane(vs[i])
	}
	return 0
}

// scale maps v in [0, max] to [0, length]; an all-zero chart has no bars.
func scale(v, max, length float64) float64 {
	if max <= 0 || v <= 0 {
		return 0
	}
	f := v / max
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Min(f, 1) * length
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if c := m * p; c >= v && !math.IsInf(c, 0) {
			return c
		}
	}
	return v
}

func share(v, total float64) string {
	if total <= 0 {
		return ""
	}
	return " (" + strconv.FormatFloat(100*v/total, 'f', 0, 64) + "%)"
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return min(v, 10000)
}

func itoa(i int) string { return strconv.Itoa(i) }

// num formats a coordinate with at most two decimals.
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return trimFloat(f, 2)
}
