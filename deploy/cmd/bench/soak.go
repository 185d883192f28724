package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/benchrig"
	"github.com/alexis-ops/alexis/deploy/internal/loadgen"
)

// soak offers o.SoakRate alerts/s for o.SoakFor, one in o.SoakMatchOne
// matching, to the real classifier and the real action handler
// (development mode, SQLite, default limits), and accounts for every alert.
func (b *bench) soak(ctx context.Context) error {
	ah, err := b.rig.StartActionHandler(ctx, benchrig.ActionHandlerOptions{Name: "actionhandler-soak", Development: true})
	if err != nil {
		return err
	}
	defer ah.Stop()
	cl, err := b.rig.StartClassifier(ctx, benchrig.ClassifierOptions{Name: "classifier-soak", RulesDir: b.rules.Dir, ActionHandler: ah.URL + "/v1/action"})
	if err != nil {
		return err
	}
	defer cl.Stop()

	total := int(b.o.SoakRate * b.o.SoakFor.Seconds())
	answers := make([]string, total)   // by alert: classifier result label
	execIDs := make([][]string, total) // by alert: execution ids the classifier reported
	check := func(i, status int, body []byte) string {
		l := resultLabel(i, status, body)
		answers[i] = l
		if status == http.StatusOK {
			var c struct {
				Matched []struct {
					ExecutionID string `json:"execution_id"`
				} `json:"matched"`
			}
			if json.Unmarshal(body, &c) == nil {
				for _, m := range c.Matched {
					if m.ExecutionID != "" {
						execIDs[i] = append(execIDs[i], m.ExecutionID)
					}
				}
			}
		}
		return l
	}
	match := func(i int) bool { return i%b.o.SoakMatchOne == 0 }
	run := b.runID.Add(1)
	csam := benchrig.Sample(cl.PID(), time.Second)
	asam := benchrig.Sample(ah.PID(), time.Second)
	b.logf("soak: %.0f alerts/s for %s (%d alerts), one in %d matching", b.o.SoakRate, b.o.SoakFor, total, b.o.SoakMatchOne)
	res, err := loadgen.Run(ctx, loadgen.Options{
		Rate: b.o.SoakRate, Duration: b.o.SoakFor, MaxInFlight: b.o.Workers, Timeout: 10 * time.Second,
		Request: b.classifyRequest(cl.URL, run, match, b.host), Check: check, Interval: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	b.logf("soak: load done: %s labels=%v", res.Summary(b.o.SoakFor), res.Labels)
	if err := b.drain(ctx, ah.URL, 10*time.Minute); err != nil {
		return err
	}
	cmem, amem := csam.Stop(), asam.Stop()

	// Classified once: the classifier's log events per alert id.
	events, err := classifiedEvents(cl.LogFile)
	if err != nil {
		return err
	}
	var problems []string
	notOnce := 0
	for i := range total {
		id := b.alertID(run, i)
		n := events[id]
		if answers[i] == "matched" || answers[i] == "unmatched" {
			if n != 1 {
				notOnce++
				if notOnce <= 3 {
					problems = append(problems, fmt.Sprintf("alert %s answered %s with %d rule_matched/alert_unmatched events", id, answers[i], n))
				}
			}
		}
	}
	// Every accepted push exactly one execution.
	want := map[string]bool{}
	for _, ids := range execIDs {
		for _, id := range ids {
			want[id] = true
		}
	}
	got, err := b.executions(ctx, ah.URL, fmt.Sprintf("b%d-", run))
	if err != nil {
		return err
	}
	// An execution the classifier's answers do not name is a violation
	// unless the alert's answer never reached the client (timeout: outcome
	// unknown to it) or was a 503 (the classifier says nothing was done and
	// a retry is safe; the action handler's dedup_window catches the retry):
	// those are counted apart.
	answerOf := map[string]string{}
	for i := range total {
		answerOf[b.alertID(run, i)] = answers[i]
	}
	missing, extra, twice, after503, afterTimeout := 0, 0, 0, 0, 0
	for id := range want {
		if got[id].n == 0 {
			missing++
		}
	}
	for id, e := range got {
		if !want[id] {
			switch answerOf[e.alertID] {
			case "":
				afterTimeout++
			case "503":
				after503++
			default:
				extra++
			}
		}
		if e.n > 1 {
			twice++
		}
	}
	pushes, _ := b.rig.Metric(ctx, cl.URL, "classifier_action_pushes_total", `outcome="accepted"`)
	byOutcome := map[string]float64{}
	for _, o := range []string{"accepted", "unavailable", "rejected", "no_handler"} {
		byOutcome[o], _ = b.rig.Metric(ctx, cl.URL, "classifier_action_pushes_total", `outcome="`+o+`"`)
	}
	statuses := map[string]float64{}
	for _, s := range []string{"dry_run", "skipped", "success", "failure", "refused", "interrupted", "duplicate"} {
		if v, _ := b.rig.Metric(ctx, ah.URL, "actionhandler_executions_total", `status="`+s+`"`); v > 0 {
			statuses[s] = v
		}
	}
	flatC, cText := flat(cmem)
	flatA, aText := flat(amem)

	verdict := "PASS"
	fail := func(format string, args ...any) {
		verdict = "FAIL"
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	if n := res.Count5xx(); n > 0 {
		fail("%d answers were 5xx", n)
	}
	if n := res.Failed(); n > 0 {
		fail("%d alerts got no answer (%v, unsent %d)", n, res.Errors, res.Unsent)
	}
	if notOnce > 0 {
		fail("%d answered alerts were not classified exactly once (log events)", notOnce)
	}
	if missing+extra+twice > 0 {
		fail("executions vs accepted pushes: %d accepted in answers, %d executions listed, %d missing, %d for alerts answered otherwise, %d listed twice", len(want), len(got), missing, extra, twice)
	}
	if int(pushes) != len(want)+afterTimeout+after503 {
		problems = append(problems, fmt.Sprintf("classifier_action_pushes_total{outcome=\"accepted\"} %.0f, answers name %d, executions of timed-out alerts %d, of alerts answered 503 %d", pushes, len(want), afterTimeout, after503))
	}
	if !flatC || !flatA {
		fail("RSS not flat (classifier %s; action handler %s)", cText, aText)
	}
	fmt.Fprintf(b.log, "soak verdict: %s\n", verdict)
	for _, p := range problems {
		fmt.Fprintf(b.log, "soak: %s\n", p)
	}
	b.row(fmt.Sprintf("soak: %.0f alerts/s for %s, 1 in %d matching over %d hosts; real classifier + action handler (development mode, SQLite, default limits) + OpsGenie sink", b.o.SoakRate, b.o.SoakFor, b.o.SoakMatchOne, b.o.Hosts),
		fmt.Sprintf("deploy/bench/soak.sh (BENCH_SOAK_DURATION=%s)", b.o.SoakFor),
		fmt.Sprintf("**%s**; answers: %s; results: %s; p50 %s, p99 %s, max %s; classified once: %d not; pushes %s; executions %s, each accepted push one execution: %d accepted in answers, %d missing, %d for alerts answered otherwise, %d twice, %d for alerts whose answer timed out, %d for alerts answered 503; RSS classifier %s; action handler %s%s",
			verdict, statusText(res), labelsText(res.Labels), loadgen.Ms(res.Quantile(0.5)), loadgen.Ms(res.Quantile(0.99)), loadgen.Ms(res.Max()),
			notOnce, mapText(byOutcome), mapText(statuses), len(want), missing, extra, twice, afterTimeout, after503, cText, aText, problemText(problems)))
	if verdict != "PASS" {
		return fmt.Errorf("soak: %s", verdict)
	}
	return nil
}

func problemText(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return "; problems: " + strings.Join(p, "; ")
}

func labelsText(m map[string]int) string {
	f := map[string]float64{}
	for k, v := range m {
		f[k] = float64(v)
	}
	return mapText(f)
}

func mapText(m map[string]float64) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// flat compares the peak RSS of the second fifth of the run (after the
// warm-up) with the peak of the last fifth: flat when it grew ≤ 25%.
func flat(s []benchrig.MemSample) (bool, string) {
	if len(s) < 10 {
		return true, fmt.Sprintf("max %s (too short to judge)", benchrig.MB(benchrig.MaxRSS(s)))
	}
	n := len(s)
	early := benchrig.MaxRSS(s[n/5 : 2*n/5])
	late := benchrig.MaxRSS(s[4*n/5:])
	ok := float64(late) <= 1.25*float64(early)
	return ok, fmt.Sprintf("%s (2nd fifth peak) → %s (last fifth peak), max %s", benchrig.MB(early), benchrig.MB(late), benchrig.MB(benchrig.MaxRSS(s)))
}

// classifiedEvents counts rule_matched and alert_unmatched lines per
// alert_id in a classifier log. A matched alert logs one rule_matched per
// matching rule; the bench's alerts match at most one.
func classifiedEvents(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("classifier log: %w", err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "event=rule_matched") && !strings.Contains(line, "event=alert_unmatched") {
			continue
		}
		if id := field(line, "alert_id"); id != "" {
			out[id]++
		}
	}
	return out, sc.Err()
}

// field returns a logfmt value (unquoted values only: the bench's ids).
func field(line, key string) string {
	for _, kv := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

type listed struct {
	n       int // times listed
	alertID string
}

// executions lists every execution of the action handler whose alert id
// starts with prefix, counting each execution id.
func (b *bench) executions(ctx context.Context, base, prefix string) (map[string]listed, error) {
	out := map[string]listed{}
	cursor := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/executions?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+b.rig.ClientToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		var page struct {
			Executions []struct {
				ID      string `json:"id"`
				AlertID string `json:"alert_id"`
			} `json:"executions"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("list executions: %s (%v)", resp.Status, err)
		}
		for _, e := range page.Executions {
			if strings.HasPrefix(e.AlertID, prefix) {
				l := out[e.ID]
				out[e.ID] = listed{n: l.n + 1, alertID: e.AlertID}
			}
		}
		if page.NextCursor == "" || len(page.Executions) == 0 {
			return out, nil
		}
		cursor = page.NextCursor
	}
}
