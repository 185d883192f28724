// Command dynatrace-fake runs the local Dynatrace-compatible server of
// package dynatracetest as a process, for demos and manual testing:
//
//	dynatrace-fake -listen 127.0.0.1:9200 -api-token-file token.txt [-seed problems.json]
//
// Point an Alexis service at it with `dynatrace: {api_url:
// http://127.0.0.1:9200, api_token_file: token.txt}`. The seed file is a
// JSON array of problems:
//
//	[{"title": "db01: disk almost full", "severityLevel": "RESOURCE_CONTENTION",
//	  "impactedEntities": [{"entityId": {"id": "HOST-0000000000000001", "type": "HOST"}, "name": "db01"}],
//	  "entityTags": ["[Environment]team:db"], "age": "10m"}]
//
// with the keys of dynatracetest.ProblemSpec plus "age" (a Go duration: the
// problem started that long ago). It logs one line per request and stops
// on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynatrace-fake:", err)
		os.Exit(1)
	}
}

// seedProblem is one seed-file entry.
type seedProblem struct {
	dynatracetest.ProblemSpec
	Age string `json:"age"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dynatrace-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9200", "listen address (host:port; port 0 picks one, logged at start)")
	tokenFile := fs.String("api-token-file", "", "file holding the API token clients must send (required)")
	seed := fs.String("seed", "", "JSON file with an array of problems to create at start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *tokenFile == "" {
		return errors.New("-api-token-file is required")
	}
	token, err := config.ReadSecret(*tokenFile)
	if err != nil {
		return err
	}
	var seeds []seedProblem
	if *seed != "" {
		if seeds, err = readSeeds(*seed); err != nil {
			return err
		}
	}

	log := logging.New(stderr, "dynatrace-fake", logging.Options{})
	s, err := dynatracetest.New(dynatracetest.Options{
		Addr:  *listen,
		Token: token.Reveal(),
		OnRequest: func(r dynatracetest.Request) {
			log.Info().Str(logging.Event, "http_request").Str(logging.Method, r.Method).
				Str(logging.Path, r.Path).Int(logging.Status, r.Status).Send()
		},
	})
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	for _, sp := range seeds {
		if sp.Age != "" {
			d, _ := time.ParseDuration(sp.Age) // checked by readSeeds
			sp.StartTime = now.Add(-d)
		}
		p := s.CreateProblem(sp.ProblemSpec)
		log.Info().Str(logging.Event, "problem_seeded").Str(logging.AlertID, p.ProblemID).Send()
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, s.Addr()).Int(logging.Count, len(seeds)).Send()
	<-ctx.Done()
	log.Info().Str(logging.Event, "service_stopped").Send()
	return nil
}

func readSeeds(path string) ([]seedProblem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed file: %w", err)
	}
	var seeds []seedProblem
	if err := json.Unmarshal(data, &seeds); err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	for i, sp := range seeds {
		if err := sp.Validate(); err != nil {
			return nil, fmt.Errorf("seed file %s: [%d]: %w", path, i, err)
		}
		if sp.Age != "" {
			if d, err := time.ParseDuration(sp.Age); err != nil || d < 0 {
				return nil, fmt.Errorf("seed file %s: [%d].age: want a duration like \"10m\", got %q", path, i, sp.Age)
			}
		}
	}
	return seeds, nil
}
