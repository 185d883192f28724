package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
)

// maxDecisionParam bounds each GET /v1/decisions filter value.
const maxDecisionParam = 256

// DecisionsRecorded is the answer of POST /v1/decisions: how many
// decisions of the batch are recorded (now, or before: recording is
// idempotent by id).
type DecisionsRecorded struct {
	Recorded int `json:"recorded"`
}

// strictDecode decodes data into v: unknown fields and trailing data are
// errors.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// decodeError says what is wrong with a JSON value, naming the field
// where encoding/json does (never quoting the value).
func decodeError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return te.Field + ": want " + te.Type.String()
	case errors.As(err, &te):
		return "want " + te.Type.String()
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	return err.Error()
}

func (h *Handler) postDecisions(c echo.Context) error {
	body, err := server.ReadBody(c)
	if err != nil {
		return err
	}
	var batch struct {
		Decisions []json.RawMessage `json:"decisions"`
	}
	if err := strictDecode(body, &batch); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "body: "+decodeError(err))
	}
	if batch.Decisions == nil {
		return echo.NewHTTPError(http.StatusBadRequest, "decisions: required")
	}
	if len(batch.Decisions) > api.MaxDecisionBatch {
		return echo.NewHTTPError(http.StatusBadRequest,
			fmt.Sprintf("decisions: %d decisions, at most %d in one batch", len(batch.Decisions), api.MaxDecisionBatch))
	}
	ds := make([]api.Decision, len(batch.Decisions))
	for i, raw := range batch.Decisions {
		if err := strictDecode(raw, &ds[i]); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("decisions[%d]: %s", i, decodeError(err)))
		}
		// Filled by the action handler: never taken from a client.
		ds[i].Hosts, ds[i].Executions = nil, nil
		if err := store.CheckDecision(i, &ds[i]); err != nil {
			return server.BadRequest(err)
		}
	}
	err = h.Store.RecordDecisions(c.Request().Context(), ds)
	if errors.Is(err, store.ErrInvalidDecision) {
		return server.BadRequest(err)
	}
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	h.Log.Debug().Str(logging.Event, "decisions_recorded").Str(logging.Client, auth.Client(c)).
		Int(logging.Count, len(ds)).Msg("decisions recorded")
	return c.JSON(http.StatusOK, DecisionsRecorded{Recorded: len(ds)})
}

func (h *Handler) listDecisions(c echo.Context) error {
	q := c.QueryParams()
	for k, v := range q {
		switch k {
		case "feed_type", "feed_name", "rule", "host", "outcome", "q", "since", "until", "limit", "cursor", "token":
		default:
			return echo.NewHTTPError(http.StatusBadRequest, "unknown parameter "+strconv.Quote(logTrim(k))+
				" (filters: feed_type, feed_name, rule, host, outcome, q, since, until; paging: limit, cursor)")
		}
		if len(v) > 1 {
			return echo.NewHTTPError(http.StatusBadRequest, k+": given more than once")
		}
		if len(v[0]) > maxDecisionParam && k != "cursor" && k != "token" {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s: longer than %d bytes", k, maxDecisionParam))
		}
	}
	f := store.DecisionFilter{FeedType: q.Get("feed_type"), FeedName: q.Get("feed_name"), RuleName: q.Get("rule"),
		Host: q.Get("host"), Outcome: q.Get("outcome"), Text: q.Get("q"), Cursor: q.Get("cursor")}
	if f.Outcome != "" && !store.Outcomes[f.Outcome] {
		return echo.NewHTTPError(http.StatusBadRequest, "outcome: want a decision result (matched, unmatched, deferred, "+
			"refused, unavailable, direct) or an execution status (queued, running, success, failure, skipped, "+
			"interrupted, dry_run, verifying, remediated, ineffective, awaiting_approval, denied, expired)")
	}
	var err error
	if f.Since, f.Until, f.Limit, err = rangeParams(q); err != nil {
		return err
	}
	page, err := h.Store.ListDecisions(c.Request().Context(), f)
	if errors.Is(err, store.ErrCursor) {
		return echo.NewHTTPError(http.StatusBadRequest, "cursor: not one this API gave")
	}
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	out := api.DecisionList{Decisions: make([]api.Decision, 0, len(page.Decisions)), NextCursor: page.Next}
	for _, d := range page.Decisions {
		out.Decisions = append(out.Decisions, *d)
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) getDecision(c echo.Context) error {
	id := c.Param("id")
	if len(id) > store.MaxDecisionID {
		return echo.NewHTTPError(http.StatusNotFound, "no such decision")
	}
	d, err := h.Store.GetDecision(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no decision "+strconv.Quote(id))
	}
	if err != nil {
		return h.storeDown(c, h.Log, err)
	}
	return c.JSON(http.StatusOK, d)
}

// logTrim cuts an attacker-written name for an answer.
func logTrim(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// DirectDecisionPrefix starts the id of the decision recorded for an
// execution posted directly (not signed by the classifier): the
// execution's id follows.
const DirectDecisionPrefix = "direct-"

// recordDirect records the decision of an execution posted directly, so
// that it is on the timeline like those the classifier relayed. A failure
// is logged: the execution is queued whatever happens here.
func (h *Handler) recordDirect(c echo.Context, req *action.Request, x *store.Execution, requestedBy string) {
	d := api.Decision{
		ID:          DirectDecisionPrefix + x.ID,
		ReceivedAt:  x.CreatedAt,
		FeedType:    x.FeedType,
		FeedName:    x.FeedName,
		AlertID:     x.AlertID,
		UniqueValue: x.UniqueValue,
		Summary:     req.Alert.Get("message").String(),
		Result:      api.ResultDirect,
		RequestedBy: requestedBy,
		Matched:     []api.MatchedAction{{RuleName: x.RuleName, ExecutionID: x.ID, Status: "accepted"}},
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = time.Now()
	}
	if len(req.Alert.Raw) <= api.MaxDecisionPayload {
		d.Payload = json.RawMessage(req.Alert.Raw)
	} else {
		d.PayloadOmitted = true
	}
	if err := h.Store.RecordDecisions(c.Request().Context(), []api.Decision{d}); err != nil {
		h.Log.Warn().Str(logging.Event, "decision_not_recorded").Str(logging.ExecutionID, x.ID).
			Str(logging.ErrorKey, err.Error()).Msg("the direct action's decision was not recorded")
	}
}
