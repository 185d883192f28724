// Package task is what the engine asks of a task type, under the names the
// engine uses: the contracts themselves live in shared/task (a task type
// is one package under shared/task, listed in shared/task/tasks, so the
// classifier checks its parameters with the same code that runs it).
package task

import "github.com/alexis-ops/alexis/shared/task"

// Step is one task of a rule to run for one entity (shared/task.Step).
type Step = task.Step

// Result is what a step did (shared/task.Result).
type Result = task.Result

// Runner runs one task type (shared/task.Runner).
type Runner = task.Runner
