package rule

import (
	"encoding/json"
	"errors"
	"github.com/alexis-ops/alexis/shared/task/field"
	"github.com/alexis-ops/alexis/shared/task/httptask"
	"os"
	"slices"
	"testing"
	"time"
)

// ruleWith returns the v1 example with its task list and extra top-level
// fields replaced.
func ruleWith(t *testing.T, tasks string, extra map[string]any) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/alexis_v1_example.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var list any
	if err := json.Unmarshal([]byte(tasks), &list); err != nil {
		t.Fatalf("test task list: %v", err)
	}
	m["task_list"] = list
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestTaskTypesAndOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tasks string
		paths []string // error paths expected; none: valid
	}{
		{name: "restart check diagnose", tasks: `[
			{"task": {"task_type": "remote_ssh", "run_command": "systemctl restart dup", "timeout": "2m"}},
			{"task": {"task_type": "remote_ssh", "run_command": "systemctl is-active dup", "on_failure": "continue"}},
			{"task": {"task_type": "remote_ssh", "run_command": "journalctl -u dup -n 50", "run_if": "failure"}},
			{"task": {"task_type": "http", "url": "https://lb.example.com/pools/web/{{ entity }}", "method": "put",
			          "headers": {"Authorization": "Bearer {{ secret \"lb\" }}"}, "body": "{\"state\": \"{{ .details.state }}\"}",
			          "expect_status": [200, 204], "run_if": "always"}},
			{"task": {"task_type": "local", "argv": ["ansible-playbook", "-l", "{{ entity }}", "restart.yml"],
			          "env": {"ANSIBLE_TOKEN": "{{ secret \"ansible\" }}"}}},
			{"task": {"task_type": "plugin", "plugin": "restart-pod.py", "env": {"NS": "prod"}}}]`},
		{name: "bad options", tasks: `[{"task": {"task_type": "remote_ssh", "run_command": "x",
			"timeout": "soon", "on_failure": "retry", "run_if": "sometimes"}}]`,
			paths: []string{"task_list[0].task.on_failure", "task_list[0].task.run_if", "task_list[0].task.timeout"}},
		{name: "zero timeout", tasks: `[{"task": {"task_type": "remote_ssh", "run_command": "x", "timeout": "0s"}}]`,
			paths: []string{"task_list[0].task.timeout"}},
		{name: "fields of another type", tasks: `[{"task": {"task_type": "remote_ssh", "run_command": "x",
			"argv": ["ls"], "url": "http://x/", "plugin": "p", "env": {"A": "b"}}}]`,
			paths: []string{"task_list[0].task.argv", "task_list[0].task.env", "task_list[0].task.plugin", "task_list[0].task.url"}},
		{name: "local needs argv", tasks: `[{"task": {"task_type": "local"}}]`, paths: []string{"task_list[0].task.argv"}},
		{name: "local program from the alert", tasks: `[{"task": {"task_type": "local", "argv": ["{{ .details.prog }}"]}}]`,
			paths: []string{"task_list[0].task.argv[0]"}},
		{name: "local secret in argv", tasks: `[{"task": {"task_type": "local", "argv": ["curl", "{{ secret \"x\" }}"]}}]`,
			paths: []string{"task_list[0].task.argv[1]"}},
		{name: "local raw_unsafe", tasks: `[{"task": {"task_type": "local", "argv": ["tar", "{{ .x | raw_unsafe }}"]}}]`,
			paths: []string{"task_list[0].task.argv[1]"}},
		{name: "local value as a wrapper's program", tasks: `[{"task": {"task_type": "local", "argv": ["/usr/bin/sudo", "-n", "{{ .x }}"]}}]`,
			paths: []string{"task_list[0].task.argv[2]"}},
		{name: "local value to sh -c", tasks: `[{"task": {"task_type": "local", "argv": ["sh", "-c", "kill $1", "_", "{{ .x }}"]}}]`,
			paths: []string{"task_list[0].task.argv[4]"}},
		{name: "local text outside echo", tasks: `[{"task": {"task_type": "local", "argv": ["curl", "{{ .x | text }}"]}}]`,
			paths: []string{"task_list[0].task.argv[1]"}},
		{name: "local typed values", tasks: `[{"task": {"task_type": "local", "argv": ["sudo", "-u", "{{ .u }}", "kill", "{{ .p | int }}"]}}]`},
		{name: "local bad template", tasks: `[{"task": {"task_type": "local", "argv": ["echo", "{{ .x "]}}]`,
			paths: []string{"task_list[0].task.argv[1]"}},
		{name: "env names", tasks: `[{"task": {"task_type": "local", "argv": ["env"],
			"env": {"PATH": "/tmp", "ALEXIS_ENTITY": "x", "1BAD": "x", "OK": "{{ nope }}"}}}]`,
			paths: []string{"task_list[0].task.env.1BAD", "task_list[0].task.env.ALEXIS_ENTITY", "task_list[0].task.env.OK", "task_list[0].task.env.PATH"}},
		{name: "plugin name is a file name", tasks: `[{"task": {"task_type": "plugin", "plugin": "../bin/sh"}}]`,
			paths: []string{"task_list[0].task.plugin"}},
		{name: "plugin name required", tasks: `[{"task": {"task_type": "plugin"}}]`, paths: []string{"task_list[0].task.plugin"}},
		{name: "http url required", tasks: `[{"task": {"task_type": "http"}}]`, paths: []string{"task_list[0].task.url"}},
		{name: "http host from the alert", tasks: `[{"task": {"task_type": "http", "url": "http://{{ .details.host }}/x"}}]`,
			paths: []string{"task_list[0].task.url"}},
		{name: "http host is the entity", tasks: `[{"task": {"task_type": "http", "url": "http://{{ entity }}:8080/health/{{ .details.svc }}"}},
			{"task": {"task_type": "http", "url": "https://{{entity}}"}}]`},
		{name: "http entity then more host", tasks: `[{"task": {"task_type": "http", "url": "http://{{ entity }}.evil.com/"}},
			{"task": {"task_type": "http", "url": "http://{{ entity }}:{{ .details.port }}/"}}]`,
			paths: []string{"task_list[0].task.url", "task_list[1].task.url"}},
		{name: "http scheme", tasks: `[{"task": {"task_type": "http", "url": "file:///etc/passwd"}}]`,
			paths: []string{"task_list[0].task.url"}},
		{name: "http method status body", tasks: `[{"task": {"task_type": "http", "url": "http://x/", "method": "TRACE",
			"expect_status": [42], "headers": {"Bad Name": "x"}}},
			{"task": {"task_type": "http", "url": "http://x/", "method": "GET", "body": "{}"}}]`,
			paths: []string{"task_list[0].task.expect_status[0]", "task_list[0].task.headers.Bad Name", "task_list[0].task.method", "task_list[1].task.body"}},
		{name: "empty fields of another type", tasks: `[{"task": {"task_type": "remote_ssh", "run_command": "x",
			"argv": [], "env": { }, "plugin": "", "url": null}}]`},
		{name: "field of another type with a wrong JSON type", tasks: `[{"task": {"task_type": "remote_ssh", "run_command": "x",
			"expect_status": 0, "argv": false}}]`,
			paths: []string{"task_list[0].task.argv", "task_list[0].task.expect_status"}},
		{name: "wrong JSON type of the type's field", tasks: `[{"task": {"task_type": "local", "argv": "ls"}}]`,
			paths: []string{"task_list[0].task.argv"}},
		{name: "unknown task type", tasks: `[{"task": {"task_type": "locale", "argv": ["ls"], "run_command": "x"}}]`,
			paths: []string{"task_list[0].task.argv", "task_list[0].task.task_type"}},
		{name: "unknown task field", tasks: `[{"task": {"task_type": "local", "argv": ["ls"], "shell": true}}]`,
			paths: []string{"task_list[0].task.shell"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(ruleWith(t, tc.tasks, nil))
			var got []string
			var re Errors
			if errors.As(err, &re) {
				for _, e := range re {
					got = append(got, e.Path)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.paths) {
				t.Errorf("error paths %q, want %q (%v)", got, tc.paths, err)
			}
		})
	}
}

