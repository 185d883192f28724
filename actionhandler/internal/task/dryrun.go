package task

import (
	"context"
	"errors"

	"github.com/alexis-ops/alexis/shared/task"
)

// DryRun wraps r for development mode: its Run runs nothing and returns
// what r would do (r.Describe) as the Result's Command, or why it could
// not (Describe's error) as its Err; r nil stands for a task type without
// a runner. The engine asks IsDryRun of a step's runner and records what
// a dry runner returns as a dry_run step: a dry run never succeeds, fails
// or is refused, so every later task is described on every host and no
// delay_after is waited.
func DryRun(r Runner) Runner { return dryRun{r} }

// DryRunAll returns rs with every runner wrapped in DryRun.
func DryRunAll(rs map[string]Runner) map[string]Runner {
	out := make(map[string]Runner, len(rs))
	for name, r := range rs {
		out[name] = DryRun(r)
	}
	return out
}

// IsDryRun says whether r runs nothing (DryRun).
func IsDryRun(r Runner) bool {
	_, ok := r.(dryRun)
	return ok
}

type dryRun struct{ r Runner }

// Run describes s: Command what would run (" (only if an earlier task
// fails)" added for run_if failure), Err why it could not.
func (d dryRun) Run(_ context.Context, s Step) Result {
	desc, err := d.Describe(s)
	if err == nil && s.Task.RunIfOrDefault() == task.RunIfFailure {
		desc += " (only if an earlier task fails)"
	}
	return Result{Command: desc, ExitCode: -1, Err: err}
}

func (d dryRun) Describe(s Step) (string, error) {
	if d.r == nil {
		return "", errors.New("no runner for task type " + s.Task.TaskType)
	}
	return d.r.Describe(s)
}
