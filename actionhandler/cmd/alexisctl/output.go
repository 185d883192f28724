package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// json reports whether -o json was asked for.
func (a *app) json() bool { return a.output == "json" }

// printJSON prints an API answer (or what a command built from several) as
// indented, terminal-safe JSON.
func (a *app) printJSON(data []byte) error {
	out, err := safeJSON(data)
	if err != nil {
		return &exitError{code: exitUnavailable, err: err}
	}
	_, err = a.stdout.Write(out)
	return err
}

// printValue prints v as JSON.
func (a *app) printValue(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.printJSON(data)
}

// table writes aligned columns; every cell must come from cell().
type table struct {
	w *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.w, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.w.Flush() }

// stamp formats a time for tables: UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// clock formats a time on a timeline: UTC, time of day.
func clock(t time.Time) string {
	if t.IsZero() {
		return "        "
	}
	return t.UTC().Format("15:04:05")
}

func stampPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return stamp(*t)
}

// span is how long from start to end, "-" when either is missing.
func span(start, end *time.Time) string {
	if start == nil || end == nil {
		return "-"
	}
	return duration(end.Sub(*start))
}

func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// list joins safe cells with ",", at most n shown.
func list(items []string, n int) string {
	if len(items) == 0 {
		return "-"
	}
	var out []string
	for i, s := range items {
		if n > 0 && i == n {
			out = append(out, fmt.Sprintf("+%d", len(items)-n))
			break
		}
		out = append(out, cell(s, 40))
	}
	return strings.Join(out, ",")
}

// indent prefixes every line of a (cleaned) block.
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
