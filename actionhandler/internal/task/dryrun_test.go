package task

import (
	"context"
	"errors"
	"testing"

	"github.com/alexis-ops/alexis/shared/task"
)

type loud struct {
	ran  bool
	desc string
	err  error
}

func (l *loud) Run(context.Context, Step) Result { l.ran = true; return Result{Command: "ran"} }
func (l *loud) Describe(Step) (string, error)    { return l.desc, l.err }

func TestDryRun(t *testing.T) {
	bad := errors.New("template: value refused")
	cases := []struct {
		name    string
		r       Runner
		runIf   string
		command string
		err     string
	}{
		{name: "describes", r: &loud{desc: "run 'x'"}, command: "run 'x'"},
		{name: "conditional", r: &loud{desc: "run 'x'"}, runIf: task.RunIfFailure, command: "run 'x' (only if an earlier task fails)"},
		{name: "describe fails", r: &loud{err: bad}, runIf: task.RunIfFailure, err: bad.Error()},
		{name: "no runner", r: nil, err: "no runner for task type toy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DryRun(tc.r)
			if !IsDryRun(d) {
				t.Fatal("IsDryRun false")
			}
			res := d.Run(context.Background(), Step{Task: task.Task{TaskType: "toy", RunIf: tc.runIf}})
			if l, ok := tc.r.(*loud); ok && l.ran {
				t.Fatal("the wrapped runner ran")
			}
			if res.Command != tc.command || res.ExitCode != -1 {
				t.Errorf("result %+v, want command %q", res, tc.command)
			}
			if got := ""; res.Err != nil {
				got = res.Err.Error()
				if got != tc.err {
					t.Errorf("error %q, want %q", got, tc.err)
				}
			} else if tc.err != "" {
				t.Errorf("no error, want %q", tc.err)
			}
		})
	}
	all := DryRunAll(map[string]Runner{"a": &loud{}})
	if IsDryRun(&loud{}) || !IsDryRun(all["a"]) || len(all) != 1 {
		t.Errorf("DryRunAll %v", all)
	}
}
