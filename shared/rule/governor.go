package rule

import (
	"encoding/json"
	"time"
)

// Governor limits how often a rule acts (docs/actionhandler.md): the
// action handler skips an execution over a limit, notes why on the alert
// and routes it to the investigation queue. Counts hold across action
// handler replicas and restarts. Zero fields do not limit.
//
//	"governor": {"max_executions": 10, "max_executions_per_entity": 3,
//	             "window": "1h", "cooldown": "10m"}
type Governor struct {
	// MaxExecutions: executions of this rule started within Window, on
	// any hosts.
	MaxExecutions int `json:"max_executions,omitempty"`
	// MaxExecutionsPerEntity: executions of this rule started within Window
	// acting on any one of the execution's hosts.
	MaxExecutionsPerEntity int `json:"max_executions_per_entity,omitempty"`
	// Window the maximums count over; default the action handler's
	// governor.default_window.
	Window string `json:"window,omitempty"`
	// Cooldown: least time between the starts of two executions of this
	// rule on one host.
	Cooldown string `json:"cooldown,omitempty"`
	// PauseAfter: the circuit breaker. After this many consecutive failed
	// or ineffective executions of the rule (PausePerEntity: on one host)
	// the rule is paused until resumed or its file changes; 0: the action
	// handler's governor.pause_after default.
	PauseAfter int `json:"pause_after,omitempty"`
	// PausePerEntity counts consecutive failures per host and pauses the
	// rule on that host only.
	PausePerEntity bool `json:"pause_per_entity,omitempty"`
}

// WindowDuration parses Window ("" is zero: the action handler's default).
func (g *Governor) WindowDuration() time.Duration {
	if g == nil {
		return 0
	}
	d, _ := parseDuration(g.Window)
	return d
}

// CooldownDuration parses Cooldown ("" is zero: none).
func (g *Governor) CooldownDuration() time.Duration {
	if g == nil {
		return 0
	}
	d, _ := parseDuration(g.Cooldown)
	return d
}

func (g *Governor) validate() Errors {
	if g == nil {
		return nil
	}
	var errs Errors
	if g.MaxExecutions < 0 {
		errs = append(errs, FieldError{Path: "governor.max_executions", Msg: "must not be negative"})
	}
	if g.MaxExecutionsPerEntity < 0 {
		errs = append(errs, FieldError{Path: "governor.max_executions_per_entity", Msg: "must not be negative"})
	}
	if g.PauseAfter < 0 {
		errs = append(errs, FieldError{Path: "governor.pause_after", Msg: "must not be negative"})
	}
	if d, err := parseDuration(g.Window); err != nil {
		errs = append(errs, FieldError{Path: "governor.window", Msg: err.Error()})
	} else if g.Window != "" && d == 0 {
		errs = append(errs, FieldError{Path: "governor.window", Msg: "must be positive"})
	}
	if _, err := parseDuration(g.Cooldown); err != nil {
		errs = append(errs, FieldError{Path: "governor.cooldown", Msg: err.Error()})
	}
	return errs
}

var governorKeys = keysOf(Governor{})

// governorUnknownKeys reports keys of the governor object no field reads.
func governorUnknownKeys(raw map[string]json.RawMessage) Errors {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw["governor"], &obj) != nil {
		return nil
	}
	return unknownKeys(obj, "governor.", governorKeys)
}
