package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/httpapi"
	"github.com/alexis-ops/alexis/classifier/internal/lint"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"
)

// errProblems makes the command exit 1 after it printed its findings.
var errProblems = errors.New("problems found")

// toolConfig is what lint and explain read of the configuration file,
// leniently: they run in a rules repository's CI too, where the service's
// other files do not exist.
type toolConfig struct {
	RulesDir string           `yaml:"rules_dir"`
	Tickets  registry.Config  `yaml:"tickets"`
	OpsGenie *opsgenie.Config `yaml:"opsgenie"`
}

func readToolConfig(configPath string) (*toolConfig, error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c toolConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", configPath, err)
	}
	if c.Tickets.Systems[opsgenie.System] == nil && c.OpsGenie != nil {
		c.Tickets.SetSystem(opsgenie.System, c.OpsGenie)
	}
	return &c, nil
}

// defaultRulesDir is ./rules, or the rules_dir of the configuration file
// when -config is given.
func defaultRulesDir(configPath string) (string, error) {
	if configPath == "" {
		return "rules", nil
	}
	c, err := readToolConfig(configPath)
	if err != nil {
		return "", err
	}
	if c.RulesDir == "" {
		return "", fmt.Errorf("config %s: rules_dir is not set", configPath)
	}
	return c.RulesDir, nil
}

// writebackCheck is the check the classifier applies when it loads rules
// with the ticket systems of the configuration file: nil, with a note on
// stderr, when they cannot be built here (e.g. their secrets are missing).
func writebackCheck(configPath string, stderr io.Writer) func(*rule.Rule) rule.Errors {
	if configPath == "" {
		return nil
	}
	c, err := readToolConfig(configPath)
	var set ticket.Set
	if err == nil {
		set, err = registry.Build(c.Tickets, zerolog.Nop())
	}
	if err != nil {
		fmt.Fprintf(stderr, "classifier lint: on_success and on_failure not checked against the ticket systems: %v\n", err)
		return nil
	}
	return func(r *rule.Rule) rule.Errors { return r.CheckWriteback(set) }
}

// parseInterleaved parses flags given before or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// runLint is "classifier lint [-config PATH] [-json] [DIR]".
func runLint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("classifier lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "read rules_dir (default DIR, or ./rules) and the ticket systems (to check on_success and on_failure) from this configuration file")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return fmt.Errorf("%w (lint takes one directory, got %q)", errUsage, pos)
	}
	dir := ""
	if len(pos) == 1 {
		dir = pos[0]
	} else if dir, err = defaultRulesDir(*configPath); err != nil {
		return err
	}
	rep, err := lint.DirChecked(ctx, dir, writebackCheck(*configPath, stderr))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			p.File = lint.Base(dir, p.File)
			fmt.Fprintln(stdout, p.String())
		}
		fmt.Fprintf(stdout, "lint %s: %s\n", dir, rep.Summary())
	}
	if !rep.OK() {
		return errProblems
	}
	return nil
}

