// Package local is the local task type: run a program on the action
// handler's own host (ansible-playbook, kubectl, ...), from an argv list,
// never through a shell, with a clean environment: PATH, the ALEXIS_*
// variables naming the step, and the task's env. Only programs the
// configuration allows may run (the action handler's host holds the keys
// to the fleet).
//
//	{"task_type": "local", "argv": ["ansible-playbook", "-l", "{{ entity }}", "restart.yml"],
//	 "env": {"HOME": "/var/lib/alexis"}, "timeout": "10m"}
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/field"
	"github.com/alexis-ops/alexis/shared/task/proc"
)

// Name is the task_type this package runs.
const Name = "local"

// Defaults.
const (
	DefaultTimeout     = 5 * time.Minute
	DefaultOutputLimit = 64 << 10
)

// ErrNotAllowed is returned for a program the configuration does not list.
var ErrNotAllowed = errors.New("program not allowed")

// Options configure the runner.
type Options struct {
	// Allowed are the programs local tasks may run: absolute paths, or
	// names looked up in Path. Empty: local tasks are refused.
	Allowed     []string
	Path        string // PATH of the programs; default proc.DefaultPath
	Dir         string // working directory; default the system temporary directory
	Timeout     time.Duration
	OutputLimit int
}

// Runner runs local tasks.
type Runner struct {
	o       Options
	allowed map[string]bool // resolved absolute paths
}

// New resolves the allowed programs; a listed program that does not exist
// is an error (a typo should not wait for the first alert).
func New(o Options) (*Runner, error) {
	if o.Path == "" {
		o.Path = proc.DefaultPath
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	r := &Runner{o: o, allowed: map[string]bool{}}
	for _, a := range o.Allowed {
		p, err := proc.LookPath(a, o.Path)
		if err != nil {
			return nil, fmt.Errorf("local: allowed program %s", err)
		}
		r.allowed[p] = true
	}
	return r, nil
}

// Run runs the task's argv.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	p, err := params(s.Task)
	if err != nil {
		return task.Result{ExitCode: -1, Err: err}
	}
	argv, err := field.RenderArgv(p.Argv, s.Data())
	if err != nil {
		return task.Result{Command: strings.Join(p.Argv, " "), ExitCode: -1, Err: err}
	}
	res := task.Result{Command: quote(argv), ExitCode: -1}
	path, err := r.resolve(argv[0])
	if err != nil {
		res.Err = err
		return res
	}
	env, err := s.ProcessEnv(p.Env, r.o.Path)
	if err != nil {
		res.Err = err
		return res
	}
	pr := proc.Run(ctx, proc.Cmd{Path: path, Args: argv[1:], Env: env, Dir: r.o.Dir,
		Timeout: s.Timeout(r.o.Timeout), OutputLimit: r.o.OutputLimit})
	res.ExitCode, res.Stdout, res.Stderr, res.Truncated, res.Elapsed, res.Err =
		pr.ExitCode, pr.Stdout, pr.Stderr, pr.Truncated, pr.Elapsed, pr.Err
	return res
}

func (r *Runner) resolve(name string) (string, error) {
	if len(r.allowed) == 0 {
		return "", fmt.Errorf("%w: local tasks are disabled (list programs in local.allowed)", ErrNotAllowed)
	}
	p, err := proc.LookPath(name, r.o.Path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotAllowed, err)
	}
	if !r.allowed[p] {
		return "", fmt.Errorf("%w: %s is not in local.allowed", ErrNotAllowed, name)
	}
	return p, nil
}

// Describe says what Run would do.
func (r *Runner) Describe(s task.Step) (string, error) {
	p, err := params(s.Task)
	if err != nil {
		return "", err
	}
	argv, err := field.RenderArgv(p.Argv, s.Data())
	if err != nil {
		return "", err
	}
	return "run locally " + quote(argv), nil
}

// quote writes argv for people: words with spaces or quotes in '...'.
func quote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>(){}*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
