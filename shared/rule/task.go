package rule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/httptask"
	"github.com/alexis-ops/alexis/shared/task/local"
	"github.com/alexis-ops/alexis/shared/task/plugin"
	"github.com/alexis-ops/alexis/shared/task/remotessh"
	"github.com/alexis-ops/alexis/shared/task/tasks"
)

// A task of a rule is a shared/task.Task: the fields every task has here,
// the rest of its JSON object decoded and checked by its type (a package
// under shared/task, listed in shared/task/tasks). Validation (Parse,
// Validate) sets each task's Params.

// Task is one step of a remediation (shared/task.Task).
type Task = task.Task

// TaskTypes are the names of the task types the action handler knows
// (shared/task/tasks). The classifier refuses rules naming any other
// type, so a typo never reaches a host.
var TaskTypes = typeNames(tasks.All())

// Task type names of the built-in types.
const (
	TaskRemoteSSH = remotessh.Name // run_command on the entity over SSH
	TaskLocal     = local.Name     // argv on the action handler's host, no shell
	TaskPlugin    = plugin.Name    // an executable from the plugins directory; JSON in, JSON out
	TaskHTTP      = httptask.Name  // a REST call
)

// on_failure and run_if values.
const (
	OnFailureStop     = task.OnFailureStop     // default: after this task fails on a host, only run_if always tasks follow there
	OnFailureContinue = task.OnFailureContinue // later tasks run on the host as their run_if says
	RunIfSuccess      = task.RunIfSuccess      // default: run when no earlier task failed on the host
	RunIfFailure      = task.RunIfFailure      // run only when an earlier task failed on the host
	RunIfAlways       = task.RunIfAlways       // run whatever happened before
)

// TaskItem wraps one task, as the v1 format nests it.
type TaskItem struct {
	Task Task `json:"task"`
}

func typeNames(types []task.Type) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, ty := range types {
		m[ty.Name()] = true
	}
	return m
}

// validateTasks checks task_list entries against types: the common fields
// here, which fields the task's type may have, and the type's own (its
// Decode, whose parameters it stores in the task's Params).
func validateTasks(items []TaskItem, types []task.Type) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	byName := map[string]task.Type{}
	owners := map[string][]string{} // field → the types that have it, in list order
	for _, ty := range types {
		byName[ty.Name()] = ty
		for _, f := range ty.Fields() {
			owners[f] = append(owners[f], ty.Name())
		}
	}
	common := map[string]bool{}
	for _, f := range task.CommonFields() {
		common[f] = true
	}
	for i := range items {
		p := fmt.Sprintf("task_list[%d].task", i)
		t := &items[i].Task
		ty, known := byName[t.TaskType]
		switch {
		case t.TaskType == "":
			add(p+".task_type", "required")
		case !known:
			add(p+".task_type", "unknown task type %q (known: %s)", t.TaskType, knownNames(byName))
		}
		if t.Template {
			tmpl, err := command.Parse(t.RunCommand)
			switch {
			case err != nil:
				add(p+".run_command", "%v", err)
			case tmpl.UsesRaw() && strings.TrimSpace(t.UnsafeReason) == "":
				add(p+".unsafe_reason", "required: run_command inserts a value unquoted (raw_unsafe); say why that is safe")
			}
		}
		if _, err := parseDuration(t.DelayAfter); err != nil {
			add(p+".delay_after", "%v", err)
		}
		if d, err := parseDuration(t.Timeout); err != nil {
			add(p+".timeout", "%v", err)
		} else if t.Timeout != "" && d == 0 {
			add(p+".timeout", "must be positive")
		}
		switch t.OnFailure {
		case "", OnFailureStop, OnFailureContinue:
		default:
			add(p+".on_failure", "want stop or continue, got %q", t.OnFailure)
		}
		switch t.RunIf {
		case "", RunIfSuccess, RunIfFailure, RunIfAlways:
		default:
			add(p+".run_if", "want success, failure or always, got %q", t.RunIf)
		}

		raw := t.Raw
		if raw == nil { // built in code
			raw, _ = json.Marshal(t)
		}
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(raw, &obj)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			own := owners[k]
			switch {
			case len(own) == 0 && !common[k]:
				add(p+"."+k, "unknown field")
			case len(own) == 0, empty(obj[k]):
			case known && !slices.Contains(own, t.TaskType), !known && !common[k]:
				// A field of another type (run_command, common for v1,
				// only once the type is known).
				add(p+"."+k, "only for task_type %s", strings.Join(own, " or "))
			}
		}
		if !known {
			continue
		}
		params, probs := ty.Decode(*t, raw)
		for _, pr := range probs {
			add(p+"."+pr.Path, "%s", pr.Msg)
		}
		t.Params = params
	}
	return errs
}

// empty: a JSON value that sets nothing (null, "", [], {}); a value of
// the wrong JSON type is not empty, so it is refused too.
func empty(v json.RawMessage) bool {
	var c bytes.Buffer
	if json.Compact(&c, v) != nil {
		return false
	}
	switch c.String() {
	case "null", `""`, "[]", "{}":
		return true
	}
	return false
}

func knownNames(m map[string]task.Type) string {
	b := make(map[string]bool, len(m))
	for k := range m {
		b[k] = true
	}
	return known(b)
}
