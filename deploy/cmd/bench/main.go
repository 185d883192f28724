// Command bench runs Alexis's benchmarks on loopback and prints their
// figures as rows of one markdown table (deploy/bench/bench.sh runs it
// with the SSH fan-out script and prints the whole table; `make bench`).
//
//	bench [flags] all          classifier, overload, actionhandler, latency, idle
//	bench [flags] classifier   matched/unmatched capacity (step-up), fixed 2,000/s latency
//	bench [flags] overload     5× capacity for -overload-duration
//	bench [flags] actionhandler executions/s after 0 / 10k / 100k executions of history
//	bench [flags] latency      alert → command started, kept and fresh SSH connections
//	bench [flags] idle         idle RSS of each service
//	bench [flags] soak         1,000 alerts/s, 1 in 10 matching, for -soak-duration; verdict
//
// Every flag has an environment variable (BENCH_<NAME>, see bench.sh).
// Progress goes to stderr; the table rows to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	Dir    string
	BinDir string
	Keep   bool

	Rules        int
	Rates        []float64
	Step         time.Duration
	P99Limit     time.Duration
	FixedRate    float64
	FixedFor     time.Duration
	Capacity     float64
	OverloadX    float64
	OverloadFor  time.Duration
	Histories    []int
	AHRate       float64
	AHWindow     time.Duration
	SeedTimeout  time.Duration
	Hosts        int
	LatencyRuns  int
	SSHUser      string
	SoakRate     float64
	SoakFor      time.Duration
	SoakMatchOne int
	Workers      int
	Verbose      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv("BENCH_" + name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var rates, histories string
	d := &defaults{}
	atoi, atof, dur := d.atoi, d.atof, d.dur
	fs.StringVar(&o.Dir, "dir", env("DIR", ""), "scratch directory (default: a new temporary one, removed at the end)")
	fs.StringVar(&o.BinDir, "bin", env("BIN", ""), "directory with the service binaries (default: build them)")
	fs.BoolVar(&o.Keep, "keep", env("KEEP", "") == "1", "keep the scratch directory (logs, configs, databases)")
	fs.IntVar(&o.Rules, "rules", atoi(env("RULES", "1000")), "rule files")
	fs.StringVar(&rates, "rates", env("RATES", "500,1000,1500,2000,3000,4000,5000,6000,8000,10000"), "offered rates of the step-up, per second")
	fs.DurationVar(&o.Step, "step", dur(env("STEP", "5s")), "duration of each step")
	fs.DurationVar(&o.P99Limit, "p99-limit", dur(env("P99_LIMIT", "50ms")), "a step passes with p99 at most this (and < 1% errors, >= 95% of the offered rate achieved)")
	fs.Float64Var(&o.FixedRate, "fixed-rate", atof(env("FIXED_RATE", "2000")), "fixed offered rate for the latency row")
	fs.DurationVar(&o.FixedFor, "fixed-duration", dur(env("FIXED_DURATION", "10s")), "how long the fixed rate is offered")
	fs.Float64Var(&o.Capacity, "capacity", atof(env("CAPACITY", "0")), "classifier matched capacity for the overload (0: measure it with the step-up)")
	fs.Float64Var(&o.OverloadX, "overload-factor", atof(env("OVERLOAD_FACTOR", "5")), "overload: this times capacity")
	fs.DurationVar(&o.OverloadFor, "overload-duration", dur(env("OVERLOAD_DURATION", "20s")), "overload duration")
	fs.StringVar(&histories, "histories", env("HISTORIES", "0,10000,100000"), "action handler: history sizes (executions) to measure after")
	fs.Float64Var(&o.AHRate, "ah-rate", atof(env("AH_RATE", "1500")), "action handler: offered pushes per second while measuring")
	fs.DurationVar(&o.AHWindow, "ah-window", dur(env("AH_WINDOW", "10s")), "action handler: measuring window")
	fs.DurationVar(&o.SeedTimeout, "seed-timeout", dur(env("SEED_TIMEOUT", "180s")), "action handler: give up seeding history after this (the row says how far it got)")
	fs.IntVar(&o.Hosts, "hosts", atoi(env("HOSTS", "100")), "hosts alerts are spread over (action handler, soak)")
	fs.StringVar(&o.SSHUser, "ssh-user", os.Getenv("BENCH_USER"), "alert → command: the user sshd logs in (\"\": the current user; bench.sh sets alexis-bench)")
	fs.IntVar(&o.LatencyRuns, "latency-runs", atoi(env("LATENCY_RUNS", "50")), "alert → command: alerts per mode, one at a time")
	fs.Float64Var(&o.SoakRate, "soak-rate", atof(env("SOAK_RATE", "1000")), "soak: alerts per second")
	fs.DurationVar(&o.SoakFor, "soak-duration", dur(env("SOAK_DURATION", "10m")), "soak: duration")
	fs.IntVar(&o.SoakMatchOne, "soak-match-one-in", atoi(env("SOAK_MATCH_ONE_IN", "10")), "soak: one alert in this many matches a rule")
	fs.IntVar(&o.Workers, "workers", atoi(env("WORKERS", "2048")), "load generator: most requests in flight")
	fs.BoolVar(&o.Verbose, "v", env("VERBOSE", "") == "1", "print every step's figures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(d.errs...); err != nil {
		return err
	}
	var err error
	if o.Rates, err = floats(rates); err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	hs, err := floats(histories)
	if err != nil {
		return fmt.Errorf("-histories: %w", err)
	}
	for _, h := range hs {
		o.Histories = append(o.Histories, int(h))
	}
	if fs.NArg() != 1 {
		return errors.New("usage: bench [flags] all|classifier|overload|actionhandler|latency|idle|soak")
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "alexis-bench-"); err != nil {
			return err
		}
		if !o.Keep {
			defer os.RemoveAll(o.Dir)
		}
	}
	fmt.Fprintf(stderr, "bench: scratch directory %s\n", o.Dir)
	b := &bench{o: o, out: stdout, log: stderr}
	if err := b.setup(ctx); err != nil {
		return err
	}
	defer b.close()
	var scen []func(context.Context) error
	switch fs.Arg(0) {
	case "all":
		scen = []func(context.Context) error{b.idle, b.classifier, b.overload, b.actionHandler, b.latency}
	case "classifier":
		scen = append(scen, b.classifier)
	case "overload":
		scen = append(scen, b.overload)
	case "actionhandler":
		scen = append(scen, b.actionHandler)
	case "latency":
		scen = append(scen, b.latency)
	case "idle":
		scen = append(scen, b.idle)
	case "soak":
		scen = append(scen, b.soak)
	default:
		return fmt.Errorf("unknown scenario %q", fs.Arg(0))
	}
	var errs []error
	for _, s := range scen {
		if err := s(ctx); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// defaults parses the environment's defaults, keeping every problem.
type defaults struct{ errs []error }

func (d *defaults) atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		d.errs = append(d.errs, fmt.Errorf("%q is not a whole number", s))
	}
	return n
}

func (d *defaults) atof(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		d.errs = append(d.errs, fmt.Errorf("%q is not a number", s))
	}
	return f
}

func (d *defaults) dur(s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errs = append(d.errs, fmt.Errorf("%q is not a duration", s))
	}
	return v
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q: want a non-negative number", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}
