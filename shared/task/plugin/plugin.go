// Package plugin is the plugin task type: run an executable from the
// configured plugins directory, give it the merged alert+rule as JSON on
// stdin, and read its answer as JSON on stdout:
//
//	{"status": "success" | "failure", "message": "one line for people", "output": "details"}
//
// The plugin's environment is PATH, the ALEXIS_* variables naming the step
// (ALEXIS_ENTITY, ALEXIS_TASK_INDEX, ...) and the task's env. It fails when
// it exits non-zero, answers status failure, or answers anything else than
// that JSON object.
//
//	{"task_type": "plugin", "plugin": "restart-pod", "env": {"NAMESPACE": "prod"}}
package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/task"
	"github.com/alexis-ops/alexis/shared/task/field"
	"github.com/alexis-ops/alexis/shared/task/proc"
)

// Name is the task_type this package runs.
const Name = "plugin"

// Defaults.
const (
	DefaultTimeout     = 5 * time.Minute
	DefaultOutputLimit = 64 << 10
)

// Answer statuses.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
)

// Answer is what a plugin writes on stdout.
type Answer struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Output  string `json:"output,omitempty"`
}

// ErrNoPlugin is returned for a plugin that is not in the directory.
var ErrNoPlugin = errors.New("no such plugin")

// Options configure the runner.
type Options struct {
	Dir         string // the plugins directory; empty: plugin tasks are refused
	Path        string // PATH of the plugins; default proc.DefaultPath
	Timeout     time.Duration
	OutputLimit int
}

// Runner runs plugin tasks.
type Runner struct{ o Options }

// New returns a Runner.
func New(o Options) *Runner {
	if o.Path == "" {
		o.Path = proc.DefaultPath
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	return &Runner{o: o}
}

var name = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Find returns the plugin's path: a file directly in the plugins
// directory, never elsewhere.
func (r *Runner) Find(plugin string) (string, error) {
	if r.o.Dir == "" {
		return "", fmt.Errorf("%w %q: plugin tasks are disabled (set plugins_dir)", ErrNoPlugin, plugin)
	}
	if !name.MatchString(plugin) {
		return "", fmt.Errorf("%w %q: a plugin is a file name (letters, digits, . _ -)", ErrNoPlugin, plugin)
	}
	p := filepath.Join(r.o.Dir, plugin)
	if filepath.Dir(p) != filepath.Clean(r.o.Dir) {
		return "", fmt.Errorf("%w %q", ErrNoPlugin, plugin)
	}
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w %q in %s (want an executable file)", ErrNoPlugin, plugin, r.o.Dir)
	}
	return p, nil
}

// Run runs the plugin.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	p, err := params(s.Task)
	if err != nil {
		return task.Result{ExitCode: -1, Err: err}
	}
	res := task.Result{Command: "plugin " + p.Plugin, ExitCode: -1}
	path, err := r.Find(p.Plugin)
	if err != nil {
		res.Err = err
		return res
	}
	env, err := s.ProcessEnv(p.Env, r.o.Path)
	if err != nil {
		res.Err = err
		return res
	}
	pr := proc.Run(ctx, proc.Cmd{Path: path, Env: env, Dir: r.o.Dir, Stdin: s.Request,
		Timeout: s.Timeout(r.o.Timeout), OutputLimit: r.o.OutputLimit})
	res.ExitCode, res.Stderr, res.Truncated, res.Elapsed = pr.ExitCode, pr.Stderr, pr.Truncated, pr.Elapsed
	var a Answer
	dec := json.NewDecoder(strings.NewReader(pr.Stdout))
	dec.DisallowUnknownFields()
	answerErr := dec.Decode(&a)
	if answerErr == nil && (a.Status != StatusSuccess && a.Status != StatusFailure) {
		answerErr = fmt.Errorf(`status %q: want "success" or "failure"`, a.Status)
	}
	if answerErr != nil {
		res.Stdout = pr.Stdout // show what it said instead
	} else {
		res.Stdout = a.Output
		if a.Message != "" {
			res.Stdout = strings.TrimSpace(a.Message + "\n" + a.Output)
		}
	}
	switch {
	case pr.Err != nil:
		res.Err = pr.Err
		if answerErr == nil && a.Message != "" {
			res.Err = fmt.Errorf("%w: %s", pr.Err, a.Message)
		}
	case answerErr != nil:
		res.Err = fmt.Errorf("plugin %s answered no valid JSON answer on stdout (want {\"status\": \"success|failure\", \"message\": ..., \"output\": ...}): %v",
			p.Plugin, trimErr(answerErr))
	case a.Status == StatusFailure:
		msg := a.Message
		if msg == "" {
			msg = "the plugin reported failure"
		}
		res.Err = errors.New(msg)
	}
	return res
}

func trimErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return string(bytes.TrimSpace([]byte(s)))
}

// Describe says what Run would do.
func (r *Runner) Describe(s task.Step) (string, error) {
	p, err := params(s.Task)
	if err != nil {
		return "", err
	}
	if _, err := field.RenderEnv(p.Env, s.Data()); err != nil {
		return "", err
	}
	return "run plugin " + p.Plugin, nil
}
