package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
	"github.com/alexis-ops/alexis/shared/api"
)

// demoAlert is one alert the demo creates and what it should end with.
type demoAlert struct {
	id, tiny, message, host string
	team                    string // the team the alert ends in
	notes                   int    // notes it gets
}

// tell creates the demo's two alerts, waits until both are handled and
// prints, for each, what happened, from the services' logs, the action
// handler's API and the local OpsGenie.
func tell(ctx context.Context, out io.Writer, root string, s *stack.Stack, timeout time.Duration, serviceLog string) error {
	gcMsg, diskMsg := stack.DemoGCMessage, stack.DemoDiskMessage
	gc, disk := s.CreateDemoAlerts()
	created := time.Now()
	alerts := []demoAlert{
		{id: gc.ID, tiny: gc.TinyID, message: gcMsg, host: s.SSH.Addr, team: stack.DemoRuleTeam, notes: 2},
		{id: disk.ID, tiny: disk.TinyID, message: diskMsg, host: stack.DemoDiskHost, team: stack.InvestigationQueue, notes: 1},
	}
	say(out, "two alerts created in the local OpsGenie: #%s %q (a rule matches it) and #%s %q (none does)", gc.TinyID, gcMsg, disk.TinyID, diskMsg)

	// Handled: routed, noted, and its decision recorded for the console.
	handled := map[string]time.Duration{}
	deadline := time.Now().Add(timeout)
	for len(handled) < len(alerts) {
		recorded := decided(ctx, s)
		for _, a := range alerts {
			if _, ok := handled[a.id]; !ok && contains(s.OpsGenie.Teams(a.id), a.team) && len(s.OpsGenie.Notes(a.id)) >= a.notes && recorded[a.id] {
				handled[a.id] = time.Since(created)
			}
		}
		if len(handled) == len(alerts) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the alerts were not handled within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}

	say(out, "what happened (the services' raw logs: %s)", rel(root, filepath.Join(filepath.Dir(serviceLog), "logs", "*.log")))
	for _, a := range alerts {
		fmt.Fprintf(out, "\n  alert #%s %q on %s\n", a.tiny, clean(a.message), clean(a.host))
		if l := s.Procs["poller"].Find("event=alert_delivered", "alert_id="+a.id); len(l) > 0 {
			f := logfmt(l[0])
			line(out, "received", "the poller found it in feed %q and handed it to the classifier", f["feed_name"])
		}
		for _, l := range s.Procs["classifier"].Find("event=rule_matched", "alert_id="+a.id) {
			f := logfmt(l)
			line(out, "matched", "rule %s; the classifier pushed it to the action handler (execution %s)", f["rule_name"], short(f["execution_id"]))
			ex, err := execution(ctx, s, f["execution_id"])
			if err != nil {
				line(out, "", "(could not read the execution back: %v)", err)
				continue
			}
			for _, st := range ex.Steps {
				cmd := strings.ReplaceAll(st.Command, root+string(filepath.Separator), "")
				line(out, "ran", "on %s over SSH: %s", clean(st.Entity), clean(cmd))
				result := st.Status
				if st.ExitCode != nil {
					result += fmt.Sprintf(", exit %d", *st.ExitCode)
				}
				if st.ElapsedMS != nil {
					result += fmt.Sprintf(", %d ms", *st.ElapsedMS)
				}
				line(out, "", "→ %s", result)
				if o := strings.TrimSpace(st.Stdout); o != "" {
					line(out, "", "→ output: %s", clean(o))
				}
			}
		}
		for _, l := range s.Procs["classifier"].Find("event=alert_unmatched", "alert_id="+a.id) {
			f := logfmt(l)
			line(out, "unmatched", "no rule matched (%s checked)", plural(f["count"], "rule"))
		}
		for _, n := range s.OpsGenie.Notes(a.id) {
			first, rest, _ := strings.Cut(strings.TrimSpace(n), "\n")
			line(out, "noted", "on the ticket: %s", clean(first))
			for _, l := range strings.Split(rest, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					line(out, "", "  %s", clean(l))
				}
			}
		}
		line(out, "routed", "to team %s, %s after the alert was created", a.team, seconds(handled[a.id]))
	}
	fmt.Fprintln(out)
	return nil
}

