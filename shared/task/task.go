// Package task holds what every task type shares: the task of a rule (its
// common fields, and the rest of its JSON object kept raw for its type),
// the Type contract a task type implements, and what the action handler's
// engine asks of a type's runner (Step, Result, Runner).
//
// A task type is one package under shared/task/<name> implementing Type:
// it decodes its own fields of the task object strictly, checks them when
// a rule loads (the classifier's loading and lint, and the action
// handler's, through shared/rule), renders its templates
// (shared/task/field) and builds its Runner from what the action handler
// gives it (Env). The list of types is shared/task/tasks.
//
// This package imports no task type and not shared/rule (which aliases
// Task), so types and rules stay cycle-free.
package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"time"

	"github.com/alexis-ops/alexis/shared/task/field"
)

// on_failure and run_if values.
const (
	OnFailureStop     = "stop"     // default: after this task fails on a host, only run_if always tasks follow there
	OnFailureContinue = "continue" // later tasks run on the host as their run_if says
	RunIfSuccess      = "success"  // default: run when no earlier task failed on the host
	RunIfFailure      = "failure"  // run only when an earlier task failed on the host
	RunIfAlways       = "always"   // run whatever happened before
)

// Task is one step of a remediation: the fields every type has, and the
// type's own parameters. Decoding keeps the task's whole JSON object in
// Raw; the type decodes its fields from there (Type.Decode) into Params
// when the rule is validated (shared/rule), so Params is set on every
// task of a rule shared/rule.Parse accepted.
type Task struct {
	TaskType string `json:"task_type"`
	// RunCommand is the v1 command (remote_ssh's parameter; kept here as
	// template and unsafe_reason apply to it, and lint reads it).
	RunCommand   string `json:"run_command,omitempty"`
	DelayAfter   string `json:"delay_after,omitempty"`
	Action       string `json:"action,omitempty"`
	ActionReason string `json:"action_reason,omitempty"`
	// Template makes RunCommand a command template filled from the alert
	// (shared/command); UnsafeReason is required when it uses raw_unsafe.
	Template     bool   `json:"template,omitempty"`
	UnsafeReason string `json:"unsafe_reason,omitempty"`

	// Options of every task type (docs/actionhandler.md).
	Timeout   string `json:"timeout,omitempty"`    // per host; default the action handler's for the type
	OnFailure string `json:"on_failure,omitempty"` // stop (default) or continue
	RunIf     string `json:"run_if,omitempty"`     // success (default), failure or always

	// Raw is the task's JSON object as decoded (nil for a Task built in
	// code); Params the type's decoded parameters (nil until the type has
	// decoded them; types decode Raw themselves then).
	Raw    json.RawMessage `json:"-"`
	Params any             `json:"-"`
}

// common is Task without its methods, for decoding.
type common Task

// UnmarshalJSON decodes the common fields and keeps the object in Raw.
func (t *Task) UnmarshalJSON(b []byte) error {
	var c common
	if err := json.Unmarshal(b, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Type == reflect.TypeFor[common]() {
			te.Type = reflect.TypeFor[Task]() // not the decoding helper's name
		}
		return err
	}
	*t = Task(c)
	t.Raw = bytes.Clone(b)
	t.Params = nil
	return nil
}

