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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/jsonx"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
)

// MaxReplayBody bounds the body of POST /v1/replay (the rule files, JSON
// encoded): it replaces body_limit for that route.
const MaxReplayBody = replay.MaxBody

// MaxReplays is how many replays one action handler runs at once (the
// API and the console together); another is answered 429 with
// Retry-After.
const MaxReplays = replay.MaxRunning

// replayPath is the route whose body limit is MaxReplayBody.
const replayPath = "/v1/replay"

// RouteBodyLimits are the routes with their own body limit, for
// server.Options.
var RouteBodyLimits = map[string]int64{replayPath: MaxReplayBody}

func (h *Handler) postReplay(c echo.Context) error {
	if h.Replay == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "replay is not available on this action handler")
	}
	req, err := h.replayRequest(c)
	if err != nil {
		h.Replay.Refused()
		return err
	}
	rep, err := h.Replay.Replay(c.Request().Context(), replay.Call{Request: *req, Client: auth.Client(c), Path: replayPath,
		Files: len(req.Rules.Files)})
	switch {
	case errors.Is(err, replay.ErrBusy):
		c.Response().Header().Set("Retry-After", "5")
		return echo.NewHTTPError(http.StatusTooManyRequests, err.Error())
	case err != nil:
		return h.storeDown(c, h.Log, err)
	}
	return c.JSON(http.StatusOK, rep)
}

// replayRequest reads and checks the body of POST /v1/replay.
func (h *Handler) replayRequest(c echo.Context) (*replay.Request, error) {
	body, err := server.ReadBody(c)
	if err != nil {
		return nil, err
	}
	req, err := decodeReplay(body)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	since, err := report.ParseSince(req.Since, now)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "since: "+err.Error())
	}
	until, err := report.ParseSince(req.Until, now)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "until: "+err.Error())
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "until: must be after since")
	}
	if req.Limit < 0 || req.Limit > replay.MaxLimit {
		return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit: want 1..%d (default %d)", replay.MaxLimit, replay.DefaultLimit))
	}
	files := make(map[string][]byte, len(req.Rules))
	for name, content := range req.Rules {
		files[name] = []byte(content)
	}
	set, err := replay.Candidates(files)
	var ie *replay.InputError
	if errors.As(err, &ie) {
		code := http.StatusBadRequest
		if ie.TooLarge {
			code = http.StatusRequestEntityTooLarge
		}
		return nil, echo.NewHTTPError(code, api.Error{Error: ie.Msg, File: ie.File, Field: ie.Field})
	} else if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "rules: "+err.Error())
	}
	return &replay.Request{Rules: set, Since: since, Until: until, Limit: req.Limit}, nil
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
