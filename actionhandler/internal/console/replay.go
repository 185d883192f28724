package console

// Replay (docs/rollout.md#replay, docs/console.md): candidate rule files
// replayed against the recorded alerts, from a form. The page runs the
// API's replay (the same replay.Service: the same checks of the files,
// the same limit on replays at once, the same metrics and event=replay
// log line), not an HTTP call to it. Nothing runs, nothing is written.
//
//	GET  /console/replay  the form
//	POST /console/replay  replay (multipart: files "rules", range, since,
//	                      until, limit; CSRF like every form)

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/labstack/echo/v4"
)

// replayPath is the replay page's route.
const replayPath = "/console/replay"

// RouteBodyLimits are the console's routes with their own body limit (the
// API's for the same replay), for server.Options.
var RouteBodyLimits = map[string]int64{replayPath: replay.MaxBody}

// replayTooLarge answers a replay form whose declared length is over
// replay.MaxBody with the console's error page (before routing: the
// server's body limit would answer JSON). A body that does not declare
// its length is cut at the limit by the server, and readForm answers the
// same page.
func (h *Handler) replayTooLarge(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method == http.MethodPost && r.URL.Path == replayPath && r.ContentLength > replay.MaxBody {
			return h.headers(func(c echo.Context) error {
				return h.fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d bytes.", replay.MaxBody))
			})(c)
		}
		return next(c)
	}
}

// replayForm is the form as submitted (shown again with the result).
type replayForm struct {
	Range, Since, Until string
	Limit               int
}

// replayKind is one kind of difference with its rows.
type replayKind struct {
	Kind, Label string
	Count       int
	Rows        []replay.Difference
}

// replayLabels name the kinds as the page shows them.
var replayLabels = map[string]string{
	replay.NewlyMatched:   "Newly matched",
	replay.Unmatched:      "No longer matched",
	replay.ChangedRule:    "Another rule matches",
	replay.CommandChanged: "Command changed",
}

type replayView struct {
	F         replayForm
	Ranges    any
	MaxFiles  int
	MaxSize   int
	MaxLimit  int
	Available bool
	Report    *replay.Report
	Kinds     []replayKind
	Skipped   []skippedRow
}

type skippedRow struct {
	Reason string
	Count  int
}

func (h *Handler) replayView() replayView {
	return replayView{F: replayForm{Range: "7d", Limit: replay.DefaultLimit}, Ranges: reportRanges,
		MaxFiles: rules.MaxFiles, MaxSize: rules.MaxFileSize, MaxLimit: replay.MaxLimit, Available: h.o.Replay != nil}
}

// canRead: the session's token has scope read (every session's has, as
// login needs it; checked again as the API's route would).
func canRead(c echo.Context) bool {
	s, err := auth.ParseScopes(sessionOf(c).Scopes)
	return err == nil && s.Grants(auth.ScopeRead)
}

func (h *Handler) replayPage(c echo.Context) error {
	if !canRead(c) {
		return h.fail(c, http.StatusForbidden, "Replay needs a token with scope read.")
	}
	return h.render(c, http.StatusOK, "replay", page{Title: "Replay", Nav: "replay", Data: h.replayView()})
}

func (h *Handler) replayPost(c echo.Context) error {
	if !canRead(c) {
		return h.fail(c, http.StatusForbidden, "Replay needs a token with scope read.")
	}
	if h.o.Replay == nil {
		return h.fail(c, http.StatusServiceUnavailable, "Replay is not available on this action handler.")
	}
	if mf := c.Request().MultipartForm; mf != nil {
		defer func() { _ = mf.RemoveAll() }()
	}
	v := h.replayView()
	req, files, code, err := h.replayRequest(c, &v.F)
	if err != nil {
		h.o.Replay.Refused()
		return h.fail(c, code, err.Error())
	}
	rep, err := h.o.Replay.Replay(c.Request().Context(), replay.Call{Request: req, Client: sessionOf(c).Client,
		Path: replayPath, Files: files})
	switch {
	case errors.Is(err, replay.ErrBusy):
		c.Response().Header().Set("Retry-After", "5")
		return h.fail(c, http.StatusTooManyRequests,
			fmt.Sprintf("%d replays are running on this action handler; try again in a few seconds.", replay.MaxRunning))
	case err != nil:
		return h.storeFailed(c, err)
	}
	v.Report = rep
	for _, k := range replay.Kinds {
		rk := replayKind{Kind: k, Label: replayLabels[k], Count: rep.Counts[k]}
		for _, d := range rep.Differences {
			if d.Kind == k {
				rk.Rows = append(rk.Rows, d)
			}
		}
		v.Kinds = append(v.Kinds, rk)
	}
	for _, r := range []string{replay.SkipPayloadOmitted, replay.SkipNotClassified, replay.SkipUnavailable, replay.SkipBadPayload} {
		if n := rep.Skipped[r]; n > 0 {
			v.Skipped = append(v.Skipped, skippedRow{Reason: r, Count: n})
		}
	}
	return h.render(c, http.StatusOK, "replay", page{Title: "Replay", Nav: "replay", Data: v})
}

// replayRequest reads the posted form (already parsed by csrf): the
// range, the limit and the candidate files, checked as the API checks
// them (replay.Candidates). It gives the status of a refusal.
func (h *Handler) replayRequest(c echo.Context, fv *replayForm) (replay.Request, int, int, error) {
	var req replay.Request
	fv.Range, fv.Since, fv.Until = c.FormValue("range"), c.FormValue("since"), c.FormValue("until")
	if fv.Range == "" {
		fv.Range = "7d"
	}
	var err error
	if req.Since, req.Until, _, err = h.timeRange(fv.Range, fv.Since, fv.Until); err != nil {
		return req, 0, http.StatusBadRequest, err
	}
	if s := strings.TrimSpace(c.FormValue("limit")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > replay.MaxLimit {
			return req, 0, http.StatusBadRequest, badField{"limit", fmt.Sprintf("want 1 to %d (default %d)", replay.MaxLimit, replay.DefaultLimit)}
		}
		fv.Limit = n
	}
	req.Limit = fv.Limit

	var fhs []*multipart.FileHeader
	if mf := c.Request().MultipartForm; mf != nil {
		fhs = mf.File["rules"]
	}
	if len(fhs) > rules.MaxFiles { // before reading any
		return req, 0, http.StatusRequestEntityTooLarge,
			fmt.Errorf("rules: %d files, at most %d", len(fhs), rules.MaxFiles)
	}
	files := make(map[string][]byte, len(fhs))
	for _, fh := range fhs {
		name := fh.Filename
		if _, dup := files[name]; dup {
			return req, 0, http.StatusBadRequest, fmt.Errorf("rules: file %s given twice", strconv.Quote(replay.TrimName(name)))
		}
		data, err := readPart(fh)
		if err != nil {
			return req, 0, http.StatusBadRequest, fmt.Errorf("rules: %s: could not be read", strconv.Quote(replay.TrimName(name)))
		}
		files[name] = data
	}
	set, err := replay.Candidates(files)
	var ie *replay.InputError
	switch {
	case errors.As(err, &ie) && ie.TooLarge:
		return req, 0, http.StatusRequestEntityTooLarge, err
	case err != nil:
		return req, 0, http.StatusBadRequest, err
	}
	req.Rules = set
	return req, len(files), 0, nil
}

// readPart reads an uploaded file, at most one byte more than a rule
// file may hold (Candidates refuses it then).
func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, rules.MaxFileSize+1))
}
