package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/labstack/echo/v4"
)

// ruleRow is one rule on the rules page.
type ruleRow struct {
	File              *RuleFile // nil: known only from the store's history
	Name              string
	Day, Week         store.RuleActivity
	DayRate, WeekRate string
	LastMatch         time.Time
}

type rulesView struct {
	Rows            []ruleRow
	ClassifierError string
	Explain         explainView
	Pauses          pausesView // pauses.go: the circuit breaker
}

func rate(a store.RuleActivity) string {
	if a.Ended == 0 {
		return "—"
	}
	return percent(a.Success, a.Ended)
}

func percent(n, of int) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

func (h *Handler) rules(c echo.Context) error {
	ctx := c.Request().Context()
	now := h.o.Now()
	day, err := h.o.Store.RuleActivity(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return h.storeFailed(c, err)
	}
	week, err := h.o.Store.RuleActivity(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		return h.storeFailed(c, err)
	}
	v := rulesView{}
	seen := map[string]bool{}
	files, cerr := h.classifierRules(c)
	if cerr != "" {
		v.ClassifierError = cerr
	}
	for i := range files {
		f := &files[i]
		r := ruleRow{File: f, Name: f.RuleName, Day: day[f.RuleName], Week: week[f.RuleName]}
		seen[f.RuleName] = true
		v.Rows = append(v.Rows, r)
	}
	var rest []string
	for name := range week {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		v.Rows = append(v.Rows, ruleRow{Name: name, Day: day[name], Week: week[name]})
	}
	for i := range v.Rows {
		r := &v.Rows[i]
		r.DayRate, r.WeekRate, r.LastMatch = rate(r.Day), rate(r.Week), r.Week.LastMatch
	}
	v.Explain = explainView{CSRF: h.s.csrf(sessionOf(c)), Decision: c.QueryParam("decision")}
	v.Pauses = h.pauses(c)
	return h.render(c, http.StatusOK, "rules", page{Title: "Rules", Nav: "rules", Data: v})
}

// classifierRules asks the classifier for its rule files; the second value
// says why there are none when it could not.
func (h *Handler) classifierRules(c echo.Context) ([]RuleFile, string) {
	if h.o.Classifier == nil {
		return nil, "No classifier is configured (console.classifier_url): rule files and explain are not available."
	}
	files, err := h.o.Classifier.Rules(c.Request().Context())
	if err != nil {
		h.o.Log.Warn().Str(logging.Event, "classifier_unreachable").Str(logging.ErrorKey, err.Error()).
			Msg("console: classifier rules unavailable")
		return nil, "The classifier could not be reached (" + trimErr(err) + "): rule files and explain are not available now."
	}
	return files, ""
}

func trimErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

type ruleView struct {
	Name      string
	JSON      string
	JSONNote  string
	File      *RuleFile
	Day, Week store.RuleActivity
	Execs     []*store.Execution
	Older     string
}

func (h *Handler) rule(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	if len(name) > maxFilter {
		return h.badRequest(c, badField{"name", "too long"})
	}
	now := h.o.Now()
	v := ruleView{Name: name}
	var err error
	if v.Day, err = activity(h, c, now.Add(-24*time.Hour), name); err != nil {
		return h.storeFailed(c, err)
	}
	if v.Week, err = activity(h, c, now.Add(-7*24*time.Hour), name); err != nil {
		return h.storeFailed(c, err)
	}
	if files, _ := h.classifierRules(c); files != nil {
		for i := range files {
			if files[i].RuleName == name {
				v.File = &files[i]
			}
		}
	}
	v.JSON, v.JSONNote = h.ruleJSON(name)
	pg, err := h.o.Store.List(ctx, store.Filter{RuleName: name, Limit: 25, Cursor: c.QueryParam("cursor")})
	if errors.Is(err, store.ErrCursor) {
		return h.badRequest(c, badField{"cursor", "not one this console gave"})
	}
	if err != nil {
		return h.storeFailed(c, err)
	}
	v.Execs = pg.Executions
	if pg.Next != "" {
		v.Older = "/console/rules/" + escapeAll(name) + "?cursor=" + escapeAll(pg.Next)
	}
	return h.render(c, http.StatusOK, "rule", page{Title: "Rule " + name, Nav: "rules", Data: v})
}

