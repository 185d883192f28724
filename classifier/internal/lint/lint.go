// Package lint checks a directory of rule files the way the classifier
// loads them, and warns about rules that load but probably do not do what
// their author meant.
package lint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/alexis-ops/alexis/shared/command"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket"
)

// Problem is one finding.
type Problem struct {
	File    string `json:"file"`
	Path    string `json:"path"` // JSON path in the file ("$": the whole file)
	Message string `json:"message"`
	Warning bool   `json:"warning,omitempty"` // a warning does not make the file invalid
}

func (p Problem) String() string {
	if p.Warning {
		return fmt.Sprintf("%s: %s: warning: %s", p.File, p.Path, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.File, p.Path, p.Message)
}

// Report is the result of linting a directory.
type Report struct {
	Dir      string    `json:"dir"`
	Files    int       `json:"files"`
	Valid    int       `json:"valid"`
	Invalid  int       `json:"invalid"`
	Warnings int       `json:"warnings"`
	Problems []Problem `json:"problems"`
}

// OK reports whether every file is valid (warnings allowed).
func (r *Report) OK() bool { return r.Invalid == 0 }

// Summary is the closing line of a lint run.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d rule files: %d valid, %d invalid, %d warnings", r.Files, r.Valid, r.Invalid, r.Warnings)
}

// Dir lints the rule files of dir as the classifier would load them.
func Dir(ctx context.Context, dir string) (*Report, error) {
	return DirChecked(ctx, dir, nil)
}

