package classify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/alexis-ops/alexis/classifier/internal/rules"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/tidwall/gjson"
)

// Recorder keeps what was decided for each alert (package record). It must
// not block: Classify calls it on the request's path.
type Recorder interface {
	// RecordWith queues d; complete, called later on the recorder's own
	// goroutine, fills in the explain summary.
	RecordWith(d api.Decision, complete func(*api.Decision))
}

// MaxSummary is the most of an alert's message or title kept in a decision.
const MaxSummary = 256

// maxExplainText bounds each text of a decision's explain summary
// (expected, actual, reason).
const maxExplainText = 256

// summaryPaths are the alert fields a decision's summary is taken from,
// the first that is a non-empty string: OpsGenie's and Alertmanager's
// envelopes have message, Dynatrace's title.
var summaryPaths = []string{"message", "title", "summary"}

// decided is what one classification used, for its decision.
type decided struct {
	set *rules.Set // nil: the rules could not be loaded
	now time.Time  // the time the rules were decided at
}

// record hands the decision for env to the Recorder. The explain summary
// is computed on the recorder's goroutine from the Set (immutable once
// built) and a fresh rules.Alert over env (whose Raw is never changed).
func (c *Classifier) record(ctx context.Context, env *alert.Envelope, received time.Time, res *Result, err error, dd decided) {
	if c.o.History == nil {
		return
	}
	d := api.Decision{
		ID:          newDecisionID(),
		ReceivedAt:  received.UTC(),
		FeedType:    env.Meta.FeedType,
		FeedName:    env.Meta.FeedName,
		AlertID:     env.ID(),
		UniqueValue: env.Meta.UniqueValue,
		Summary:     summary(env),
		Result:      api.ResultUnavailable,
		RequestedBy: RequestedBy(ctx),
	}
	if len(env.Raw) <= api.MaxDecisionPayload {
		d.Payload = env.Raw
	} else {
		d.PayloadOmitted = true
	}
	if err == nil && res != nil {
		d.Result, d.RulesChecked, d.Matched = res.Result, res.RulesChecked, slices.Clone(res.Matched)
	} else if dd.set != nil {
		d.RulesChecked = dd.set.Applicable(env.Meta.FeedType)
	}
	var complete func(*api.Decision)
	if set, now := dd.set, dd.now; set != nil {
		complete = func(d *api.Decision) { d.Rules = ExplainSummary(rules.Explain(set, rules.NewAlert(env), now)) }
	}
	c.o.History.RecordWith(d, complete)
}

// ExplainSummary is the explain of every rule file, as a decision keeps it
// (file names without their directory).
func ExplainSummary(xs []rules.Explanation) []api.DecisionRule {
	out := make([]api.DecisionRule, 0, len(xs))
	for _, x := range xs {
		r := api.DecisionRule{File: filepath.Base(x.File), RuleName: x.RuleName, Status: x.Status}
		switch x.Status {
		case rules.ExplainNotMatched:
			if f := x.Failure; f != nil {
				r.RulePath, r.AlertPath, r.Op = f.RulePath, f.AlertPath, f.Op
				r.Expected = capBytes(string(f.Expected), maxExplainText)
				r.Actual = capBytes(f.Actual, maxExplainText)
				r.Reason = capBytes(f.Reason, maxExplainText)
			}
		case rules.ExplainDeferred:
			r.Reason = fmt.Sprintf("the rule waits until the alert is %s old", x.Wait)
			if x.Age != "" {
				r.Reason += "; it is " + x.Age
			}
		case rules.ExplainInvalid:
			if len(x.Errors) > 0 {
				r.Reason = capBytes(x.Errors[0].Path+": "+x.Errors[0].Msg, maxExplainText)
				if len(x.Errors) > 1 {
					r.Reason += fmt.Sprintf(" (+%d more)", len(x.Errors)-1)
				}
			}
		case rules.ExplainError:
			r.Reason = capBytes(x.Error, maxExplainText)
		}
		out = append(out, r)
	}
	return out
}

// summary is the alert's message or title, at most MaxSummary bytes.
func summary(env *alert.Envelope) string {
	for _, p := range summaryPaths {
		if v := env.Get(p); v.Type == gjson.String && v.Str != "" {
			return capBytes(v.Str, MaxSummary)
		}
	}
	return ""
}

// capBytes shortens s to at most n bytes, on a rune boundary, ending with
// "…" when cut.
func capBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// newDecisionID is 16 random bytes in hex.
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
