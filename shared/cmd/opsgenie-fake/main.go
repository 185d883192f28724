// Command opsgenie-fake runs the local OpsGenie-compatible server of
// package opsgenietest as a process, for demos and manual testing:
//
//	opsgenie-fake -listen 127.0.0.1:9100 -api-key-file key.txt [-seed alerts.json]
//
// Point an Alexis service at it with `opsgenie: {api_url: 127.0.0.1:9100,
// api_key_file: key.txt}`. The seed file is a JSON array of alerts:
//
//	[{"message": "db01: disk almost full", "teams": ["incoming"],
//	  "tags": ["syn.db"], "details": {"host": "db01"}, "entity": "db01",
//	  "age": "10m"}]
//
// with the keys of opsgenietest.AlertSpec plus "age" (a Go duration: the
// alert was created that long ago). It logs one line per request and stops
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
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsgenie-fake:", err)
		os.Exit(1)
	}
}

// seedAlert is one seed-file entry.
type seedAlert struct {
	opsgenietest.AlertSpec
	Age string `json:"age"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("opsgenie-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9100", "listen address (host:port; port 0 picks one, logged at start)")
	keyFile := fs.String("api-key-file", "", "file holding the GenieKey clients must send (required)")
	seed := fs.String("seed", "", "JSON file with an array of alerts to create at start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *keyFile == "" {
		return errors.New("-api-key-file is required")
	}
	key, err := config.ReadSecret(*keyFile)
	if err != nil {
		return err
	}
	var seeds []seedAlert
	if *seed != "" {
		if seeds, err = readSeeds(*seed); err != nil {
			return err
		}
	}

	log := logging.New(stderr, "opsgenie-fake", logging.Options{})
	s, err := opsgenietest.New(opsgenietest.Options{
		Addr:   *listen,
		APIKey: key.Reveal(),
		OnRequest: func(r opsgenietest.Request) {
			log.Info().Str(logging.Event, "http_request").Str(logging.Method, r.Method).
				Str(logging.Path, r.Path).Int(logging.Status, r.Status).Send()
		},
	})
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	for _, sa := range seeds {
		if sa.Age != "" {
			d, _ := time.ParseDuration(sa.Age) // checked by readSeeds
			sa.CreatedAt = now.Add(-d)
		}
		a := s.CreateAlert(sa.AlertSpec)
		log.Info().Str(logging.Event, "alert_seeded").Str(logging.AlertID, a.ID).Send()
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, s.Host()).Int(logging.Count, len(seeds)).Send()
	<-ctx.Done()
	log.Info().Str(logging.Event, "service_stopped").Send()
	return nil
}

func readSeeds(path string) ([]seedAlert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed file: %w", err)
	}
	var seeds []seedAlert
	if err := json.Unmarshal(data, &seeds); err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	for i, sa := range seeds {
		if err := sa.Validate(); err != nil {
			return nil, fmt.Errorf("seed file %s: [%d]: %w", path, i, err)
		}
		if sa.Age != "" {
			if d, err := time.ParseDuration(sa.Age); err != nil || d < 0 {
				return nil, fmt.Errorf("seed file %s: [%d].age: want a duration like \"10m\", got %q", path, i, sa.Age)
			}
		}
	}
	return seeds, nil
}
