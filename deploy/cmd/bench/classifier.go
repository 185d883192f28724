package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/benchrig"
	"github.com/alexis-ops/alexis/deploy/internal/loadgen"
	"github.com/alexis-ops/alexis/deploy/internal/sink"
)

type bench struct {
	o     options
	out   io.Writer
	log   io.Writer
	rig   *benchrig.Rig
	rules *benchrig.Rules // command "true"
	ah    *sink.Server    // action handler stand-in
	runID atomic.Int64

	capacity    float64 // matched, from the step-up
	capacityHow string
}

// capacityOf is the highest offered rate that passed, or, when none did,
// what the first failing step achieved (a lower estimate).
func capacityOf(best, failed *step, d time.Duration) (float64, string) {
	if best != nil {
		return best.rate, "highest passing step"
	}
	if failed != nil {
		return failed.res.Achieved(d), "no step passed: achieved rate of the first step"
	}
	return 0, ""
}

func (b *bench) setup(ctx context.Context) error {
	if b.o.BinDir == "" {
		fmt.Fprintln(b.log, "bench: building the services")
	}
	rig, err := benchrig.New(ctx, b.o.Dir, b.o.BinDir)
	if err != nil {
		return err
	}
	b.rig = rig
	if b.rules, err = benchrig.WriteRules(filepath.Join(b.o.Dir, "rules"), b.o.Rules, "true"); err != nil {
		return err
	}
	b.ah, err = sink.ActionHandler(rig.CToAHToken)
	return err
}

func (b *bench) close() {
	if b.ah != nil {
		_ = b.ah.Close()
	}
	if b.rig != nil {
		b.rig.Close()
	}
}

