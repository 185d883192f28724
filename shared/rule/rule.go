// Package rule defines the Alexis rule file shared by the classifier, which
// matches alerts against rules, and the action handler, which runs a matched
// rule's tasks. docs/rules.md is the reference for every field.
//
// A rule file is one JSON object. The original Alexis (v1) form:
//
//	{"enabled": "true", "os_type": "linux",
//	 "rule_name": "day_duplicator_gc_restart", "rule_description": "...", "rule_version": "1.01",
//	 "alert_feed": "OpsGenie",
//	 "evaluation_list": [{"evaluation": {"tags": ["syn.day"], "search_key": "description",
//	                                     "search_text": "Long garbage-collection time", "duration": "0m"}}],
//	 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart duplicator",
//	                         "delay_after": "30s", "action": "restart_service", "action_reason": "gc"}}],
//	 "entity_type": "explicit", "entities": ["app01.example.com"],
//	 "route_to_team": "email_opsunixadmins", "delay_escalation": "20m"}
//
// Version 2 adds, in the same files, a condition tree "when" (instead of or
// beside "evaluation_list"; both must pass when both are there), "min_age",
// entities read from a gjson path ("entity_type": "path", "entity_path"),
// "entity_filter", and command templates ("template": true on a task).
package rule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/ident"
	"github.com/alexis-ops/alexis/shared/jsonx"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/tasks"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// Entity types.
const (
	EntityExplicit = "explicit" // hosts listed in "entities"
	EntityKeyValue = "keyvalue" // hosts read from the alert at "entity_keyvalue"
	EntityPathType = "path"     // hosts read from the alert at the gjson path "entity_path" (v2)
)

// Rule is one rule file.
type Rule struct {
	Enabled         Flag             `json:"enabled"`
	OSType          string           `json:"os_type"`
	Name            string           `json:"rule_name"`
	Description     string           `json:"rule_description,omitempty"`
	Version         string           `json:"rule_version,omitempty"`
	AlertFeed       string           `json:"alert_feed"`
	Evaluations     []EvaluationItem `json:"evaluation_list,omitempty"`
	When            *Cond            `json:"when,omitempty"`    // v2 condition tree
	MinAge          string           `json:"min_age,omitempty"` // v2: act only on alerts open this long
	Tasks           []TaskItem       `json:"task_list"`
	EntityType      string           `json:"entity_type"`
	Entities        []string         `json:"entities,omitempty"`
	EntityKeyValue  []string         `json:"entity_keyvalue,omitempty"`
	EntityJSONPath  string           `json:"entity_path,omitempty"`   // v2: gjson path, for entity_type path
	EntityFilter    string           `json:"entity_filter,omitempty"` // v2: regex hosts must match
	RouteToTeam     string           `json:"route_to_team,omitempty"`
	DelayEscalation string           `json:"delay_escalation,omitempty"`
	Governor        *Governor        `json:"governor,omitempty"` // action handler rate and blast-radius limits (governor.go)
	// Write-back after the tasks ran (writeback.go). nil (absent): the
	// default; an empty list: nothing but the result notes.
	OnSuccess []ticket.Op `json:"on_success,omitzero"`
	OnFailure []ticket.Op `json:"on_failure,omitzero"`
	// OnEscalation: what is done when the alert is still open
	// delay_escalation after the execution finished (writeback.go).
	OnEscalation []ticket.Op `json:"on_escalation,omitzero"`

	// Safe rollout (rollout.go, docs/rollout.md).
	Mode      string    `json:"mode,omitempty"`       // enforce (default) or audit
	AuditNote bool      `json:"audit_note,omitempty"` // audit mode: note what would have run on the alert
	Approval  *Approval `json:"approval,omitempty"`
	Verify    *Verify   `json:"verify,omitempty"`
	// OnIneffective: what is done when verification says the fix did not
	// work (default: add the investigation queue; the note is always written).
	OnIneffective []ticket.Op `json:"on_ineffective,omitzero"`
}

// Flag is the v1 "enabled" field: the string "true" or "false" (a JSON
// boolean is accepted too). Anything else is an error, never "enabled".
type Flag bool

