package rule

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/command"
)

// Task types the action handler knows. The classifier refuses rules naming
// any other type, so a typo never reaches a host.
var TaskTypes = map[string]bool{
	TaskRemoteSSH: true,
	TaskLocal:     true,
	TaskPlugin:    true,
	TaskHTTP:      true,
}

// Task type names.
const (
	TaskRemoteSSH = "remote_ssh" // run_command on the entity over SSH
	TaskLocal     = "local"      // argv on the action handler's host, no shell
	TaskPlugin    = "plugin"     // an executable from the plugins directory; JSON in, JSON out
	TaskHTTP      = "http"       // a REST call
)

// on_failure and run_if values.
const (
	OnFailureStop     = "stop"     // default: after this task fails on a host, only run_if always tasks follow there
	OnFailureContinue = "continue" // later tasks run on the host as their run_if says
	RunIfSuccess      = "success"  // default: run when no earlier task failed on the host
	RunIfFailure      = "failure"  // run only when an earlier task failed on the host
	RunIfAlways       = "always"   // run whatever happened before
)

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
	// Template makes RunCommand a command template filled from the alert
	// (shared/command); UnsafeReason is required when it uses raw_unsafe.
	Template     bool   `json:"template,omitempty"`
	UnsafeReason string `json:"unsafe_reason,omitempty"`

	// Options of every task type (docs/actionhandler.md).
	Timeout   string `json:"timeout,omitempty"`    // per host; default the action handler's for the type
	OnFailure string `json:"on_failure,omitempty"` // stop (default) or continue
	RunIf     string `json:"run_if,omitempty"`     // success (default), failure or always

	// local: the program and its arguments (no shell), and extra
	// environment (also for plugin). Templates (tasktemplate.go).
	Argv []string          `json:"argv,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// plugin: an executable's name in the action handler's plugins_dir.
	Plugin string `json:"plugin,omitempty"`
	// http: the request (url, headers and body are templates) and the
	// status codes that mean success (default any 2xx).
	Method       string            `json:"method,omitempty"`
	URL          string            `json:"url,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
	ExpectStatus []int             `json:"expect_status,omitempty"`
}

// TimeoutDuration parses Timeout ("" is zero: the action handler's default).
func (t Task) TimeoutDuration() time.Duration {
	d, _ := parseDuration(t.Timeout)
	return d
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
		errs = append(errs, validateTaskOptions(p, t)...)
	}
	return errs
}

