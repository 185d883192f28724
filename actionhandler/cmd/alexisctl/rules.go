package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
)

// The classifier's answers (classifier/internal/httpapi, which this module
// cannot import), as far as alexisctl reads them.

type fieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ruleFile is one entry of GET /v1/rules.
type ruleFile struct {
	File        string       `json:"file"`
	RuleName    string       `json:"rule_name"`
	RuleVersion string       `json:"rule_version"`
	Enabled     bool         `json:"enabled"`
	Status      string       `json:"status"`
	Errors      []fieldError `json:"errors"`
	Modified    time.Time    `json:"modified"`
}

type rulesAnswer struct {
	Rules []ruleFile `json:"rules"`
}

// lintAnswer is POST /v1/rules/lint's.
type lintAnswer struct {
	OK     bool `json:"ok"`
	Errors []struct {
		File    string `json:"file"`
		Path    string `json:"path"`
		Message string `json:"message"`
		Warning bool   `json:"warning"`
	} `json:"errors"`
}

// explainAnswer is POST /v1/rules/explain's.
type explainAnswer struct {
	UniqueValue string        `json:"unique_value"`
	FeedType    string        `json:"feed_type"`
	Now         time.Time     `json:"now"`
	Result      string        `json:"result"`
	Rules       []explanation `json:"rules"`
}

type explanation struct {
	File        string       `json:"file"`
	RuleName    string       `json:"rule_name"`
	RuleVersion string       `json:"rule_version"`
	Status      string       `json:"status"`
	Failure     *failure     `json:"failure"`
	Errors      []fieldError `json:"errors"`
	Error       string       `json:"error"`
	Wait        string       `json:"wait"`
	Age         string       `json:"age"`
}

type failure struct {
	RulePath     string          `json:"rule_path"`
	AlertPath    string          `json:"alert_path"`
	Op           string          `json:"op"`
	Expected     json.RawMessage `json:"expected"`
	Actual       string          `json:"actual"`
	Reason       string          `json:"reason"`
	Alternatives []*failure      `json:"alternatives"`
}

// maxRuleFile is the largest rule or alert file sent (the services' body
// limit is of this order).
const maxRuleFile = 1 << 20

func rulesList(ctx context.Context, a *app, args []string) error {
	fs := a.flags("rules list")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("rules list: takes no arguments")
	}
	c, err := a.classifier()
	if err != nil {
		return err
	}
	var ans rulesAnswer
	raw, err := c.get(ctx, "/v1/rules", nil, &ans)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(raw)
	}
	t := newTable(a.stdout, "FILE", "RULE", "VERSION", "ENABLED", "STATUS", "MODIFIED")
	for _, r := range ans.Rules {
		t.row(cell(r.File, 50), cell(r.RuleName, 40), cell(r.RuleVersion, 12), strconv.FormatBool(r.Enabled),
			cell(r.Status, 0), stamp(r.Modified))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, r := range ans.Rules {
		for _, e := range r.Errors {
			fmt.Fprintf(a.stdout, "%s: %s: %s\n", cell(r.File, 0), cell(e.Path, 0), cell(e.Message, 300))
		}
	}
	return nil
}

func rulesLint(ctx context.Context, a *app, args []string) error {
	fs := a.flags("rules lint")
	files, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("rules lint: want one or more rule files")
	}
	c, err := a.classifier()
	if err != nil {
		return err
	}
	invalid := 0
	var answers []json.RawMessage
	for _, path := range files {
		data, err := readInput(path, maxRuleFile, "rules lint")
		if err != nil {
			return err
		}
		var ans lintAnswer
		_, raw, err := c.post(ctx, "/v1/rules/lint", url.Values{"name": {filepath.Base(path)}}, data, &ans)
		if err != nil {
			return err
		}
		if !ans.OK {
			invalid++
		}
		if a.json() {
			answers = append(answers, raw)
			continue
		}
		verdict := "ok"
		if !ans.OK {
			verdict = "invalid"
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", cell(path, 0), verdict)
		for _, p := range ans.Errors {
			kind := "error"
			if p.Warning {
				kind = "warning"
			}
			fmt.Fprintf(a.stdout, "  %s: %s: %s\n", kind, cell(p.Path, 0), cell(p.Message, 300))
		}
	}
	if a.json() {
		out := map[string]json.RawMessage{}
		for i, path := range files {
			out[path] = answers[i]
		}
		if err := a.printValue(out); err != nil {
			return err
		}
	}
	if invalid > 0 {
		if !a.json() {
			fmt.Fprintf(a.stderr, "%d of %d rule files invalid\n", invalid, len(files))
		}
		return errReported
	}
	return nil
}

func rulesExplain(ctx context.Context, a *app, args []string) error {
	fs := a.flags("rules explain")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("rules explain: want one alert file (an envelope: the alert with its \"alexis\" object)")
	}
	data, err := readInput(pos[0], maxRuleFile, "rules explain")
	if err != nil {
		return err
	}
	if _, err := alert.Decode(data); err != nil {
		return usagef("rules explain: %s: %v", cleanLine(pos[0]), err)
	}
	c, err := a.classifier()
	if err != nil {
		return err
	}
	var ans explainAnswer
	_, raw, err := c.post(ctx, "/v1/rules/explain", nil, data, &ans)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "alert %s (%s): %s, decided at %s\n", cell(ans.UniqueValue, 0), cell(ans.FeedType, 0),
		cell(ans.Result, 0), stamp(ans.Now))
	t := newTable(a.stdout, "FILE", "RULE", "STATUS", "WHY")
	for _, x := range ans.Rules {
		t.row(cell(x.File, 50), cell(x.RuleName, 40), cell(x.Status, 0), explainWhy(x))
	}
	return t.flush()
}

// explainWhy is one line saying why a rule did not match.
func explainWhy(x explanation) string {
	switch {
	case x.Failure != nil:
		return failureText(x.Failure, 0)
	case len(x.Errors) > 0:
		var parts []string
		for _, e := range x.Errors {
			parts = append(parts, e.Path+": "+e.Message)
		}
		return cell(strings.Join(parts, "; "), 200)
	case x.Error != "":
		return cell(x.Error, 200)
	case x.Wait != "":
		return cell("alert is "+orString(x.Age, "?")+" old, the rule waits "+x.Wait, 0)
	}
	return "-"
}

func failureText(f *failure, depth int) string {
	s := f.RulePath + ":"
	if f.AlertPath != "" {
		s += " " + f.AlertPath
	}
	if f.Op != "" {
		s += " " + f.Op
	}
	if len(f.Expected) > 0 {
		s += " " + string(f.Expected)
	}
	if f.Actual != "" {
		s += ", saw " + f.Actual
	}
	if f.Reason != "" {
		s += " (" + f.Reason + ")"
	}
	if depth < 2 && len(f.Alternatives) > 0 {
		var alts []string
		for _, alt := range f.Alternatives {
			alts = append(alts, failureText(alt, depth+1))
		}
		s += " [any: " + strings.Join(alts, " | ") + "]"
	}
	if depth > 0 {
		return s
	}
	return cell(s, 240)
}