// MarshalJSON writes the common fields, then the type's: those of Params
// when set, else those of Raw, in their order.
func (t Task) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(common(t)) // never "{}": task_type is always written
	if err != nil {
		return nil, err
	}
	var own []byte
	switch {
	case t.Params != nil:
		if own, err = json.Marshal(t.Params); err != nil {
			return nil, err
		}
	case len(t.Raw) > 0:
		own = t.Raw
	default:
		return b, nil
	}
	isCommon := map[string]bool{}
	for _, k := range CommonFields() {
		isCommon[k] = true
	}
	out := bytes.NewBuffer(b[: len(b)-1 : len(b)-1])
	dec := json.NewDecoder(bytes.NewReader(own))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("task parameters: not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("task parameters: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("task parameters: %w", err)
		}
		k, _ := tok.(string)
		if isCommon[k] {
			continue // as the common fields say now
		}
		kb, _ := json.Marshal(k)
		out.WriteByte(',')
		out.Write(kb)
		out.WriteByte(':')
		if err := json.Compact(out, v); err != nil {
			return nil, err
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// CommonFields are the JSON names of the fields every task has.
func CommonFields() []string {
	return []string{"task_type", "run_command", "delay_after", "action", "action_reason",
		"template", "unsafe_reason", "timeout", "on_failure", "run_if"}
}

// TimeoutDuration parses Timeout ("" or unparsable is zero: the action
// handler's default; shared/rule refuses an unparsable one).
func (t Task) TimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(t.Timeout)
	return max(d, 0)
}

// OnFailureOrDefault is OnFailure, stop when unset.
func (t Task) OnFailureOrDefault() string {
	if t.OnFailure == "" {
		return OnFailureStop
	}
	return t.OnFailure
}

// RunIfOrDefault is RunIf, success when unset.
func (t Task) RunIfOrDefault() string {
	if t.RunIf == "" {
		return RunIfSuccess
	}
	return t.RunIf
}

// DelayAfterDuration parses DelayAfter ("" is zero).
func (t Task) DelayAfterDuration() time.Duration {
	d, _ := time.ParseDuration(t.DelayAfter)
	return max(d, 0)
}

// Problem is one problem of a task's parameters, at its JSON path relative
// to the task object ("argv[0]", "env.PATH"); shared/rule prefixes
// "task_list[i].task.".
type Problem = field.Problem

// Type is one task type.
type Type interface {
	// Name is the task_type rules use.
	Name() string
	// Fields are the JSON names of the task object's fields this type
	// reads besides CommonFields (run_command counts as remote_ssh's).
	// A field another type owns is refused ("only for task_type ...");
	// one no type owns is an unknown field.
	Fields() []string
	// Decode decodes the type's fields of the task's JSON object (raw;
	// nil for a task built in code: zero parameters) and checks them,
	// returning every problem at once; params are used only without
	// problems.
	Decode(t Task, raw json.RawMessage) (params any, problems []Problem)
	// NewRunner builds the type's runner from what the action handler
	// gives it.
	NewRunner(env Env) (Runner, error)
}

// Env is what the action handler gives task types to build runners.
type Env struct {
	// Options are each type's options by its name, built by the action
	// handler from its configuration (e.g. local.Options); a type finds
	// none in development mode or tests and uses its defaults.
	Options map[string]any
	// OutputLimit is the bytes kept of a step's output (default per type).
	OutputLimit int
}

// Step is one task of a rule to run for one entity.
type Step struct {
	ExecutionID string
	AlertID     string
	RuleName    string
	Index       int // position in the rule's task_list
	Task        Task
	Entity      string // as resolved from the rule ("app01", "app01:2222")
	// Alert is the alert (the envelope's JSON object) templates read;
	// Request the merged alert+rule (action.Request JSON) plugins read.
	Alert   []byte
	Request []byte
	// Secret returns a configured secret for templates; nil: none.
	Secret func(name string) (string, error)
	// RemoteStarted, if set, is called by task types that start a process
	// on a host (remote_ssh) with its pid and start time, as soon as they
	// are known and before Run returns.
	RemoteStarted func(pid int, start string)
}

// Data is what the step's templates are rendered with.
func (s Step) Data() field.TemplateData {
	return field.TemplateData{Alert: s.Alert, Entity: s.Entity, Secret: s.Secret}
}

// Timeout is the task's own timeout, else def.
func (s Step) Timeout(def time.Duration) time.Duration {
	if d := s.Task.TimeoutDuration(); d > 0 {
		return d
	}
	return def
}

