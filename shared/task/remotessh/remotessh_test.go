package remotessh

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/task"
)

type fakeExec struct{ got Request }

func (f *fakeExec) Exec(_ context.Context, r Request) Response {
	f.got = r
	if r.Started != nil {
		r.Started(42, "123")
	}
	return Response{ExitCode: 0, Stdout: "ok", Truncated: true}
}

func TestRunThroughExecutor(t *testing.T) {
	f := &fakeExec{}
	var pid int
	s := task.Step{ExecutionID: "x1", Index: 2, Entity: "app01:2222", Alert: []byte(`{"details": {"unit": "dup"}}`),
		Task:          task.Task{TaskType: Name, Template: true, RunCommand: "systemctl restart {{ .details.unit }}", Timeout: "3s"},
		RemoteStarted: func(p int, _ string) { pid = p }}
	r, err := Type{}.NewRunner(task.Env{Options: map[string]any{Name: Options{Exec: f}}})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background(), s)
	if res.Err != nil || res.Command != "systemctl restart 'dup'" || res.Stdout != "ok" || !res.Truncated || pid != 42 {
		t.Errorf("result %+v, pid %d", res, pid)
	}
	if f.got.Entity != "app01:2222" || f.got.Timeout != 3*time.Second || f.got.ExecutionID != "x1" || f.got.Index != 2 {
		t.Errorf("request %+v", f.got)
	}
	if d, err := r.Describe(s); err != nil || d != "run 'systemctl restart 'dup''" {
		t.Errorf("describe %q %v", d, err)
	}
	if res := New(nil).Run(context.Background(), s); res.Err == nil || !strings.Contains(res.Err.Error(), "no SSH executor") {
		t.Errorf("without executor: %+v", res)
	}
}

func TestDecodeRequiresRunCommand(t *testing.T) {
	if _, probs := (Type{}).Decode(task.Task{TaskType: Name, RunCommand: " "}, nil); len(probs) != 1 || probs[0].Path != "run_command" {
		t.Errorf("problems %v", probs)
	}
}