func TestTaskDefaults(t *testing.T) {
	var task Task
	if task.OnFailureOrDefault() != OnFailureStop || task.RunIfOrDefault() != RunIfSuccess || task.TimeoutDuration() != 0 {
		t.Errorf("defaults %s %s %v", task.OnFailureOrDefault(), task.RunIfOrDefault(), task.TimeoutDuration())
	}
	task = Task{OnFailure: "continue", RunIf: "always", Timeout: "90s"}
	if task.OnFailureOrDefault() != OnFailureContinue || task.RunIfOrDefault() != RunIfAlways || task.TimeoutDuration() != 90*time.Second {
		t.Errorf("set %+v", task)
	}
	if (flat{Body: "{}"}).HTTPMethod() != "POST" || (flat{}).HTTPMethod() != "GET" || (flat{Method: "put"}).HTTPMethod() != "PUT" {
		t.Error("http method defaults")
	}
}

const alertJSON = `{"id": "a1", "details": {"host": "app01", "svc": "dup licator", "quote": "a\"b", "n": 3, "unit": "duplicator",
	"dir": "/var/log", "pid": "-1", "args": "a[$(touch x)]", "msg": "-- disk full; $(reboot)",
	"dash": "--all", "obj": {"x": 1}, "nul": "a\u0000b", "ns": null}}`

