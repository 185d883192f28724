package httpapi

import (
	"context"
	"net/http"
	"sync"

	"github.com/alexis-ops/alexis/classifier/internal/intake"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// IntakeConcurrency is how many alerts of one notification are classified
// at once.
const IntakeConcurrency = 4

// Results of intake besides api.Result* (matched, unmatched, deferred).
const (
	ResultSkipped     = "skipped"     // not classified on purpose (a resolved alert)
	ResultInvalid     = "invalid"     // no envelope could be made of it
	ResultUnavailable = "unavailable" // nothing decided; the whole request answers 503 so it is sent again
)

// IntakeAnswer is the answer to POST /v1/alertmanager and
// POST /v1/webhook/{name}: one result per alert, in the order posted.
type IntakeAnswer struct {
	FeedType string         `json:"feed_type"`
	FeedName string         `json:"feed_name"`
	Alerts   []IntakeResult `json:"alerts"`
}

// IntakeResult is what happened to one posted alert.
type IntakeResult struct {
	ID              string              `json:"id"` // the alert's id: what the action handler deduplicates on
	UniqueValue     string              `json:"unique_value"`
	Status          string              `json:"status,omitempty"` // Alertmanager: firing or resolved
	Result          string              `json:"result"`
	RulesChecked    int                 `json:"rules_checked"`
	Matched         []api.MatchedAction `json:"matched,omitempty"`
	WritebackErrors []string            `json:"writeback_errors,omitempty"`
	Reason          string              `json:"reason,omitempty"` // why skipped, invalid or unavailable
}

// Intake configures the push endpoints of a Handler.
type Intake struct {
	// Push are the push routes (intake.Feeds.Routes, and any more): those
	// in Routes take their scope from there, others need scope classify.
	Push []intake.Route
}

// push takes what a push feed's source posts to route r and classifies
// each alert in it. On a route naming its feed, a token limited to one
// feed is refused before the name is looked up, so it cannot learn which
// feeds exist; otherwise once the body says which feed it is of.
func (h *Handler) push(r intake.Route) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := ""
		if r.Named() {
			name = c.Param("name")
			if err := feedAllowed(c, name); err != nil {
				return err
			}
		}
		f, ok := r.Feed(name)
		if !ok {
			msg := "no such feed"
			if r.Missing != nil {
				msg = r.Missing(name)
			}
			return echo.NewHTTPError(http.StatusNotFound, msg)
		}
		body, err := server.ReadBody(c)
		if err != nil {
			return err
		}
		b, err := f.Read(body)
		if err != nil {
			return server.BadRequest(err)
		}
		if !r.Named() {
			if err := feedAllowed(c, b.FeedName); err != nil {
				return err
			}
		}
		log := h.Log.With().Str(logging.FeedType, b.FeedType).Str(logging.FeedName, b.FeedName).Logger()
		if b.Received != nil {
			b.Received(log)
		}
		return h.answer(c, log, b.FeedType, b.FeedName, b.Items)
	}
}

// answer classifies items and answers 200 with every result, or 503 when
// one of them could not be decided (the sender tries again later; what was
// pushed already is not run twice, as the action handler deduplicates by
// alert id and rule name).
func (h *Handler) answer(c echo.Context, log zerolog.Logger, feedType, feedName string, items []intake.Item) error {
	out := IntakeAnswer{FeedType: feedType, FeedName: feedName, Alerts: make([]IntakeResult, len(items))}
	ctx := requestContext(c)
	sem := make(chan struct{}, IntakeConcurrency)
	var wg sync.WaitGroup
	for i, it := range items {
		r := &out.Alerts[i]
		*r = IntakeResult{ID: it.ID, UniqueValue: it.Unique, Status: it.Status}
		switch {
		case it.Err != nil:
			r.Result, r.Reason = ResultInvalid, it.Err.Error()
			log.Warn().Str(logging.Event, "alert_invalid").Str(logging.AlertID, it.ID).
				Str(logging.ErrorKey, it.Err.Error()).Msg("alert not classified")
		case it.Skip != "":
			r.Result, r.Reason = ResultSkipped, it.Skip
			log.Info().Str(logging.Event, "alert_skipped").Str(logging.AlertID, it.ID).
				Str(logging.UniqueValue, it.Unique).Str(logging.Reason, it.Skip).Send()
		default:
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				h.classifyItem(ctx, it, r)
			}()
		}
	}
	wg.Wait()
	status := http.StatusOK
	for _, r := range out.Alerts {
		if r.Result == ResultUnavailable {
			status = http.StatusServiceUnavailable
		}
	}
	return c.JSON(status, out)
}

func (h *Handler) classifyItem(ctx context.Context, it intake.Item, r *IntakeResult) {
	// Classify fails only with classify.ErrUnavailable: nothing decided.
	res, err := h.Classifier.Classify(ctx, it.Env)
	if err != nil {
		r.Result, r.Reason = ResultUnavailable, err.Error()
		return
	}
	r.Result, r.RulesChecked, r.Matched, r.WritebackErrors = res.Result, res.RulesChecked, res.Matched, res.WritebackErrors
}