// pluginName is what a plugin may be called: a file name, never a path.
var pluginName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validateTaskOptions checks the options every type takes and the fields
// of the local, plugin and http types; fields of another type are refused.
func validateTaskOptions(p string, t Task) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: p + "." + path, Msg: fmt.Sprintf(format, args...)})
	}
	if d, err := parseDuration(t.Timeout); err != nil {
		add("timeout", "%v", err)
	} else if t.Timeout != "" && d == 0 {
		add("timeout", "must be positive")
	}
	switch t.OnFailure {
	case "", OnFailureStop, OnFailureContinue:
	default:
		add("on_failure", "want stop or continue, got %q", t.OnFailure)
	}
	switch t.RunIf {
	case "", RunIfSuccess, RunIfFailure, RunIfAlways:
	default:
		add("run_if", "want success, failure or always, got %q", t.RunIf)
	}
	// Fields that belong to one type only.
	only := func(field string, set bool, types ...string) {
		if set && !slices.Contains(types, t.TaskType) {
			add(field, "only for task_type %s", strings.Join(types, " or "))
		}
	}
	only("run_command", t.RunCommand != "" && TaskTypes[t.TaskType], TaskRemoteSSH)
	only("argv", len(t.Argv) > 0, TaskLocal)
	only("env", len(t.Env) > 0, TaskLocal, TaskPlugin)
	only("plugin", t.Plugin != "", TaskPlugin)
	only("method", t.Method != "", TaskHTTP)
	only("url", t.URL != "", TaskHTTP)
	only("headers", len(t.Headers) > 0, TaskHTTP)
	only("body", t.Body != "", TaskHTTP)
	only("expect_status", len(t.ExpectStatus) > 0, TaskHTTP)

	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		switch {
		case !envName.MatchString(k):
			add("env."+k, "not an environment variable name")
		case k == "PATH" || strings.HasPrefix(k, "ALEXIS_"):
			add("env."+k, "set by the action handler; a task cannot change it")
		default:
			if _, err := parseField("env."+k, t.Env[k], escText, true); err != nil {
				add("env."+k, "%v", err)
			}
		}
	}
	switch t.TaskType {
	case TaskLocal:
		if len(t.Argv) == 0 || strings.TrimSpace(t.Argv[0]) == "" {
			add("argv", "required for local: the program and its arguments, e.g. [\"ansible-playbook\", \"restart.yml\"]")
			break
		}
		if strings.Contains(t.Argv[0], "{{") {
			add("argv[0]", "the program must be written out, not taken from the alert")
		}
		if strings.Contains(t.Argv[0], "{{") {
			break
		}
		if _, err := parseArgv(t.Argv); err != nil {
			var ee *command.ElemError
			if errors.As(err, &ee) {
				add(fmt.Sprintf("argv[%d]", ee.Index), "%v", ee.Err)
			} else {
				add("argv", "%v", err)
			}
		}
	case TaskPlugin:
		if !pluginName.MatchString(t.Plugin) {
			add("plugin", "required for plugin: a file name in the plugins directory (letters, digits, . _ -), got %q", t.Plugin)
		}
	case TaskHTTP:
		errs = append(errs, validateHTTP(p, t)...)
	}
	return errs
}

func validateHTTP(p string, t Task) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: p + "." + path, Msg: fmt.Sprintf(format, args...)})
	}
	if t.Method != "" && !HTTPMethods[strings.ToUpper(t.Method)] {
		add("method", "want GET, HEAD, POST, PUT, PATCH or DELETE, got %q", t.Method)
	}
	switch {
	case strings.TrimSpace(t.URL) == "":
		add("url", "required for http")
	default:
		// Where the request goes is the rule's, never the alert's: the
		// scheme and host are written out.
		prefix, _, templated := strings.Cut(t.URL, "{{")
		u, err := url.Parse(t.URL)
		badEntityURL := false
		if m := entityURL.FindStringSubmatch(t.URL); m != nil {
			// http://{{ entity }}:8080/...: the host is the entity itself.
			rest := t.URL[len(m[0]):]
			prefix, _, _ = strings.Cut(rest, "{{")
			badEntityURL = !entityRest.MatchString(prefix)
			templated = false
			u, err = url.Parse(m[1] + "entity" + rest)
		}
		switch {
		case badEntityURL:
			add("url", "after http://{{ entity }} comes an optional :port, then the path")
		case templated && !urlPrefix.MatchString(prefix):
			add("url", "scheme and host must be written out before any {{ }} (http://host/..., or http://{{ entity }}:port/...)")
		case !templated && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""):
			add("url", "want an http:// or https:// URL, got %q", t.URL)
		}
		if _, err := parseField("url", t.URL, escURL, false); err != nil {
			add("url", "%v", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.Headers)) {
		if !headerName.MatchString(k) {
			add("headers."+k, "not a header name")
			continue
		}
		if _, err := parseField("headers."+k, t.Headers[k], escText, true); err != nil {
			add("headers."+k, "%v", err)
		}
	}
	if t.Body != "" {
		if _, err := parseField("body", t.Body, bodyEscaper(t.ContentType()), true); err != nil {
			add("body", "%v", err)
		}
		if t.HTTPMethod() == "GET" || t.HTTPMethod() == "HEAD" {
			add("body", "a %s request has no body", t.HTTPMethod())
		}
	}
	for i, c := range t.ExpectStatus {
		if c < 100 || c > 599 {
			add(fmt.Sprintf("expect_status[%d]", i), "not an HTTP status code: %d", c)
		}
	}
	return errs
}