func activity(h *Handler, c echo.Context, since time.Time, name string) (store.RuleActivity, error) {
	m, err := h.o.Store.RuleActivity(c.Request().Context(), since)
	return m[name], err
}

// ruleJSON reads the rule named name from rules_dir, indented, or says why
// it is not shown.
func (h *Handler) ruleJSON(name string) (string, string) {
	if h.o.RulesDir == "" {
		return "", "The rule's JSON is not available: the action handler has no rules_dir."
	}
	entries, err := os.ReadDir(h.o.RulesDir)
	if err != nil {
		return "", "The rules directory could not be read."
	}
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			continue
		}
		data, err := readLimited(filepath.Join(h.o.RulesDir, n), 1<<20)
		if err != nil {
			continue
		}
		r, err := rule.Parse(data)
		if err != nil || r.Name != name {
			continue
		}
		var b bytes.Buffer
		if json.Indent(&b, data, "", "  ") != nil {
			return string(data), n
		}
		return b.String(), n
	}
	return "", "No valid rule file of this name is in rules_dir."
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(&limitedReader{f: f, n: max + 1}); err != nil {
		return nil, err
	}
	if int64(b.Len()) > max {
		return nil, errors.New("too large")
	}
	return b.Bytes(), nil
}

type limitedReader struct {
	f interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// Explain.

type explainView struct {
	CSRF     string
	Envelope string
	Decision string
	Error    string
	Answer   *ExplainAnswer
}

// maxEnvelope is the largest envelope the explain form takes.
const maxEnvelope = 256 << 10

func (h *Handler) explainForm(c echo.Context) error {
	return h.render(c, http.StatusOK, "explain", page{Title: "Explain", Nav: "rules",
		Data: explainView{CSRF: h.s.csrf(sessionOf(c)), Decision: c.QueryParam("decision")}})
}

func (h *Handler) explainPost(c echo.Context) error {
	v := explainView{CSRF: h.s.csrf(sessionOf(c)), Envelope: c.FormValue("envelope"), Decision: strings.TrimSpace(c.FormValue("decision"))}
	show := func(code int) error {
		return h.render(c, code, "explain", page{Title: "Explain", Nav: "rules", Data: v})
	}
	if h.o.Classifier == nil {
		v.Error = "No classifier is configured (console.classifier_url): explain is not available."
		return show(http.StatusServiceUnavailable)
	}
	var body []byte
	switch {
	case len(v.Envelope) > maxEnvelope:
		v.Error = "envelope: larger than 256 KiB"
		return show(http.StatusRequestEntityTooLarge)
	case strings.TrimSpace(v.Envelope) != "":
		body = []byte(v.Envelope)
	case v.Decision != "":
		if len(v.Decision) > 128 {
			v.Error = "decision: too long"
			return show(http.StatusBadRequest)
		}
		d, err := h.o.Store.GetDecision(c.Request().Context(), v.Decision)
		if errors.Is(err, store.ErrNotFound) {
			v.Error = "decision: no decision " + quote(v.Decision) + " is recorded"
			return show(http.StatusNotFound)
		}
		if err != nil {
			return h.storeFailed(c, err)
		}
		if len(d.Payload) == 0 {
			v.Error = "decision: its payload was not kept (larger than 64 KiB)"
			return show(http.StatusUnprocessableEntity)
		}
		body = d.Payload
		v.Envelope = prettyJSON(d.Payload)
	default:
		v.Error = "envelope: paste an alert envelope, or give a recorded decision's id"
		return show(http.StatusBadRequest)
	}
	if _, err := alert.Decode(body); err != nil {
		v.Error = "envelope: " + trimErr(err)
		return show(http.StatusBadRequest)
	}
	ans, err := h.o.Classifier.Explain(c.Request().Context(), body)
	if err != nil {
		h.o.Log.Warn().Str(logging.Event, "classifier_unreachable").Str(logging.ErrorKey, err.Error()).
			Msg("console: explain failed")
		v.Error = "The classifier could not explain this alert: " + trimErr(err)
		return show(http.StatusBadGateway)
	}
	v.Answer = ans
	return show(http.StatusOK)
}
