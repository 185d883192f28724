package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/alexis-ops/alexis/poller/internal/config"
	"github.com/alexis-ops/alexis/poller/internal/feeds"
	"github.com/alexis-ops/alexis/poller/internal/httpapi"
	"github.com/alexis-ops/alexis/poller/internal/pgstate"
	"github.com/alexis-ops/alexis/poller/internal/poller"
	"github.com/alexis-ops/alexis/poller/internal/state"
	"github.com/alexis-ops/alexis/shared/auth"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/healthcheck"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const service = "poller"

// errUsage marks command-line mistakes.
var errUsage = errors.New("usage: poller [-config PATH] | poller once [-config PATH] | poller healthcheck [-config PATH] [-url URL] | poller version")

// run is the whole program: it polls until ctx is cancelled, or once.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	once := false
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "%s %s\n", service, version)
			return nil
		case "healthcheck":
			return healthcheck.Run(ctx, healthcheck.Options{Service: service, DefaultConfig: config.DefaultPath}, args[1:], stdout, stderr)
		case "once":
			once = true
			args = args[1:]
		}
	}
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", config.DefaultPath, "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w (unexpected %q)", errUsage, fs.Arg(0))
	}

	cfg, err := config.Load(*configPath, feeds.Types())
	if err != nil {
		return err
	}
	log := logging.New(stderr, service, cfg.Log)
	if err := secretfile.Check(log, secretFiles(cfg)...); err != nil {
		return err
	}

	names := make([]string, 0, len(cfg.Feeds))
	for _, f := range cfg.Feeds {
		names = append(names, f.Name)
	}
	reg := metrics.New(service)
	pm := poller.NewMetrics(reg)
	st, pg, closeState, err := openState(ctx, cfg, names, log, pm)
	if err != nil {
		return err
	}
	defer closeState()

	token, err := sconfig.ReadSecret(cfg.Classifier.TokenFile)
	if err != nil {
		return fmt.Errorf("classifier.token_file: %w", err)
	}
	client, err := httpclient.New(httpclient.Options{
		Token:   token,
		Timeout: cfg.Classifier.Timeout.D(),
		CAFile:  cfg.Classifier.CAFile,
	})
	if err != nil {
		return fmt.Errorf("classifier.ca_file: %w", err)
	}

	var sources []poller.Source
	for _, fc := range cfg.Feeds {
		flog := log.With().Str(logging.Component, "feed").Str(logging.FeedName, fc.Name).Logger()
		f, err := fc.New(flog)
		if err != nil {
			return err
		}
		sources = append(sources, poller.Source{Feed: f, Interval: cfg.Interval(fc)})
	}
	p := poller.New(poller.Options{
		Metrics:    pm,
		Sources:    sources,
		Classifier: &poller.HTTPClassifier{URL: cfg.Classifier.URL, Client: client},
		State:      st,
		Log:        log.With().Str(logging.Component, "poller").Logger(),
		MaxBackoff: cfg.MaxBackoff.D(),
	})

	if once && pg != nil {
		return pg.RunOnce(ctx, names, p.Once)
	}
	if once {
		return p.Once(ctx)
	}

	var serve func() error
	listen := ""
	if cfg.Listen != "" {
		tokens, err := auth.LoadTokens(cfg.TokensFile, auth.DefaultsPoller)
		if err != nil {
			return err
		}
		e := server.New(server.Options{Service: service, Log: log, BodyLimit: cfg.BodyLimit,
			Metrics: reg, MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
		(&httpapi.Handler{Poller: p}).Register(e, tokens)
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		listen = ln.Addr().String()
		serve = func() error { return server.Run(ctx, e, ln, cfg.TLS, log) }
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, listen).
		Int(logging.Count, len(sources)).Str("version", version).Msg("starting")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		var err error
		if serve != nil {
			err = serve() // returns once ctx is done, or early on failure
		}
		if err != nil {
			cancel()
		}
		errc <- err
	}()
	if pg != nil {
		pg.Lead(ctx, names, p.Run)
	} else {
		p.Run(ctx)
	}
	cancel()
	err = <-errc
	log.Info().Str(logging.Event, "service_stopped").Send()
	return err
}

// secretFiles are every file of cfg holding a secret or a private key,
// for the permission check at start.
func secretFiles(cfg *config.Config) []secretfile.File {
	files := append(cfg.Config.SecretFiles(),
		secretfile.File{Field: "state.postgres_dsn_file", Path: cfg.State.PostgresDSNFile},
		secretfile.File{Field: "classifier.token_file", Path: cfg.Classifier.TokenFile})
	for i, f := range cfg.Feeds {
		files = append(files, f.Block.SecretFiles(fmt.Sprintf("feeds[%d].", i))...)
	}
	return files
}

// openState opens the delivery state: PostgreSQL with a lease when
// state.postgres_dsn_file is set (pg is then not nil), else the state file.
func openState(ctx context.Context, cfg *config.Config, names []string, log zerolog.Logger, pm *poller.Metrics) (st poller.State, pg *pgstate.Store, closeFn func(), err error) {
	if cfg.State.Postgres() {
		dsn, err := sconfig.ReadSecret(cfg.State.PostgresDSNFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("state.postgres_dsn_file: %w", err)
		}
		pm.SetLeader(false)
		pg, err := pgstate.Open(ctx, dsn.Reveal(), pgstate.Options{
			Holder:        pgstate.NewHolder(),
			Lease:         cfg.State.Lease.D(),
			RenewInterval: cfg.State.RenewInterval.D(),
			Log:           log.With().Str(logging.Component, "lease").Logger(),
			OnLeader:      pm.SetLeader,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("state.postgres_dsn_file: %w", err)
		}
		log.Info().Str(logging.Event, "state_opened").Str(logging.Replica, pg.Holder()).
			Int(logging.Count, pgstate.SchemaVersion()).Msg("state in postgresql")
		return pg, pg, func() { pg.Close() }, nil
	}
	fst, err := state.Open(cfg.StateFile)
	if err != nil {
		return nil, nil, nil, err
	}
	if n := fst.Prune(names); n > 0 {
		log.Info().Str(logging.Event, "state_pruned").Int(logging.Count, n).Msg("forgot alerts of feeds no longer configured")
	}
	if err := fst.Save(); err != nil { // also proves the file is writable
		fst.Close()
		return nil, nil, nil, fmt.Errorf("state_file: %w", err)
	}
	remembered := 0
	for _, n := range names {
		remembered += fst.Count(n)
	}
	log.Info().Str(logging.Event, "state_loaded").Str(logging.Path, fst.Path()).Int(logging.Count, remembered).Send()
	pm.SetLeader(true)
	return poller.FileState(fst), nil, func() { fst.Close() }, nil
}