// row prints one table row.
func (b *bench) row(what, command, result string) {
	fmt.Fprintf(b.out, "| %s | `%s` | %s |\n", what, command, result)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// alertID is unique across the runs of one bench process.
func (b *bench) alertID(run int64, i int) string { return fmt.Sprintf("b%d-%d", run, i) }

// classify posts alerts to the classifier: matched (rule i mod N) when
// match(i), spread over hosts.
func (b *bench) classifyRequest(url string, run int64, match func(int) bool, host func(int) string) func(context.Context, int) (*http.Request, error) {
	return func(ctx context.Context, i int) (*http.Request, error) {
		body := b.rules.Alert(b.alertID(run, i), i, match(i), host(i))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/classifier", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+b.rig.ClientToken)
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}

// resultLabel labels a classifier answer with its status and result.
func resultLabel(_ int, status int, body []byte) string {
	if status != http.StatusOK {
		return fmt.Sprint(status)
	}
	var c struct {
		Result  string `json:"result"`
		Matched []struct {
			ExecutionID string `json:"execution_id"`
			Error       string `json:"error"`
		} `json:"matched"`
	}
	if json.Unmarshal(body, &c) != nil {
		return "bad_json"
	}
	if c.Result == "matched" && (len(c.Matched) == 0 || c.Matched[0].Error != "") {
		return "matched_with_error"
	}
	return c.Result
}

func always(int) bool { return true }
func never(int) bool  { return false }
func oneHost(int) string {
	return "app01.example.com"
}

// startClassifier starts a classifier forwarding to the stand-in and
// checks one matched and one unmatched answer.
func (b *bench) startClassifier(ctx context.Context, name string) (*benchrig.Proc, error) {
	p, err := b.rig.StartClassifier(ctx, benchrig.ClassifierOptions{Name: name, RulesDir: b.rules.Dir, ActionHandler: b.ah.URL() + "/v1/action"})
	if err != nil {
		return nil, err
	}
	for _, tc := range []struct {
		match bool
		want  string
	}{{true, "matched"}, {false, "unmatched"}} {
		run := b.runID.Add(1)
		m := func(int) bool { return tc.match }
		req, _ := b.classifyRequest(p.URL, run, m, oneHost)(ctx, 0)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.Stop()
			return nil, fmt.Errorf("%s: check: %w", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resultLabel(0, resp.StatusCode, body); got != tc.want {
			p.Stop()
			return nil, fmt.Errorf("%s: check: answered %d %s, want %s", name, resp.StatusCode, body, tc.want)
		}
	}
	return p, nil
}

type step struct {
	rate float64
	res  *loadgen.Result
	pass bool
	why  string
}

// stepUp offers each rate of o.Rates for o.Step until one fails.
func (b *bench) stepUp(ctx context.Context, url string, match func(int) bool) (best *step, failed *step, err error) {
	// Warm up (connections, caches) at the lowest rate; not counted.
	warm, err := loadgen.Run(ctx, loadgen.Options{
		Rate: b.o.Rates[0], Duration: 3 * time.Second, MaxInFlight: b.o.Workers, Timeout: 5 * time.Second,
		Request: b.classifyRequest(url, b.runID.Add(1), match, oneHost),
	})
	if err != nil {
		return nil, nil, err
	}
	b.logf("warm-up %s: %s", url, warm.Summary(3*time.Second))
	if err := sleep(ctx, time.Second); err != nil {
		return nil, nil, err
	}
	for _, rate := range b.o.Rates {
		run := b.runID.Add(1)
		res, err := loadgen.Run(ctx, loadgen.Options{
			Rate: rate, Duration: b.o.Step, MaxInFlight: b.o.Workers, Timeout: 5 * time.Second,
			Request: b.classifyRequest(url, run, match, oneHost), Check: resultLabel,
		})
		if err != nil {
			return best, failed, err
		}
		s := &step{rate: rate, res: res, pass: true}
		bad := res.Failed() + res.Answered() - res.OK() + res.Labels["matched_with_error"]
		switch {
		case float64(bad) > 0.01*float64(res.Offered):
			s.pass, s.why = false, fmt.Sprintf("%d of %d failed or non-2xx", bad, res.Offered)
		case res.Quantile(0.99) > b.o.P99Limit:
			s.pass, s.why = false, fmt.Sprintf("p99 %s > %s", loadgen.Ms(res.Quantile(0.99)), loadgen.Ms(b.o.P99Limit))
		case res.Achieved(b.o.Step) < 0.95*rate:
			s.pass, s.why = false, fmt.Sprintf("achieved %.0f/s < 95%% of offered", res.Achieved(b.o.Step))
		}
		b.logf("step %s: %s pass=%t %s", url, res.Summary(b.o.Step), s.pass, s.why)
		if !s.pass {
			return best, s, nil
		}
		best = s
		// let the server settle between steps
		if err := sleep(ctx, time.Second); err != nil {
			return best, nil, err
		}
	}
	return best, nil, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func stepText(best, failed *step, step time.Duration) string {
	var parts []string
	if best != nil {
		parts = append(parts, fmt.Sprintf("**%.0f/s sustained** (achieved %.0f/s, p50 %s, p99 %s)",
			best.rate, best.res.Achieved(step), loadgen.Ms(best.res.Quantile(0.5)), loadgen.Ms(best.res.Quantile(0.99))))
	} else {
		parts = append(parts, "no step passed")
	}
	if failed != nil {
		parts = append(parts, fmt.Sprintf("at %.0f/s: achieved %.0f/s, p99 %s (%s)", failed.rate, failed.res.Achieved(step), loadgen.Ms(failed.res.Quantile(0.99)), failed.why))
	} else {
		parts = append(parts, "every offered rate passed (raise BENCH_RATES)")
	}
	return strings.Join(parts, "; ")
}

// classifier: capacity matched and unmatched, then the fixed-rate row.
func (b *bench) classifier(ctx context.Context) error {
	p, err := b.startClassifier(ctx, "classifier")
	if err != nil {
		return err
	}
	defer p.Stop()
	crit := fmt.Sprintf("steps of %s, pass: p99 ≤ %s, < 1%% errors, ≥ 95%% achieved", b.o.Step, loadgen.Ms(b.o.P99Limit))

	og0, ah0 := b.rig.OG.Counts(), b.ah.Counts()
	best, failed, err := b.stepUp(ctx, p.URL, always)
	if err != nil {
		return err
	}
	og1, ah1 := b.rig.OG.Counts(), b.ah.Counts()
	b.capacity, b.capacityHow = capacityOf(best, failed, b.o.Step)
	b.row(fmt.Sprintf("classifier matched over HTTP, %d rule files, write-backs: note + team on the OpsGenie sink, push to the action-handler stand-in (%s)", b.o.Rules, crit),
		"go run ./deploy/cmd/bench classifier", stepText(best, failed, b.o.Step)+
			fmt.Sprintf("; write-back calls during the steps: notes %d, teams %d, pushes %d", og1["notes"]-og0["notes"], og1["teams"]-og0["teams"], ah1["accepted"]-ah0["accepted"]))

	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	ubest, ufailed, err := b.stepUp(ctx, p.URL, never)
	if err != nil {
		return err
	}
	b.row(fmt.Sprintf("classifier unmatched over HTTP, %d rule files, write-backs: note + investigation team (%s)", b.o.Rules, crit),
		"go run ./deploy/cmd/bench classifier", stepText(ubest, ufailed, b.o.Step))

	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	run := b.runID.Add(1)
	res, err := loadgen.Run(ctx, loadgen.Options{
		Rate: b.o.FixedRate, Duration: b.o.FixedFor, MaxInFlight: b.o.Workers, Timeout: 5 * time.Second,
		Request: b.classifyRequest(p.URL, run, always, oneHost), Check: resultLabel,
	})
	if err != nil {
		return err
	}
	b.logf("fixed: %s labels=%v", res.Summary(b.o.FixedFor), res.Labels)
	b.row(fmt.Sprintf("classifier matched, fixed offered %.0f/s for %s (open loop, latency from the intended send time)", b.o.FixedRate, b.o.FixedFor),
		"go run ./deploy/cmd/bench classifier",
		fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s; achieved %.0f/s; non-2xx or no answer: %d of %d; late sends %d",
			loadgen.Ms(res.Quantile(0.5)), loadgen.Ms(res.Quantile(0.9)), loadgen.Ms(res.Quantile(0.99)), loadgen.Ms(res.Max()),
			res.Achieved(b.o.FixedFor), res.Failed()+res.Answered()-res.OK(), res.Offered, res.Late))
	return nil
}

func statusText(r *loadgen.Result) string {
	var keys []string
	for s := range r.Status {
		keys = append(keys, fmt.Sprint(s))
	}
	for e := range r.Errors {
		keys = append(keys, e)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		n := 0
		for s, c := range r.Status {
			if fmt.Sprint(s) == k {
				n = c
			}
		}
		if c, ok := r.Errors[k]; ok {
			n = c
		}
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
	}
	if r.Unsent > 0 {
		parts = append(parts, fmt.Sprintf("unsent: %d", r.Unsent))
	}
	return strings.Join(parts, ", ")
}