// explore prints how to look around: the console, its token, alexisctl's
// environment.
func explore(out io.Writer, root string, s *stack.Stack, keep bool) {
	tokenFile := s.ViewerTokenFile
	say(out, "explore it")
	line(out, "console", "%s/console/  (log in with the token below)", s.ActionHandlerURL)
	line(out, "token", "%s  (read-only, printed only here; also in %s)", s.ViewerToken, rel(root, tokenFile))
	line(out, "CLI", "export ALEXIS_URL=%s ALEXIS_CLASSIFIER_URL=%s ALEXIS_TOKEN_FILE=%s", s.ActionHandlerURL, s.ClassifierURL, tokenFile)
	if _, err := os.Stat(filepath.Join(root, "actionhandler", "cmd", "alexisctl")); err == nil {
		line(out, "", "go run ./actionhandler/cmd/alexisctl executions list")
	}
	line(out, "API", `curl -H "Authorization: Bearer $(cat %s)" %s/v1/executions`, tokenFile, s.ActionHandlerURL)
	if keep {
		say(out, "running until Ctrl-C")
	} else {
		say(out, "stopped now (these URLs and the token are gone): `make demo-keep` keeps the demo running until Ctrl-C")
	}
}

// decided is the set of alert ids with a decision recorded at the action
// handler (what the console's timeline lists).
func decided(ctx context.Context, s *stack.Stack) map[string]bool {
	var list api.DecisionList
	if err := getJSON(ctx, s, "/v1/decisions", &list); err != nil {
		return nil
	}
	ids := map[string]bool{}
	for _, d := range list.Decisions {
		ids[d.AlertID] = true
	}
	return ids
}

// execution reads one execution back from the action handler with the
// viewer's read-only token.
func execution(ctx context.Context, s *stack.Stack, id string) (*api.Execution, error) {
	var ex api.Execution
	if err := getJSON(ctx, s, "/v1/executions/"+url.PathEscape(id), &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// getJSON reads a path of the action handler's API with the viewer's
// read-only token.
func getJSON(ctx context.Context, s *stack.Stack, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ActionHandlerURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.ViewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// line prints one step of a story: a label column, then the text.
func line(out io.Writer, label, format string, args ...any) {
	fmt.Fprintf(out, "    %-10s %s\n", label, fmt.Sprintf(format, args...))
}

// logfmt reads the key=value pairs of one logfmt line (values may be
// double-quoted with Go escapes).
func logfmt(line string) map[string]string {
	f := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		sp := strings.IndexByte(line, ' ')
		if eq < 0 || (sp >= 0 && sp < eq) { // a bare word
			if sp < 0 {
				break
			}
			line = line[sp:]
			continue
		}
		key, rest := line[:eq], line[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(rest) {
				end = len(rest) - 1
			}
			if v, err := strconv.Unquote(rest[:end+1]); err == nil {
				val = v
			} else {
				val = rest[1:end]
			}
			line = rest[min(end+1, len(rest)):]
		} else {
			val, line, _ = strings.Cut(rest, " ")
		}
		f[key] = val
	}
	return f
}

// clean makes text from alerts, notes and commands safe to print on a
// terminal: control characters (escape sequences, newlines) become "·".
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) || r == ' ' {
			return r
		}
		return '·'
	}, s)
}

// plural: "1 rule", "2 rules"; n is a logged count.
func plural(n, word string) string {
	if n == "1" {
		return "1 " + word
	}
	if n == "" {
		n = "?"
	}
	return n + " " + word + "s"
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
