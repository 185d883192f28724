package console

import (
	"html/template"
	"time"
)

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"dur": func(d time.Duration) string {
			if d == 0 {
				return "—"
			}
			return d.Round(time.Millisecond).String()
		},
		"span": func(a, b time.Time) string {
			if a.IsZero() || b.IsZero() {
				return "—"
			}
			return b.Sub(a).Round(time.Millisecond).String()
		},
		"esc":   escapeAll,
		"pct":   percent,
		"count": func(m map[string]int, k string) int { return m[k] },
		"rate":  rate,
		"ended": func(m map[string]int) int {
			return m["success"] + m["failure"] + m["interrupted"] + m["refused"]
		},
		"raw": func(b []byte) string { return string(b) },
	}
}
