package main

// replay (docs/rollout.md#replay): re-classify the recorded alerts with a
// candidate rules directory (POST /v1/replay on the action handler, scope
// read) and show what would differ; nothing runs, nothing is written.
// -fail-on-change exits exitChanged when anything differs, for a rules
// repository's CI.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/rules"
)

// exitChanged: replay -fail-on-change found a difference.
const exitChanged = 6

type replayOptions struct {
	rules, since, until string
	limit               int
	failOnChange        bool
}

func (o *replayOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.rules, "rules", "", "the candidate rules directory: its *.json files, as the classifier reads them (required)")
	fs.StringVar(&o.since, "since", "7d", "alerts received since: a duration back (24h, 7d) or an RFC 3339 time")
	fs.StringVar(&o.until, "until", "", "alerts received before: a duration back or an RFC 3339 time (default now)")
	fs.IntVar(&o.limit, "limit", 1000, "replay the newest N recorded alerts at most (1 to 10000)")
	fs.BoolVar(&o.failOnChange, "fail-on-change", false, fmt.Sprintf("exit %d when any alert would be decided or run differently", exitChanged))
}

func replayCommand(ctx context.Context, a *app, args []string) error {
	var o replayOptions
	fs := a.flags("replay")
	o.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("replay: unexpected argument %q (the rules directory is -rules DIR)", cleanLine(pos[0]))
	}
	if o.rules == "" {
		return usagef("replay: -rules DIR is required")
	}
	if o.limit < 1 || o.limit > 10000 {
		return usagef("-limit: want 1 to 10000")
	}
	now := a.now()
	req := api.ReplayRequest{Limit: o.limit}
	for _, t := range []struct {
		key, value string
		out        *string
	}{{"since", o.since, &req.Since}, {"until", o.until, &req.Until}} {
		tm, err := report.ParseSince(t.value, now)
		if err != nil {
			return usagef("-%s: %v", t.key, err)
		}
		if !tm.IsZero() {
			*t.out = tm.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
	}
	if req.Rules, err = readRulesDir(o.rules); err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	c, err := a.actionHandler()
	if err != nil {
		return err
	}
	var ans api.ReplayAnswer
	_, raw, err := c.post(ctx, "/v1/replay", nil, body, &ans)
	if err != nil {
		return err
	}
	if a.json() {
		err = a.printJSON(raw)
	} else {
		err = printReplay(a, &ans, len(req.Rules))
	}
	if err != nil {
		return err
	}
	if ans.Truncated {
		a.warn("replay-truncated", "more recorded alerts were in the range than -limit %d: the oldest were not replayed", o.limit)
	}
	if o.failOnChange && ans.Changes() > 0 {
		return &exitError{code: exitChanged, err: fmt.Errorf("replay: %d alert(s) would be decided or run differently", ans.Changes())}
	}
	return nil
}

// readRulesDir reads the rule files of dir as the classifier's rules
// directory does: *.json directly in it (links followed), not starting
// with ".", regular files of at most 1 MiB.
func readRulesDir(dir string) (map[string]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, usagef("-rules: %v", err)
	}
	out := map[string]string{}
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a dangling link: the classifier skips it too
		}
		if err != nil {
			return nil, usagef("-rules: %v", err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		if st.Size() > rules.MaxFileSize {
			return nil, usagef("-rules: %s: larger than %d bytes", cleanLine(path), rules.MaxFileSize)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("-rules: %v", err)
		}
		out[name] = string(data)
	}
	if len(out) == 0 {
		return nil, usagef("-rules: no rule files (*.json) in %s", cleanLine(dir))
	}
	if len(out) > rules.MaxFiles {
		return nil, usagef("-rules: %d rule files, at most %d", len(out), rules.MaxFiles)
	}
	return out, nil
}

var kindTitles = map[string]string{
	api.ReplayNewlyMatched:   "newly matched",
	api.ReplayUnmatched:      "no longer matched",
	api.ReplayChangedRule:    "matched by another rule",
	api.ReplayCommandChanged: "command changed",
}

// printReplay prints the differences grouped by kind.
func printReplay(a *app, ans *api.ReplayAnswer, files int) error {
	w := a.stdout
	skipped := 0
	var reasons []string
	for r, n := range ans.Skipped {
		skipped += n
		reasons = append(reasons, fmt.Sprintf("%s %d", cleanLine(r), n))
	}
	sort.Strings(reasons)
	fmt.Fprintf(w, "replayed %d recorded alert(s) with %d rule file(s)", ans.Replayed, files)
	if !ans.Since.IsZero() {
		fmt.Fprintf(w, " since %s", stamp(ans.Since))
	}
	if !ans.Until.IsZero() {
		fmt.Fprintf(w, " until %s", stamp(ans.Until))
	}
	if skipped > 0 {
		fmt.Fprintf(w, "; %d skipped (%s)", skipped, strings.Join(reasons, ", "))
	}
	fmt.Fprintf(w, ": %d unchanged, %d different\n", ans.Unchanged, ans.Changes())
	for _, kind := range api.ReplayKinds {
		var ds []api.ReplayDifference
		for _, d := range ans.Differences {
			if d.Kind == kind {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d):\n", kindTitles[kind], len(ds))
		for _, d := range ds {
			fmt.Fprintf(w, "  %s  alert %s %q: %s → %s\n", stamp(d.ReceivedAt), cleanLine(truncate(d.AlertID, 64)),
				cleanLine(truncate(d.Summary, 80)), ruleNames(d.Before), ruleNames(d.After))
			for _, ar := range d.After {
				var before []api.ReplayCommand
				if br := findReplayRule(d.Before, ar.RuleName); br != nil {
					before = br.Commands
				}
				printCommandDiff(a, before, ar.Commands) // + what newly runs, or - / + what changed
			}
		}
	}
	return nil
}

func ruleNames(rs []api.ReplayRule) string {
	if len(rs) == 0 {
		return "(none)"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = cleanLine(r.RuleName)
	}
	return strings.Join(names, ", ")
}

func findReplayRule(rs []api.ReplayRule, name string) *api.ReplayRule {
	for i := range rs {
		if rs[i].RuleName == name {
			return &rs[i]
		}
	}
	return nil
}

// printCommandDiff prints the steps whose rendering differs: - before,
// + after.
func printCommandDiff(a *app, before, after []api.ReplayCommand) {
	type key struct {
		task   int
		entity string
	}
	show := func(c api.ReplayCommand) string {
		if c.Refused != "" {
			return "refused: " + cleanLine(truncate(c.Refused, 300))
		}
		return cleanLine(truncate(c.Command, 300))
	}
	where := func(c api.ReplayCommand) string {
		if c.Task < 0 {
			return "hosts"
		}
		return fmt.Sprintf("#%d %s on %s", c.Task, cleanLine(c.TaskType), cleanLine(c.Entity))
	}
	b := map[key]api.ReplayCommand{}
	for _, c := range before {
		b[key{c.Task, c.Entity}] = c
	}
	seen := map[key]bool{}
	for _, c := range after {
		k := key{c.Task, c.Entity}
		seen[k] = true
		old, ok := b[k]
		switch {
		case !ok:
			fmt.Fprintf(a.stdout, "      %s\n        + %s\n", where(c), show(c))
		case old.Command != c.Command || old.Refused != c.Refused:
			fmt.Fprintf(a.stdout, "      %s\n        - %s\n        + %s\n", where(c), show(old), show(c))
		}
	}
	for _, c := range before {
		if !seen[key{c.Task, c.Entity}] {
			fmt.Fprintf(a.stdout, "      %s\n        - %s\n", where(c), show(c))
		}
	}
}