// UnmarshalJSON accepts "true", "false", true, false.
func (f *Flag) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(string(bytes.TrimSpace(b))) {
	case `"true"`, `true`:
		*f = true
	case `"false"`, `false`:
		*f = false
	default:
		return fmt.Errorf(`want "true" or "false", got %s`, b)
	}
	return nil
}

// MarshalJSON writes the v1 string form.
func (f Flag) MarshalJSON() ([]byte, error) {
	if f {
		return []byte(`"true"`), nil
	}
	return []byte(`"false"`), nil
}

// FieldError is one problem in a rule, at a JSON path of its file.
type FieldError struct {
	Path string `json:"path"` // e.g. "task_list[0].task.run_command"
	Msg  string `json:"message"`
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem found in one rule.
type Errors []FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Parse decodes and validates a rule file, with the task types of
// shared/task/tasks. Every problem is returned at once as Errors; a rule
// with any error must never be used.
func Parse(data []byte) (*Rule, error) { return ParseWith(data, tasks.All()) }

// ParseWith is Parse with the task types given.
func ParseWith(data []byte, types []task.Type) (*Rule, error) {
	var errs Errors
	var dup *jsonx.DuplicateKeyError
	if err := jsonx.CheckUnique(data); errors.As(err, &dup) {
		// Which copy would count depends on the reader: refuse both.
		return nil, Errors{{Path: dupPath(dup), Msg: "duplicate key: given twice in one object"}}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, Errors{{Path: "$", Msg: "not a JSON object: " + err.Error()}}
	}
	if raw == nil {
		return nil, Errors{{Path: "$", Msg: "not a JSON object: null"}}
	}
	errs = append(errs, unknownKeys(raw, "", topKeys)...)
	if en, ok := raw["enabled"]; ok {
		var f Flag
		if err := f.UnmarshalJSON(en); err != nil {
			errs = append(errs, FieldError{Path: "enabled", Msg: err.Error()})
			delete(raw, "enabled")
			data, _ = json.Marshal(raw)
		}
	}
	// The condition tree is read on its own, to report all of its problems.
	var when *Cond
	whenRaw, hasWhen := raw["when"]
	if hasWhen {
		var cerrs Errors
		when, cerrs = ParseCond(whenRaw, "when", false)
		errs = append(errs, cerrs...)
		delete(raw, "when")
		data, _ = json.Marshal(raw)
	}
	var r Rule
	if err := json.Unmarshal(data, &r); err != nil {
		errs = append(errs, typeError(err))
		return nil, errs
	}
	r.When = when
	if hasWhen && when == nil && len(errs) == 0 {
		errs = append(errs, FieldError{Path: "when", Msg: "invalid condition"})
	}
	errs = append(errs, nestedUnknownKeys(raw)...)
	errs = append(errs, governorUnknownKeys(raw)...)
	errs = append(errs, writebackUnknownKeys(raw)...)
	errs = append(errs, rolloutUnknownKeys(raw)...)
	for _, e := range r.validate(types) {
		if hasWhen && e.Path == "evaluation_list" {
			continue // when is there, with its own errors
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &r, nil
}

// Validate checks the fields both services rely on, with the task types
// of shared/task/tasks, and sets the tasks' Params.
func (r *Rule) Validate() Errors { return r.validate(tasks.All()) }

func (r *Rule) validate(types []task.Type) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(r.Name) == "" {
		add("rule_name", "required")
	} else if err := ident.Check("rule name", r.Name, ident.MaxRuleName); err != nil {
		add("rule_name", "%v", err)
	}
	if strings.TrimSpace(r.AlertFeed) == "" {
		add("alert_feed", "required")
	}
	if strings.TrimSpace(r.OSType) == "" {
		add("os_type", "required")
	}
	if len(r.Evaluations) == 0 && r.When == nil {
		add("evaluation_list", "required (or when): a rule without conditions would match every alert")
	}
	errs = append(errs, validateEvaluations(r.Evaluations)...)
	if len(r.Tasks) == 0 {
		add("task_list", "required: at least one task")
	}
	errs = append(errs, validateTasks(r.Tasks, types)...)
	switch r.EntityType {
	case EntityExplicit:
		if len(r.Entities) == 0 {
			add("entities", "required when entity_type is explicit")
		}
		for i, e := range r.Entities {
			if err := checkEntity(e); err != nil {
				add(fmt.Sprintf("entities[%d]", i), "%v", err)
			}
		}
	case EntityKeyValue:
		if len(r.EntityKeyValue) == 0 {
			add("entity_keyvalue", `required when entity_type is keyvalue, e.g. ["details", "host"]`)
		}
	case EntityPathType:
		if strings.TrimSpace(r.EntityJSONPath) == "" {
			add("entity_path", `required when entity_type is path: a gjson path into the alert, e.g. "details.hosts"`)
		}
	case "":
		add("entity_type", "required: explicit, keyvalue or path")
	default:
		add("entity_type", "unknown entity type %q: want explicit, keyvalue or path", r.EntityType)
	}
	if r.EntityJSONPath != "" && r.EntityType != EntityPathType {
		add("entity_path", "only read when entity_type is path (entity_type is %q)", r.EntityType)
	}
	if r.EntityFilter != "" {
		if _, err := regexp.Compile(r.EntityFilter); err != nil {
			add("entity_filter", "invalid regular expression: %s", RegexpProblem(err))
		}
	}
	if _, err := parseDuration(r.DelayEscalation); err != nil {
		add("delay_escalation", "%v", err)
	}
	if _, err := parseDuration(r.MinAge); err != nil {
		add("min_age", "%v", err)
	}
	errs = append(errs, r.Governor.validate()...)
	errs = append(errs, r.validateWriteback()...)
	errs = append(errs, r.validateRollout(types)...)
	return errs
}

// Wait is how long the alert must have been open before the rule acts: the
// longest of min_age and the v1 evaluation durations (0: no wait).
func (r *Rule) Wait() time.Duration {
	d, _ := parseDuration(r.MinAge)
	for _, ev := range r.Evaluations {
		if e, _ := parseDuration(ev.Evaluation.Duration); e > d {
			d = e
		}
	}
	return d
}

// parseDuration parses a Go duration ("30s", "5m", "0m"); "" is zero.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want e.g. 30s, 5m, 1h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

var (
	topKeys  = keysOf(Rule{})
	evalKeys = keysOf(Evaluation{})
)

func nestedUnknownKeys(raw map[string]json.RawMessage) Errors {
	var errs Errors
	check := func(list json.RawMessage, field, wrapper string, allowed map[string]bool) {
		var items []map[string]json.RawMessage
		if json.Unmarshal(list, &items) != nil {
			return
		}
		for i, item := range items {
			errs = append(errs, unknownKeys(item, fmt.Sprintf("%s[%d].", field, i), map[string]bool{wrapper: true})...)
			var inner map[string]json.RawMessage
			if allowed != nil && json.Unmarshal(item[wrapper], &inner) == nil {
				errs = append(errs, unknownKeys(inner, fmt.Sprintf("%s[%d].%s.", field, i, wrapper), allowed)...)
			}
		}
	}
	check(raw["evaluation_list"], "evaluation_list", "evaluation", evalKeys)
	check(raw["task_list"], "task_list", "task", nil) // a task's fields depend on its type: validateTasks
	return errs
}

func unknownKeys(obj map[string]json.RawMessage, prefix string, allowed map[string]bool) Errors {
	var errs Errors
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !allowed[k] {
			errs = append(errs, FieldError{Path: prefix + k, Msg: "unknown field"})
		}
	}
	return errs
}

// dupPath names a duplicate key the way rule field errors do:
// "task_list[0].task.run_command".
func dupPath(d *jsonx.DuplicateKeyError) string {
	key := d.Key
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	switch p := strings.TrimPrefix(d.Path, "$"); {
	case p == "":
		return key
	case strings.HasPrefix(p, "."):
		return p[1:] + "." + key
	default:
		return p + "." + key
	}
}

func plainKey(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func typeError(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return FieldError{Path: te.Field, Msg: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	}
	return FieldError{Path: "$", Msg: err.Error()}
}

func known(m map[string]bool) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
