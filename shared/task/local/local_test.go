package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/proc"
)

const alert = `{"id": "a1", "details": {"svc": "dup licator; rm -rf /", "opt": "--force"}}`

func step(argv []string, env map[string]string) task.Step {
	return task.Step{ExecutionID: "x1", AlertID: "a1", RuleName: "r", Index: 2, Entity: "app01",
		Task: task.Task{TaskType: Name, Params: &Params{Argv: argv, Env: env}}, Alert: []byte(alert),
		Secret: func(n string) (string, error) {
			if n == "tok" {
				return "the-token", nil
			}
			return "", errors.New("none")
		}}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	r, err := New(Options{Allowed: []string{"sh", "env", "/bin/echo", "sleep"}, Dir: dir, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		argv   []string
		env    map[string]string
		stdout string
		code   int
		err    error
		errMsg string
	}{
		{name: "argv, no shell", argv: []string{"/bin/echo", "{{ .details.svc | text }}"}, stdout: "dup licator; rm -rf /\n"},
		{name: "value refused by its type", argv: []string{"/bin/echo", "{{ .details.svc }}"}, code: -1, err: command.ErrValueRefused},
		{name: "clean environment", argv: []string{"env"}, env: map[string]string{"TOKEN": `{{ secret "tok" }}`},
			stdout: "ALEXIS_ALERT_ID=a1\nALEXIS_ENTITY=app01\nALEXIS_EXECUTION_ID=x1\nALEXIS_RULE_NAME=r\nALEXIS_TASK_INDEX=2\n" +
				"PATH=" + proc.DefaultPath + "\nTOKEN=the-token\n"},
		{name: "exit code", argv: []string{"sh", "-c", "echo oops >&2; exit 4"}, code: 4, err: proc.ErrExitStatus},
		{name: "not allowed", argv: []string{"cat", "/etc/passwd"}, code: -1, err: ErrNotAllowed},
		{name: "relative path", argv: []string{"./sh"}, code: -1, err: ErrNotAllowed},
		{name: "option from the alert", argv: []string{"/bin/echo", "{{ .details.opt }}"}, code: -1, errMsg: `starts with "-"`},
		{name: "working directory", argv: []string{"sh", "-c", "pwd"}, stdout: dir + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.Run(context.Background(), step(tc.argv, tc.env))
			if res.Stdout != tc.stdout && tc.stdout != "" || res.ExitCode != tc.code {
				t.Errorf("stdout %q exit %d, want %q %d (err %v)", res.Stdout, res.ExitCode, tc.stdout, tc.code, res.Err)
			}
			switch {
			case tc.err != nil && !errors.Is(res.Err, tc.err), tc.errMsg != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errMsg)),
				tc.err == nil && tc.errMsg == "" && res.Err != nil:
				t.Errorf("err %v, want %v %q", res.Err, tc.err, tc.errMsg)
			}
		})
	}
	res := r.Run(context.Background(), step([]string{"/bin/echo", "{{ .details.svc | text }}"}, nil))
	if res.Command != `/bin/echo 'dup licator; rm -rf /'` {
		t.Errorf("command %q", res.Command)
	}
	if d, err := r.Describe(step([]string{"/bin/echo", "{{ entity }}"}, nil)); d != "run locally /bin/echo app01" || err != nil {
		t.Errorf("describe %q %v", d, err)
	}
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	r, err := New(Options{Allowed: []string{"sh"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := step([]string{"sh", "-c", "sleep 600 & echo $! > child.pid; wait"}, nil)
	s.Task.Timeout = "300ms"
	res := r.Run(context.Background(), s)
	if !errors.Is(res.Err, proc.ErrTimeout) || res.ExitCode != -1 {
		t.Fatalf("err %v exit %d", res.Err, res.ExitCode)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "child.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 1 {
		t.Fatalf("pid %q", b)
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(st), ") Z ") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("child still running after the timeout: %s", st)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := r.Run(ctx, step([]string{"sh", "-c", "true"}, nil)); !errors.Is(res.Err, proc.ErrCancelled) {
		t.Errorf("cancelled: %v", res.Err)
	}
}

func TestDisabledAndBadAllowList(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res := r.Run(context.Background(), step([]string{"sh"}, nil)); !errors.Is(res.Err, ErrNotAllowed) || !strings.Contains(res.Err.Error(), "disabled") {
		t.Errorf("err %v", res.Err)
	}
	if _, err := New(Options{Allowed: []string{"no-such-program-here"}}); err == nil {
		t.Error("unknown allowed program accepted")
	}
}