// runExplain is "classifier explain [-rules DIR] [-json] [-now TIME] ALERT.json".
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("classifier explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "read rules_dir from this configuration file")
	dir := fs.String("rules", "", "rules directory (default: rules_dir of -config, or ./rules)")
	asJSON := fs.Bool("json", false, "print the answer POST /v1/rules/explain gives")
	nowFlag := fs.String("now", "", "decide at this RFC 3339 time instead of now (for min_age and duration)")
	feedType := fs.String("feed-type", alert.FeedTypeOpsGenie, "feed type of an alert file without an \"alexis\" object")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w (explain takes one alert file, or - for standard input)", errUsage)
	}
	if *dir == "" {
		if *dir, err = defaultRulesDir(*configPath); err != nil {
			return err
		}
	}
	now := time.Now()
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339Nano, *nowFlag); err != nil {
			return fmt.Errorf("-now: want an RFC 3339 time, got %q", *nowFlag)
		}
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return fmt.Errorf("read alert: %w", err)
	}
	env, err := readAlert(data, *feedType)
	if err != nil {
		return fmt.Errorf("alert %s: %w", pos[0], err)
	}

	loader := rules.NewDir(rules.DirOptions{Dir: *dir, Poll: true})
	defer loader.Close()
	set, err := loader.Load(ctx)
	if err != nil {
		return err
	}
	xs := rules.Explain(set, rules.NewAlert(env), now)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(httpapi.ExplainAnswer{UniqueValue: env.Meta.UniqueValue, FeedType: env.Meta.FeedType,
			Now: now.UTC(), Result: rules.Verdict(xs), Rules: xs})
	}
	printExplanations(stdout, *dir, xs)
	counts := map[string]int{}
	for _, x := range xs {
		counts[x.Status]++
	}
	var parts []string
	for _, s := range []string{rules.ExplainMatched, rules.ExplainDeferred, rules.ExplainNotMatched, rules.ExplainError,
		rules.ExplainInvalid, rules.ExplainDisabled, rules.ExplainOtherFeed} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(stdout, "result: %s (%d rule files: %s)\n", rules.Verdict(xs), len(xs), strings.Join(parts, ", "))
	return nil
}

// readAlert accepts an envelope, an OpsGenie Get Alert answer ({"data":
// {...}}) or a bare alert record, to which it adds an "alexis" object.
func readAlert(data []byte, feedType string) (*alert.Envelope, error) {
	if !gjson.ValidBytes(data) {
		return nil, errors.New("not valid JSON")
	}
	if d := gjson.GetBytes(data, "data"); d.IsObject() && !gjson.GetBytes(data, alert.MetaKey).Exists() {
		data = []byte(d.Raw)
	}
	if gjson.GetBytes(data, alert.MetaKey).Exists() {
		return alert.Decode(data)
	}
	uv := "explain"
	for _, k := range []string{"tinyId", "id"} {
		if v := gjson.GetBytes(data, k); v.Type == gjson.String && v.Str != "" {
			uv = v.Str
			break
		}
	}
	return alert.New(bytes.TrimSpace(data), alert.Meta{UniqueValue: uv, FeedType: feedType, FeedName: "explain"})
}

// printExplanations writes one line per rule file, and one more per
// alternative of a failed "any" block.
func printExplanations(w io.Writer, dir string, xs []rules.Explanation) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tRULE\tSTATUS\tWHY")
	for _, x := range xs {
		why := ""
		switch x.Status {
		case rules.ExplainNotMatched:
			why = describe(x.Failure)
		case rules.ExplainInvalid:
			if len(x.Errors) > 0 {
				why = x.Errors[0].Error()
				if len(x.Errors) > 1 {
					why += fmt.Sprintf(" (+%d more; see classifier lint)", len(x.Errors)-1)
				}
			}
		case rules.ExplainDeferred:
			why = fmt.Sprintf("alert is %s old; the rule waits %s", x.Age, x.Wait)
		case rules.ExplainError:
			why = x.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lint.Base(dir, x.File), x.RuleName, x.Status, oneLine(why))
		if x.Failure != nil {
			for _, alt := range x.Failure.Alternatives {
				fmt.Fprintf(tw, "\t\t\t  - %s\n", oneLine(describe(alt)))
			}
		}
	}
	tw.Flush()
}

func describe(f *rules.Failure) string {
	if f == nil {
		return ""
	}
	if f.AlertPath == "" {
		return fmt.Sprintf("%s: %s", f.RulePath, f.Reason)
	}
	s := fmt.Sprintf("%s: %s %s", f.RulePath, f.AlertPath, f.Op)
	if len(f.Expected) > 0 {
		s += " " + string(f.Expected)
	}
	s += ", saw " + f.Actual
	if f.Reason != "" {
		s += " (" + f.Reason + ")"
	}
	return s
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}
