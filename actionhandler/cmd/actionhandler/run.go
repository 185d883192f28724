package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/alexis-ops/alexis/actionhandler/internal/config"
	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/actionhandler/internal/httpapi"
	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/opsgenie"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket"
)

const service = "actionhandler"

// run starts the service and blocks until ctx ends and it has shut down.
// Logs go to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath, "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := logging.New(stdout, service, cfg.Log)
	tokens, err := auth.LoadTokens(cfg.TokensFile)
	if err != nil {
		return err
	}

	deps := taskDeps{}
	if cfg.Development {
		log.Warn().Str(logging.Event, "development_mode").
			Msg("development mode: commands are logged and noted, never run; no host is contacted")
	} else {
		deps.SSH, err = sshexec.New(sshexec.Options{
			User:                  cfg.SSH.User,
			KeyFile:               cfg.SSH.KeyFile,
			KnownHostsFile:        cfg.SSH.KnownHostsFile,
			InsecureIgnoreHostKey: cfg.SSH.InsecureIgnoreHostKey,
			Port:                  cfg.SSH.Port,
			ConnectTimeout:        cfg.SSH.ConnectTimeout.D(),
			CommandTimeout:        cfg.SSH.CommandTimeout.D(),
			OutputLimit:           cfg.SSH.OutputLimit,
			Log:                   log,
		})
		if err != nil {
			return err
		}
	}

	tickets := ticket.Set{}
	if cfg.OpsGenie != nil {
		og, err := opsgenie.New(*cfg.OpsGenie, log)
		if err != nil {
			return err
		}
		tickets.Add("OpsGenie", og)
	}

	eng := engine.New(engine.Options{
		Runners:            taskRunners(deps),
		Tickets:            tickets,
		InvestigationQueue: cfg.InvestigationQueue,
		Concurrency:        cfg.SSH.Concurrency,
		Development:        cfg.Development,
		Log:                log,
	})
	pool := engine.NewPool(cfg.MaxConcurrentExecutions, cfg.MaxQueuedExecutions,
		func(ctx context.Context, x engine.Execution) { eng.Run(ctx, x) })

	e := server.New(server.Options{Service: service, Log: log, BodyLimit: cfg.BodyLimit})
	h := &httpapi.Handler{Pool: pool, Log: log.With().Str(logging.Component, "api").Logger()}
	h.Register(e, tokens)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		pool.Shutdown(0)
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, ln.Addr().String()).
		Msg("action handler listening")
	serveErr := server.Run(ctx, e, ln, server.TLSFiles{})

	grace := cfg.ShutdownGrace.D()
	log.Info().Str(logging.Event, "service_stopping").Msg("waiting for running executions")
	if !pool.Shutdown(grace) {
		log.Warn().Str(logging.Event, "executions_cancelled").
			Msgf("executions still running after %s were cancelled", grace)
	}
	log.Info().Str(logging.Event, "service_stopped").Msg("stopped")
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		return serveErr
	}
	return nil
}
