package report

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Usage is the report subcommand's help text.
const Usage = `usage: actionhandler report [flags] [LOGFILE ...]

Reads action handler log lines (logfmt or JSON; from the files, or standard
input when none or "-") and answers: what remediations run, are they
successful, how long they take, how many times each action was done to
each entity, and what did not run and why (refusals by reason; give the
classifier's log too to count rules with no action handler).

flags:
`

// Main runs "actionhandler report" and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage); fs.PrintDefaults() }
	since := fs.String("since", "", "only lines in this period: a duration back from now (24h, 7d) or an RFC 3339 time")
	until := fs.String("until", "", "only lines before this RFC 3339 time")
	rule := fs.String("rule", "", "only this rule_name")
	entity := fs.String("entity", "", "only actions on this entity (and the executions that touched it)")
	format := fs.String("format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	now := time.Now()
	var o Options
	var err error
	if o.Since, err = ParseSince(*since, now); err != nil {
		fmt.Fprintln(stderr, "report: --since:", err)
		return 2
	}
	if *until != "" {
		if o.Until, err = time.Parse(time.RFC3339, *until); err != nil {
			fmt.Fprintln(stderr, "report: --until: want an RFC 3339 time like 2026-11-22T00:00:00Z")
			return 2
		}
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintln(stderr, "report: --format: want text or json")
		return 2
	}
	o.Rule, o.Entity = *rule, *entity

	var readers []io.Reader
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		if name == "-" {
			readers = append(readers, stdin)
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "report:", err)
			return 1
		}
		defer f.Close()
		readers = append(readers, f)
	}
	rep, err := Read(io.MultiReader(readers...), o)
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return 1
	}
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return 1
	}
	return 0
}

// ParseSince reads "24h", "90m", "7d" (days) as that long before now, or an
// RFC 3339 time; "" is no bound.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var days int
	if n, err := fmt.Sscanf(s, "%dd", &days); err == nil && n == 1 && fmt.Sprintf("%dd", days) == s && days > 0 {
		return now.Add(-time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("want a positive duration (24h, 7d) or an RFC 3339 time, got %q", s)
	}
	return now.Add(-d), nil
}
