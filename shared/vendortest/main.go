package vendortest

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
)

// Command describes one fake vendor command (cmd/opsgenie-fake, ...) to
// Main and Run. S is the vendor's seed spec (opsgenietest.AlertSpec), F
// its running server.
//
// The command line is
//
//	NAME [-listen ADDR] -SECRETFLAG FILE [-seed FILE]
//
// where the seed file is a JSON array of S objects, each with an optional
// "age" (a Go duration: the seeded object was created that long ago). The
// command logs one line per request and stops on SIGINT or SIGTERM.
type Command[S any, F Fake] struct {
	Name        string // command name, e.g. "opsgenie-fake"
	Listen      string // default listen address, e.g. "127.0.0.1:9100"
	SecretFlag  string // flag naming the secret file, e.g. "api-key-file"
	SecretUsage string // its help text
	SeedUsage   string // help text of -seed
	SeedEvent   string // the event logged per seeded object, e.g. "alert_seeded"
	// Validate checks one seed spec.
	Validate func(S) error
	// Start starts the server on addr accepting secret.
	Start func(addr, secret string, onRequest func(Request)) (F, error)
	// Seed creates one object on the server and returns its ID; created
	// is the zero time when the seed has no age.
	Seed func(srv F, spec S, created time.Time) string
}

// Fake is what Run needs of a running vendor server.
type Fake interface {
	Addr() string
	Close() error
}

// Main runs the command with the process's arguments and exits non-zero
// on error. Call it from main and nowhere else.
func Main[S any, F Fake](c Command[S, F]) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := c.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, c.Name+":", err)
		os.Exit(1)
	}
}

// Run parses args, starts the server, seeds it and serves until ctx ends.
// It logs to stderr.
func (c Command[S, F]) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", c.Listen, "listen address (host:port; port 0 picks one, logged at start)")
	secretFile := fs.String(c.SecretFlag, "", c.SecretUsage)
	seed := fs.String("seed", "", c.SeedUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *secretFile == "" {
		return fmt.Errorf("-%s is required", c.SecretFlag)
	}
	secret, err := config.ReadSecret(*secretFile)
	if err != nil {
		return err
	}
	var seeds []seedEntry[S]
	if *seed != "" {
		if seeds, err = c.readSeeds(*seed); err != nil {
			return err
		}
	}

	log := logging.New(stderr, c.Name, logging.Options{})
	srv, err := c.Start(*listen, secret.Reveal(), func(r Request) {
		log.Info().Str(logging.Event, "http_request").Str(logging.Method, r.Method).
			Str(logging.Path, r.Path).Int(logging.Status, r.Status).Send()
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	now := time.Now()
	for _, se := range seeds {
		var created time.Time
		if se.hasAge {
			created = now.Add(-se.age)
		}
		id := c.Seed(srv, se.spec, created)
		log.Info().Str(logging.Event, c.SeedEvent).Str(logging.AlertID, id).Send()
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, srv.Addr()).Int(logging.Count, len(seeds)).Send()
	<-ctx.Done()
	log.Info().Str(logging.Event, "service_stopped").Send()
	return nil
}

// seedEntry is one checked seed-file entry.
type seedEntry[S any] struct {
	spec   S
	age    time.Duration
	hasAge bool
}

func (c Command[S, F]) readSeeds(path string) ([]seedEntry[S], error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed file: %w", err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	seeds := make([]seedEntry[S], len(raw))
	for i, r := range raw {
		var age struct {
			Age string `json:"age"`
		}
		if err := json.Unmarshal(r, &seeds[i].spec); err != nil {
			return nil, fmt.Errorf("seed file %s: [%d]: %w", path, i, err)
		}
		if err := json.Unmarshal(r, &age); err != nil {
			return nil, fmt.Errorf("seed file %s: [%d].age: %w", path, i, err)
		}
		if err := c.Validate(seeds[i].spec); err != nil {
			return nil, fmt.Errorf("seed file %s: [%d]: %w", path, i, err)
		}
		if age.Age != "" {
			d, err := time.ParseDuration(age.Age)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("seed file %s: [%d].age: want a duration like \"10m\", got %q", path, i, age.Age)
			}
			seeds[i].age, seeds[i].hasAge = d, true
		}
	}
	return seeds, nil
}
