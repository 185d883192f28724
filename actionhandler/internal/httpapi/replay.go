package httpapi

// Replay (docs/rollout.md#replay):
//
//	POST /v1/replay  api.ReplayRequest {"rules": {"file.json": "<content>", …},
//	                 "since": "7d", "until": "…", "limit": N}: re-classify the
//	                 recorded alerts with the candidate rules; 200
//	                 api.ReplayAnswer (scope read)
//
// Scope read: it reads what GET /v1/decisions and /v1/executions already
// show (the alerts, the rules executed and their commands) and computes
// from it; nothing runs, nothing is written, nothing is resolved (secrets
// render as <secret>), nothing leaves the process. The rules are the
// caller's, never the deployed ones, so it changes nothing for anyone.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/jsonx"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
)

// Replayer replays (replay.Replayer is one).
type Replayer interface {
	Replay(ctx context.Context, req replay.Request) (*replay.Report, error)
}

// MaxReplayBody bounds the body of POST /v1/replay (the rule files, JSON
// encoded): it replaces body_limit for that route.
const MaxReplayBody = 16 << 20

// MaxReplays is how many replays one action handler runs at once; another
// is answered 429 with Retry-After (a replay is CPU work on the replica
// that answers, and scope read is widely given).
const MaxReplays = 2

// replayPath is the route whose body limit is MaxReplayBody.
const replayPath = "/v1/replay"

// RouteBodyLimits are the routes with their own body limit, for
// server.Options.
var RouteBodyLimits = map[string]int64{replayPath: MaxReplayBody}

func (h *Handler) postReplay(c echo.Context) error {
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	req, err := decodeReplay(body)
	if err != nil {
		return err
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	since, err := report.ParseSince(req.Since, now)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "since: "+err.Error())
	}
	until, err := report.ParseSince(req.Until, now)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "until: "+err.Error())
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return echo.NewHTTPError(http.StatusBadRequest, "until: must be after since")
	}
	if req.Limit < 0 || req.Limit > replay.MaxLimit {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit: want 1..%d (default %d)", replay.MaxLimit, replay.DefaultLimit))
	}
	set, err := candidateRules(req.Rules)
	if err != nil {
		return err
	}
	if h.Replay == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "replay is not available on this action handler")
	}
	select {
	case h.replaySlots <- struct{}{}:
		defer func() { <-h.replaySlots }()
	default:
		c.Response().Header().Set("Retry-After", "5")
		return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("%d replays are running on this action handler; retry later", MaxReplays))
	}
	rep, err := h.Replay.Replay(c.Request().Context(), replay.Request{Rules: set, Since: since, Until: until, Limit: req.Limit})
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	h.Log.Info().Str(logging.Event, "replay").Str(logging.Client, auth.Client(c)).
		Int(logging.Count, len(req.Rules)).Int(logging.Decisions, rep.Decisions).Int(logging.Changes, rep.Changes()).
		Msg("replayed recorded decisions with candidate rules")
	return c.JSON(http.StatusOK, rep)
}

// decodeReplay decodes the body strictly: unknown fields, a repeated key
// (a file given twice) and wrong types are refused naming the field.
func decodeReplay(body []byte) (*api.ReplayRequest, error) {
	var dup *jsonx.DuplicateKeyError
	if err := jsonx.CheckUnique(body); errors.As(err, &dup) {
		if dup.Path == "$.rules" {
			return nil, echo.NewHTTPError(http.StatusBadRequest, api.Error{
				Error: "rules: file " + strconv.Quote(logTrim(dup.Key)) + " given twice", File: logTrim(dup.Key)})
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "body: "+dup.Error())
	} else if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "body: not JSON")
	}
	// The files as raw values first, so a content that is not a string is
	// refused naming its file.
	var raw struct {
		api.ReplayRequest
		Rules map[string]json.RawMessage `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, echo.NewHTTPError(http.StatusBadRequest, te.Field+": want "+te.Type.String())
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest,
			`body: want {"rules": {"file.json": "<content>", …}, "since": "7d", "until": "…", "limit": N}: `+err.Error())
	}
	if dec.More() {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "body: one JSON object only")
	}
	req := raw.ReplayRequest
	req.Rules = make(map[string]string, len(raw.Rules))
	for name, v := range raw.Rules {
		var content string
		if err := json.Unmarshal(v, &content); err != nil {
			return nil, echo.NewHTTPError(http.StatusBadRequest, api.Error{
				Error: "rules: " + strconv.Quote(logTrim(name)) + ": want the file's content as a string", File: logTrim(name)})
		}
		req.Rules[name] = content
	}
	if len(req.Rules) == 0 {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "rules: required: the candidate rule files by name")
	}
	return &req, nil
}

// candidateRules loads the candidate rule set: 413 for too many or too
// large files, 400 naming the file and field of the first invalid one
// (every problem in the error), as loading a rules directory would.
func candidateRules(files map[string]string) (*rules.Set, error) {
	if len(files) > rules.MaxFiles {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("rules: %d files, at most %d", len(files), rules.MaxFiles))
	}
	data := make(map[string][]byte, len(files))
	for name, content := range files {
		if len(content) > rules.MaxFileSize {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, api.Error{
				Error: fmt.Sprintf("rules: %s: larger than %d bytes", strconv.Quote(logTrim(name)), rules.MaxFileSize),
				File:  logTrim(name)})
		}
		data[name] = []byte(content)
	}
	set, err := rules.FromFiles(data, nil)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "rules: "+err.Error())
	}
	var msgs []string
	var first *api.Error
	for _, f := range set.Files {
		if f.Status == rules.StatusOK {
			continue
		}
		for _, e := range f.Errors {
			msgs = append(msgs, f.Path+": "+e.Path+": "+e.Msg)
		}
		if first == nil {
			first = &api.Error{File: f.Path}
			if len(f.Errors) > 0 {
				first.Field = f.Errors[0].Path
			}
		}
	}
	if first != nil {
		first.Error = "rules: " + strings.Join(msgs, "; ")
		return nil, echo.NewHTTPError(http.StatusBadRequest, *first)
	}
	return set, nil
}
