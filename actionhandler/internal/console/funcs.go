package console

import (
	"html/template"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
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
		"esc":       escapeAll,
		"pct":       percent,
		"count":     func(m map[string]int, k string) int { return m[k] },
		"rate":      rate,
		"ended":     ended,
		"succeeded": succeeded,
		"raw":       func(b []byte) string { return string(b) },
	}
}

// ended counts the executions of m (by status) that ran to an outcome:
// what the success rate divides. Verification's verdicts are outcomes
// (remediated as a success, ineffective as a failure); verifying is not
// one yet (docs/rollout.md).
func ended(m map[string]int) int {
	return m[store.Success] + m[store.Failure] + m[store.Interrupted] + m[store.Refused] +
		m[store.Remediated] + m[store.Ineffective]
}

// succeeded counts the executions of m that worked: success, remediated.
func succeeded(m map[string]int) int { return m[store.Success] + m[store.Remediated] }