// DirChecked is Dir with a check that depends on the service's
// configuration (see rules.WithCheck); nil checks nothing more.
func DirChecked(ctx context.Context, dir string, check func(*rule.Rule) rule.Errors) (*Report, error) {
	var compile rules.Compiler
	if check != nil {
		compile = rules.WithCheck(rules.Compile, check)
	}
	loader := rules.NewDir(rules.DirOptions{Dir: dir, Poll: true, Compile: compile})
	defer loader.Close()
	set, err := loader.Load(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{Dir: dir, Files: len(set.Files), Problems: []Problem{}}
	byFile := map[string]*rules.Rule{}
	for _, r := range set.Rules {
		byFile[r.File] = r
	}
	for _, f := range set.Files {
		if f.Status != rules.StatusOK {
			rep.Invalid++
			for _, e := range f.Errors {
				rep.Problems = append(rep.Problems, Problem{File: f.Path, Path: e.Path, Message: e.Msg})
			}
			continue
		}
		rep.Valid++
		if r := byFile[f.Path]; r != nil {
			for _, w := range Warnings(r.Def) {
				w.File, w.Warning = f.Path, true
				rep.Problems = append(rep.Problems, w)
				rep.Warnings++
			}
		}
	}
	return rep, nil
}

// reShell finds a template action passed to something that runs its
// argument as shell code again, where quoting no longer protects it.
var reShell = regexp.MustCompile(`(?:^|[;&|(\s])(?:eval|(?:ba|da|k|z)?sh\s+(?:-\w+\s+)*-c|su\s+(?:\S+\s+)*-c|ssh|xargs)\s[^;&|\n]*\{\{`)

// Warnings lists likely mistakes in a valid rule (File and Warning unset).
func Warnings(def *rule.Rule) []Problem {
	var ws []Problem
	add := func(path, format string, args ...any) {
		ws = append(ws, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for i, item := range def.Evaluations {
		e := item.Evaluation
		if e.SearchKey != "" {
			if msg := literalMistake(e.SearchText); msg != "" {
				add(fmt.Sprintf("evaluation_list[%d].evaluation.search_text", i), "%s", msg)
			}
		}
	}
	if def.When != nil {
		walk(def.When, "when", func(c *rule.Cond, path string) {
			if c.Op != rule.OpRegex && c.Op != rule.OpIRegex {
				return
			}
			var s string
			if json.Unmarshal(c.Value, &s) == nil {
				if msg := literalMistake(s); msg != "" {
					add(path+".value", "%s", msg)
				}
			}
		})
	}
	for i, item := range def.Tasks {
		t := item.Task
		p := fmt.Sprintf("task_list[%d].task", i)
		if !t.Template && strings.Contains(t.RunCommand, "{{") {
			add(p+".run_command", `contains "{{" but "template" is not true: it runs literally, braces and all`)
		}
		raw := false
		if t.Template {
			if tmpl, err := command.Parse(t.RunCommand); err == nil {
				raw = tmpl.UsesRaw()
			}
			if reShell.MatchString(t.RunCommand) {
				add(p+".run_command", "a value is passed to a command that runs it as shell code again (eval, sh -c, su -c, ssh, xargs): quoting protects one shell only")
			}
		}
		if t.UnsafeReason != "" && !raw {
			add(p+".unsafe_reason", "set, but run_command does not use raw_unsafe")
		}
	}
	if def.OnFailure != nil && !slices.ContainsFunc(def.OnFailure, routes) {
		add("on_failure", "no add_team, add_responder or escalate: a failed remediation is routed to no one")
	}
	addsRoute := func(op ticket.Op) bool { return op.Kind == ticket.KindAddTeam && op.Value == def.RouteToTeam }
	if def.OnSuccess != nil && def.RouteToTeam != "" && !slices.ContainsFunc(def.OnSuccess, addsRoute) {
		add("route_to_team", `not added when on_success is set: add {"op": "add_team", "value": %q} to on_success if it should be`, def.RouteToTeam)
	}
	return ws
}

// routes reports whether op sends the alert to people.
func routes(op ticket.Op) bool {
	switch op.Kind {
	case ticket.KindAddTeam, ticket.KindAddResponder, ticket.KindEscalate:
		return true
	}
	return false
}

var bracketWord = regexp.MustCompile(`\[[A-Za-z]{3,}\]`)

// literalMistake warns about a regular expression that looks like text
// meant literally: it has unescaped metacharacters and does not match
// itself.
func literalMistake(expr string) string {
	re, err := regexp.Compile(expr)
	if err != nil || regexp.QuoteMeta(expr) == expr || re.MatchString(expr) {
		return ""
	}
	// The usual mistakes: text in parentheses, and a bracketed word
	// ("[ERROR]" is a class of one character).
	if !strings.ContainsAny(expr, "()") && !bracketWord.MatchString(expr) || strings.ContainsAny(expr, `\^$`) {
		return ""
	}
	return fmt.Sprintf("regular expression %q does not match its own text; if it is meant literally, escape it: %q",
		expr, regexp.QuoteMeta(expr))
}

func walk(c *rule.Cond, path string, fn func(*rule.Cond, string)) {
	switch c.Kind() {
	case rule.KindAll:
		for i := range c.All {
			walk(&c.All[i], fmt.Sprintf("%s.all[%d]", path, i), fn)
		}
	case rule.KindAny:
		for i := range c.Any {
			walk(&c.Any[i], fmt.Sprintf("%s.any[%d]", path, i), fn)
		}
	case rule.KindNot:
		walk(c.Not, path+".not", fn)
	default:
		fn(c, path)
		if c.Cond != nil {
			walk(c.Cond, path+".cond", fn)
		}
	}
}

// Base shortens file paths under dir for printing.
func Base(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// File lints one rule file's content as the classifier would load it from
// a file named name: the same compile errors and check as DirChecked, and
// the same warnings. others, when not nil, are the rule files loaded now:
// a rule_name another file already defines is an error, as it would be in
// the directory. The problems carry name as their File.
func File(name string, data []byte, check func(*rule.Rule) rule.Errors, others []rules.File) []Problem {
	problems := []Problem{}
	if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
		problems = append(problems, Problem{File: name, Path: "$",
			Message: "not a rule file name: want NAME.json (no directory, not starting with a dot); the classifier ignores other files"})
	}
	if len(data) > rules.MaxFileSize {
		return append(problems, Problem{File: name, Path: "$", Message: fmt.Sprintf("file is larger than %d bytes", rules.MaxFileSize)})
	}
	compile := rules.Compile
	if check != nil {
		compile = rules.WithCheck(rules.Compile, check)
	}
	def, _, err := compile(data)
	if err != nil {
		var errs rule.Errors
		if !errors.As(err, &errs) {
			errs = rule.Errors{{Path: "$", Msg: err.Error()}}
		}
		for _, e := range errs {
			problems = append(problems, Problem{File: name, Path: e.Path, Message: e.Msg})
		}
		return problems
	}
	for _, f := range others {
		if f.Status == rules.StatusOK && f.RuleName == def.Name && filepath.Base(f.Path) != name {
			problems = append(problems, Problem{File: name, Path: "rule_name",
				Message: fmt.Sprintf("duplicate rule_name %q, already defined in %s", def.Name, filepath.Base(f.Path))})
		}
	}
	for _, w := range Warnings(def) {
		w.File, w.Warning = name, true
		problems = append(problems, w)
	}
	return problems
}

// Invalid reports whether problems hold an error (not only warnings).
func Invalid(problems []Problem) bool {
	return slices.ContainsFunc(problems, func(p Problem) bool { return !p.Warning })
}