// Env is the environment the action handler gives local programs and
// plugins besides PATH and the task's env.
func (s Step) Env() map[string]string {
	return map[string]string{
		"ALEXIS_EXECUTION_ID": s.ExecutionID,
		"ALEXIS_ALERT_ID":     s.AlertID,
		"ALEXIS_RULE_NAME":    s.RuleName,
		"ALEXIS_ENTITY":       s.Entity,
		"ALEXIS_TASK_INDEX":   strconv.Itoa(s.Index),
	}
}

// ProcessEnv is the whole environment of a program the step starts on
// the action handler's host (local, plugin): the task's env templates
// rendered from the alert, then the step's ALEXIS_* variables and PATH,
// which the task cannot override.
func (s Step) ProcessEnv(tmpl map[string]string, path string) (map[string]string, error) {
	env, err := field.RenderEnv(tmpl, s.Data())
	if err != nil {
		return nil, err
	}
	maps.Copy(env, s.Env())
	env["PATH"] = path
	return env, nil
}

// Result is what a step did.
type Result struct {
	Command    string // what ran: the rendered command line, argv or "METHOD URL"
	ExitCode   int    // -1 when there is none (not run, timed out, http, ...)
	HTTPStatus int    // http: the answer's status code
	Stdout     string // captured output, capped; may hold secrets until redacted: never log it
	Stderr     string
	Truncated  bool // output was cut at the cap
	Elapsed    time.Duration
	Err        error // nil exactly on success; its text is the reason shown to people
}

// Runner runs one task type.
type Runner interface {
	// Run performs the step, honouring ctx (cancellation stops the work:
	// remote commands and processes are killed).
	Run(ctx context.Context, s Step) Result
	// Describe says what Run would do, for development mode ("run
	// 'uptime'"), templates rendered; an error when they do not render.
	Describe(s Step) (string, error)
}

// Previewer is implemented by runners whose Describe may do I/O (http
// looks up its destination's name): Preview says what Run would do as
// Describe does, templates rendered and refused alike, with no I/O at all.
// Replay uses it (through Preview) so that describing is all it does.
type Previewer interface {
	Preview(s Step) (string, error)
}

// Preview describes s with r's Preview when it has one, else Describe
// (which does no I/O for the other task types).
func Preview(r Runner, s Step) (string, error) {
	if p, ok := r.(Previewer); ok {
		return p.Preview(s)
	}
	return r.Describe(s)
}

// ParamsOf returns t's parameters of type P: t.Params when the rule's
// validation set them, else decoded now by ty (a task that did not pass
// through shared/rule). The error joins the problems.
func ParamsOf[P any](ty Type, t Task) (P, error) {
	if p, ok := t.Params.(P); ok {
		return p, nil
	}
	var zero P
	p, probs := ty.Decode(t, t.Raw)
	if len(probs) > 0 {
		return zero, fmt.Errorf("%s: %s", probs[0].Path, probs[0].Msg)
	}
	got, ok := p.(P)
	if !ok {
		return zero, fmt.Errorf("task type %s: parameters of type %T", ty.Name(), p)
	}
	return got, nil
}

// DecodeFields decodes a task's JSON object (nil: nothing) into a type's
// parameters p (a pointer to a struct of the type's fields; the object's
// other fields are not p's business: shared/rule checks which fields a
// type may have). A value of the wrong JSON type is a problem at its
// field.
func DecodeFields(raw json.RawMessage, p any) []Problem {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return []Problem{{Path: te.Field, Msg: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}}
		}
		return []Problem{{Path: "$", Msg: err.Error()}}
	}
	return nil
}

// OptionsOf returns the options env gives the type name: zero when none
// are given, an error when they are not an O (a wiring mistake).
func OptionsOf[O any](env Env, name string) (O, error) {
	var zero O
	v, ok := env.Options[name]
	if !ok || v == nil {
		return zero, nil
	}
	o, ok := v.(O)
	if !ok {
		return zero, fmt.Errorf("task type %s: options of type %T, want %T", name, v, zero)
	}
	return o, nil
}
