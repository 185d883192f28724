package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/benchrig"
	"github.com/alexis-ops/alexis/deploy/internal/loadgen"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// latency measures alert → command started, one alert at a time: real
// classifier, real action handler on SQLite, a real sshd; the command
// records when it started (date +%s%N on the host), the same command with
// kept and with fresh SSH connections.
func (b *bench) latency(ctx context.Context) error {
	dir := filepath.Join(b.o.Dir, "latency")
	// The host logs in o.SSHUser (bench-user.sh: /bin/sh, empty home), so
	// the figure is Alexis's and sshd's, not a login shell's rc file.
	fleet, err := sshdtest.NewFleetAs(filepath.Join(dir, "fleet"), b.o.SSHUser)
	if err != nil {
		return fmt.Errorf("latency: sshd: %w", err)
	}
	defer fleet.Close()
	srv, err := fleet.Start(ctx, sshdtest.Options{Addr: "127.0.0.2:0", Dir: filepath.Join(dir, "sshd")})
	if err != nil {
		return fmt.Errorf("latency: sshd: %w", err)
	}
	defer srv.Close()
	// The command (run as that user) appends to the marker in dir.
	for _, d := range []string{b.o.Dir, dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	marker := filepath.Join(dir, "started")
	if err := os.WriteFile(marker, nil, 0o666); err != nil {
		return err
	}
	_ = os.Chmod(marker, 0o666)
	command := "date +%s%N >>" + marker
	rules, err := benchrig.WriteRules(filepath.Join(dir, "rules"), b.o.Rules, command)
	if err != nil {
		return err
	}
	var parts []string
	for _, mode := range []struct {
		name, idle string
	}{{"kept", "30s"}, {"fresh", "0s"}} {
		ah, err := b.rig.StartActionHandler(ctx, benchrig.ActionHandlerOptions{
			Name: "actionhandler-" + mode.name,
			SSH: fmt.Sprintf("ssh: {user: %q, key_file: %q, known_hosts_file: %q, connect_timeout: 5s, command_timeout: 60s, idle_timeout: %s}\n",
				srv.User, srv.ClientKeyFile, srv.KnownHostsFile, mode.idle),
			Extra: "governor: {max_hosts_per_minute: 0}\n",
		})
		if err != nil {
			return err
		}
		cl, err := b.rig.StartClassifier(ctx, benchrig.ClassifierOptions{Name: "classifier-" + mode.name, RulesDir: rules.Dir, ActionHandler: ah.URL + "/v1/action"})
		if err != nil {
			ah.Stop()
			return err
		}
		lat, sent, err := b.alertToCommand(ctx, rules, cl.URL, ah.URL, marker, srv.Addr)
		cl.Stop()
		ah.Stop()
		if err != nil {
			return fmt.Errorf("latency %s: %w", mode.name, err)
		}
		// Where the time goes: the action handler's action_started line
		// (before the SSH session and the command's shell).
		var toAction []time.Duration
		if started, err := actionStarted(ah.LogFile); err == nil {
			for id, t := range sent {
				if s, ok := started[id]; ok {
					toAction = append(toAction, s.Sub(t))
				}
			}
		}
		slices.Sort(lat)
		slices.Sort(toAction)
		q := func(l []time.Duration, f float64) time.Duration { return (&loadgen.Result{Latencies: l}).Quantile(f) }
		parts = append(parts, fmt.Sprintf("%s connections (ssh.idle_timeout %s): **p50 %s, p99 %s**, max %s (to the action handler's action_started line: p50 %s, p99 %s)",
			mode.name, mode.idle, loadgen.Ms(q(lat, 0.5)), loadgen.Ms(q(lat, 0.99)), loadgen.Ms(lat[len(lat)-1]), loadgen.Ms(q(toAction, 0.5)), loadgen.Ms(q(toAction, 0.99))))
		b.logf("latency %s: %s", mode.name, parts[len(parts)-1])
	}
	b.row(fmt.Sprintf("alert → command started on the host, one alert at a time (%d per mode after one warm-up), real classifier + action handler on SQLite + real sshd logging in %s, %d rule files, command `date +%%s%%N >>FILE` in both modes", b.o.LatencyRuns, sshUserLabel(b.o.SSHUser), b.o.Rules),
		"go run ./deploy/cmd/bench latency", strings.Join(parts, "; "))
	return nil
}

// alertToCommand returns the latencies and, by execution id, when each
// measured alert was sent.
func (b *bench) alertToCommand(ctx context.Context, rules *benchrig.Rules, classifierURL, ahURL, marker, host string) ([]time.Duration, map[string]time.Time, error) {
	run := b.runID.Add(1)
	client := &http.Client{Timeout: 30 * time.Second}
	var out []time.Duration
	sentAt := map[string]time.Time{}
	for i := 0; i <= b.o.LatencyRuns; i++ {
		before := lines(marker)
		body := rules.Alert(b.alertID(run, i), i, true, host)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, classifierURL+"/v1/classifier", bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+b.rig.ClientToken)
		sent := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var c struct {
			Result  string `json:"result"`
			Matched []struct {
				ExecutionID string `json:"execution_id"`
			} `json:"matched"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(rb, &c) != nil || c.Result != "matched" || len(c.Matched) != 1 || c.Matched[0].ExecutionID == "" {
			return nil, nil, fmt.Errorf("classifier answered %d %s", resp.StatusCode, rb)
		}
		// The host appends one line when the command starts.
		var started time.Time
		deadline := time.Now().Add(30 * time.Second)
		for {
			l := lines(marker)
			if len(l) > len(before) {
				ns, err := strconv.ParseInt(strings.TrimSpace(l[len(before)]), 10, 64)
				if err != nil {
					return nil, nil, fmt.Errorf("marker line %q: %w", l[len(before)], err)
				}
				started = time.Unix(0, ns)
				break
			}
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("alert %d: the command did not start within 30 s (execution %s)", i, c.Matched[0].ExecutionID)
			}
			time.Sleep(2 * time.Millisecond) // polling the file; the figure comes from the timestamp in it
		}
		if err := b.waitExecution(ctx, ahURL, c.Matched[0].ExecutionID); err != nil {
			return nil, nil, err
		}
		if i > 0 { // the first alert warms up caches and, when kept, the connection
			out = append(out, started.Sub(sent))
			sentAt[c.Matched[0].ExecutionID] = sent
		}
	}
	return out, sentAt, nil
}

// actionStarted reads the time of each execution's first action_started
// line from an action handler log.
func actionStarted(path string) (map[string]time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "event=action_started") {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, field(line, "time"))
		id := field(line, "execution_id")
		if err != nil || id == "" {
			continue
		}
		if _, ok := out[id]; !ok {
			out[id] = t
		}
	}
	return out, nil
}

func lines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitExecution waits until execution id has finished.
func (b *bench) waitExecution(ctx context.Context, url, id string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/executions/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+b.rig.ClientToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var e struct {
			Status string `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err == nil && e.Status != "" && e.Status != "queued" && e.Status != "running" {
			if e.Status != "success" {
				return fmt.Errorf("execution %s: %s", id, e.Status)
			}
			return nil
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("execution %s did not finish within 60 s", id)
}

// idle measures each service's resident memory a few seconds after start,
// with no load: the classifier with the rule files loaded, the action
// handler in development mode, the poller with one feed.
func (b *bench) idle(ctx context.Context) error {
	cl, err := b.startClassifier(ctx, "classifier-idle")
	if err != nil {
		return err
	}
	defer cl.Stop()
	ah, err := b.rig.StartActionHandler(ctx, benchrig.ActionHandlerOptions{Name: "actionhandler-idle", Development: true})
	if err != nil {
		return err
	}
	defer ah.Stop()
	po, err := b.rig.StartPoller(ctx, cl.URL)
	if err != nil {
		return err
	}
	defer po.Stop()
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	var parts []string
	for _, p := range []*benchrig.Proc{cl, ah, po} {
		m, err := benchrig.ReadMem(p.PID())
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("%s %s", strings.TrimSuffix(p.Name, "-idle"), benchrig.MB(m.RSS)))
	}
	b.row(fmt.Sprintf("idle RSS (VmRSS 5 s after start; classifier with %d rule files and 2 checked alerts, action handler in development mode, poller with one feed)", b.o.Rules),
		"go run ./deploy/cmd/bench idle", strings.Join(parts, ", "))
	return nil
}

// sshUserLabel names the login user for a row.
func sshUserLabel(u string) string {
	if u == "" {
		return "the current user"
	}
	return u
}
