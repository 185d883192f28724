package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/rules/rulestest"
)

// headWriter keeps the first bytes written and the service_started line
// (with the listen address), and drops the rest: a benchmark logs a line
// or two per alert at level info, as in production.
type headWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *headWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() < 16<<10 || bytes.Contains(p, []byte("event=service_started")) {
		w.buf.Write(p)
	}
	return len(p), nil
}

func (w *headWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// countingServer is an httptest server counting the connections it
// accepted.
func countingServer(h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	return srv, &conns
}

// BenchmarkMatchedHTTP posts alerts that match one of 1,000 rules to the
// real classifier (run(), on 127.0.0.1:0) over HTTP, with the write-backs
// a matched alert really does: the push to an action handler and a note
// and a team on OpsGenie, both local servers answering like the real ones
// (202 and their JSON). Load generator, classifier and sinks share the
// machine's CPUs. Reports alerts/s and the connections the classifier
// opened to each sink (pooled: a handful, whatever b.N).
//
//	cd classifier && go test -run '^$' -bench BenchmarkMatchedHTTP -benchtime 20000x ./cmd/classifier/
//
// With proc=binary the classifier is the built binary in a process of its
// own, and cls_cpu_us/alert is the CPU time (user + system) it spent per
// alert: the figure that holds on a machine shared with other work
// (capacity on C free cores ≈ C × 1e6 / cls_cpu_us/alert).
func BenchmarkMatchedHTTP(b *testing.B) {
	for _, proc := range []string{"inprocess", "binary"} {
		for _, conc := range []int{4, 16, 64} {
			b.Run(fmt.Sprintf("proc=%s/clients=%d", proc, conc), func(b *testing.B) { benchMatchedHTTP(b, proc == "binary", conc) })
		}
	}
}

// cpuTime is the user + system CPU time process pid has used.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3, utime 14 and stime 15, in clock ticks (100 per second).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// benchStack is a classifier with 1,000 rules and fast sinks standing for
// the action handler and OpsGenie.
type benchStack struct {
	url              string // POST /v1/classifier
	pid              int    // the classifier's process (binary only)
	ahConns, ogConns *atomic.Int64
}

// startBenchStack starts the sinks and the classifier (the binary in a
// process of its own, or run() in this one) with max_in_flight maxInFlight.
func startBenchStack(b *testing.B, binary bool, maxInFlight int) *benchStack {
	return startBenchStackWith(b, binary, maxInFlight, "")
}

// startBenchStackWith is startBenchStack with extra configuration (DIR in
// it is the stack's directory).
func startBenchStackWith(b *testing.B, binary bool, maxInFlight int, extra string) *benchStack {
	ah, ahConns := countingServer(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"execution_id":"362dc944c3b926a8d968b7bf71bd56e8","status":"queued","entities":["app01.example.com"]}`+"\n")
	})
	b.Cleanup(ah.Close)
	og, ogConns := countingServer(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("X-RateLimit-State", "OK")
		w.Header().Set("X-Response-Time", "0.001")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"result":"Request will be processed","took":0.001,"requestId":"req-1"}`)
	})
	b.Cleanup(og.Close)

	dir := b.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		b.Fatal(err)
	}
	rulestest.WriteBenchRules(b, rulesDir, 1000, false)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	cfg := write("classifier.yaml", fmt.Sprintf(`
listen: 127.0.0.1:0
tokens_file: %s
max_in_flight: %d
log: {format: logfmt, level: info}
rules_dir: %s
action_handlers: {linux: %s/v1/action}
action_handler_token_file: %s
signing_key_file: %s
default_investigation_queue: ops_investigation
tickets:
  opsgenie: {api_url: %s, api_key_file: %s, timeout: 5s, retries: 1}
%s`, write("tokens", "poller:"+clientToken+"\n"), maxInFlight, rulesDir, ah.URL, write("ah_token", ahToken+"\n"),
		write("signing_key", signingKey+"\n"), strings.TrimPrefix(og.URL, "http://"), write("genie_key", genieKey+"\n"),
		strings.ReplaceAll(extra, "DIR", dir)))

	pid, addr := 0, ""
	if binary {
		var plogs logtest.Buffer
		var base string
		pid, base = startClassifier(b, cfg, &plogs)
		addr = strings.TrimPrefix(base, "http://")
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.Cleanup(func() { cancel(); <-done })
		var logs headWriter
		// Every goroutine of the classifier carries the label proc=classifier
		// (goroutines inherit labels): go tool pprof -tagfocus
		// proc=classifier shows its CPU apart from the sinks' and the load's.
		go pprof.Do(ctx, pprof.Labels("proc", "classifier"), func(ctx context.Context) {
			done <- run(ctx, []string{"-config", cfg}, io.Discard, &logs)
		})
		for deadline := time.Now().Add(60 * time.Second); addr == "" && time.Now().Before(deadline); {
			if m := listenRE.FindStringSubmatch(logs.String()); m != nil {
				addr = m[1]
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if addr == "" {
			b.Fatalf("classifier did not start:\n%s", logs.String())
		}
	}
	return &benchStack{url: "http://" + addr + "/v1/classifier", pid: pid, ahConns: ahConns, ogConns: ogConns}
}

// BenchmarkMatchedHTTPHistory is BenchmarkMatchedHTTP (the binary, 16
// clients) with decision recording off and on, to a local server standing
// for the action handler's POST /v1/decisions (answering 200 after reading
// the batch). cls_cpu_us/alert is measured once every decision has been
// received, so it includes the recording; recorded/op is the share of
// decisions the sink received (1: none dropped).
//
//	cd classifier && go test -run '^$' -bench BenchmarkMatchedHTTPHistory -benchtime 20000x ./cmd/classifier/
func BenchmarkMatchedHTTPHistory(b *testing.B) {
	for _, history := range []string{"off", "on"} {
		for _, proc := range []string{"binary"} {
			b.Run("proc="+proc+"/clients=16/history="+history, func(b *testing.B) { benchMatchedHTTPWith(b, proc == "binary", 16, history == "on") })
		}
	}
}

func benchMatchedHTTP(b *testing.B, binary bool, clients int) {
	benchMatchedHTTPWith(b, binary, clients, false)
}

func benchMatchedHTTPWith(b *testing.B, binary bool, clients int, history bool) {
	extra := ""
	var recorded atomic.Int64
	if history {
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			n := bytes.Count(body, []byte(`"received_at":`))
			recorded.Add(int64(n))
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"recorded":%d}`, n)
		}))
		b.Cleanup(sink.Close)
		extra = "history: {url: '" + sink.URL + "/v1/decisions', token_file: DIR/ah_token, flush_interval: 100ms}\n"
	}
	st := startBenchStackWith(b, binary, 1000, extra)
	url, pid, ahConns, ogConns := st.url, st.pid, st.ahConns, st.ogConns
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	body := []byte(rulestest.BenchAlert)
	post := func() error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+clientToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(answer, []byte(`"result":"matched"`)) ||
			bytes.Contains(answer, []byte("writeback_errors")) {
			return fmt.Errorf("answer %d %s", resp.StatusCode, answer)
		}
		return nil
	}
	if err := post(); err != nil { // loads and compiles the rules
		b.Fatal(err)
	}
	ahConns.Store(0)
	ogConns.Store(0)
	var cpu0 time.Duration
	if binary {
		cpu0 = cpuTime(b, pid)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := post(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if history {
		// Every decision (b.N and the first alert) reaches the sink.
		want := int64(b.N + 1)
		for deadline := time.Now().Add(60 * time.Second); recorded.Load() < want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		b.ReportMetric(float64(recorded.Load())/float64(want), "recorded/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(ahConns.Load()), "ah_conns")
	b.ReportMetric(float64(ogConns.Load()), "og_conns")
	if binary {
		b.ReportMetric(float64((cpuTime(b, pid)-cpu0).Microseconds())/float64(b.N), "cls_cpu_us/alert")
	}
}
