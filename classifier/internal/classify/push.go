package classify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Pusher hands a matched rule and its alert to an action handler.
type Pusher interface {
	Push(ctx context.Context, req *action.Request) (api.ActionAccepted, error)
}

type requestedByKey struct{}

// WithRequestedBy returns ctx carrying the name of the client (token) that
// posted the alert, which Classify passes on to the action handler as
// requested_by.
func WithRequestedBy(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, requestedByKey{}, name)
}

// RequestedBy is the client name WithRequestedBy put in ctx ("" if none).
func RequestedBy(ctx context.Context) string {
	s, _ := ctx.Value(requestedByKey{}).(string)
	return s
}

// ErrNoHandler means no action handler is configured for a rule's os_type.
var ErrNoHandler = errors.New("no action handler configured")

// Temporary reports whether a push error may go away by itself (the action
// handler unreachable, timing out, 5xx or 429), so the alert should be
// offered again later rather than routed to people.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, ErrNoHandler) {
		return false
	}
	return httpclient.IsTemporary(err)
}

// ActionHandlers pushes to the action handler configured for each os_type.
type ActionHandlers struct {
	urls   map[string]string // lower-case os_type → URL
	client *httpclient.Client
	log    zerolog.Logger
}

// NewActionHandlers returns a Pusher posting to urls (keyed by os_type,
// matched case-insensitively) with client.
func NewActionHandlers(urls map[string]string, client *httpclient.Client, log zerolog.Logger) *ActionHandlers {
	m := make(map[string]string, len(urls))
	for k, v := range urls {
		m[strings.ToLower(k)] = v
	}
	return &ActionHandlers{urls: m, client: client, log: log}
}

// Push implements Pusher.
func (h *ActionHandlers) Push(ctx context.Context, req *action.Request) (api.ActionAccepted, error) {
	url, ok := h.urls[strings.ToLower(req.Rule.OSType)]
	if !ok {
		return api.ActionAccepted{}, fmt.Errorf("%w for os_type %q", ErrNoHandler, req.Rule.OSType)
	}
	// The merged request is built once and sent as it is: json.Marshal
	// would check and copy the whole alert again.
	body, err := req.MarshalJSON()
	if err != nil {
		return api.ActionAccepted{}, fmt.Errorf("push to action handler: encode: %w", err)
	}
	var out api.ActionAccepted
	status, err := h.client.Post(ctx, url, body, &out)
	if err != nil && status >= 200 && status <= 299 {
		// Accepted: the action runs. Pushing again would run it twice.
		h.log.Warn().Str(logging.Event, "action_answer_unreadable").Str(logging.RuleName, req.Rule.Name).
			Str(logging.ErrorKey, err.Error()).Msg("action handler accepted the rule but its answer was unreadable")
		return api.ActionAccepted{}, nil
	}
	if err != nil {
		return api.ActionAccepted{}, fmt.Errorf("push to action handler: %w", err)
	}
	return out, nil
}