func secrets(name string) (string, error) {
	if name == "lb" {
		return "s3cr3t-value", nil
	}
	return "", errors.New("no secret " + name)
}

func TestGovernor(t *testing.T) {
	tasks := `[{"task": {"task_type": "remote_ssh", "run_command": "x"}}]`
	r, err := Parse(ruleWith(t, tasks, map[string]any{"governor": map[string]any{
		"max_executions": 10, "max_executions_per_entity": 3, "window": "1h", "cooldown": "10m"}}))
	if err != nil {
		t.Fatal(err)
	}
	g := r.Governor
	if g.MaxExecutions != 10 || g.MaxExecutionsPerEntity != 3 || g.WindowDuration() != time.Hour || g.CooldownDuration() != 10*time.Minute {
		t.Errorf("governor %+v", g)
	}
	out, _ := json.Marshal(r)
	if again, err := Parse(out); err != nil || *again.Governor != *g {
		t.Errorf("round trip: %v", err)
	}
	var none *Governor
	if none.WindowDuration() != 0 || none.CooldownDuration() != 0 {
		t.Error("nil governor")
	}
	_, err = Parse(ruleWith(t, tasks, map[string]any{"governor": map[string]any{
		"max_executions": -1, "max_executions_per_entity": -2, "window": "0s", "cooldown": "x", "per_entity": true}}))
	var re Errors
	if !errors.As(err, &re) {
		t.Fatalf("err %v", err)
	}
	var paths []string
	for _, e := range re {
		paths = append(paths, e.Path)
	}
	slices.Sort(paths)
	want := []string{"governor.cooldown", "governor.max_executions", "governor.max_executions_per_entity", "governor.per_entity", "governor.window"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

// flat is a task's fields on one struct, as rule.Task had them before
// each type (shared/task/...) owned its own: what the render tests here
// write, rendered by the types' own code.
type flat struct {
	TaskType     string
	Argv         []string
	Env, Headers map[string]string
	Method, URL  string
	Body         string
}

// The render tests' names for the field package's and http type's types.
type (
	TemplateData = field.TemplateData
	HTTPRequest  = httptask.Request
)

func (f flat) http() *httptask.Params {
	return &httptask.Params{Method: f.Method, URL: f.URL, Headers: f.Headers, Body: f.Body}
}

func (f flat) RenderArgv(d TemplateData) ([]string, error) { return field.RenderArgv(f.Argv, d) }

func (f flat) RenderEnv(d TemplateData) (map[string]string, error) { return field.RenderEnv(f.Env, d) }

func (f flat) RenderHTTP(d TemplateData) (HTTPRequest, error) { return f.http().Render(d) }

func (f flat) HTTPMethod() string { return f.http().HTTPMethod() }
