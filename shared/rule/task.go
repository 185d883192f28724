package rule

import (
	"fmt"
	"strings"
	"time"
)

// Task types the action handler knows. The classifier refuses rules naming
// any other type, so a typo never reaches a host.
var TaskTypes = map[string]bool{
	"remote_ssh": true,
}

// TaskItem wraps one task, as the v1 format nests it.
type TaskItem struct {
	Task Task `json:"task"`
}

// Task is one step of a remediation.
type Task struct {
	TaskType     string `json:"task_type"`
	RunCommand   string `json:"run_command,omitempty"`
	DelayAfter   string `json:"delay_after,omitempty"`
	Action       string `json:"action,omitempty"`
	ActionReason string `json:"action_reason,omitempty"`
}

// DelayAfterDuration parses DelayAfter ("" is zero).
func (t Task) DelayAfterDuration() time.Duration {
	d, _ := parseDuration(t.DelayAfter)
	return d
}

// validateTasks checks task_list entries.
func validateTasks(tasks []TaskItem) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for i, ti := range tasks {
		p := fmt.Sprintf("task_list[%d].task", i)
		t := ti.Task
		switch {
		case t.TaskType == "":
			add(p+".task_type", "required")
		case !TaskTypes[t.TaskType]:
			add(p+".task_type", "unknown task type %q (known: %s)", t.TaskType, known(TaskTypes))
		}
		if t.TaskType == "remote_ssh" && strings.TrimSpace(t.RunCommand) == "" {
			add(p+".run_command", "required for remote_ssh")
		}
		if _, err := parseDuration(t.DelayAfter); err != nil {
			add(p+".delay_after", "%v", err)
		}
	}
	return errs
}
