package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/alexis-ops/alexis/shared/healthcheck"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/alexis-ops/alexis/classifier/internal/classify"
	"github.com/alexis-ops/alexis/classifier/internal/config"
	"github.com/alexis-ops/alexis/classifier/internal/httpapi"
	"github.com/alexis-ops/alexis/classifier/internal/record"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/auth"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const service = "classifier"

// errUsage marks command-line mistakes.
var errUsage = errors.New("usage: classifier [-config PATH] | classifier lint [-config PATH] [DIR] | " +
	"classifier explain [-config PATH | -rules DIR] [-json] [-now TIME] [-feed-type TYPE] ALERT.json | " +
	"classifier healthcheck [-config PATH] [-url URL] | classifier version")

// run is the whole program: it serves until ctx is cancelled, or runs a
// subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "%s %s\n", service, version)
			return nil
		case "lint":
			return runLint(ctx, args[1:], stdout, stderr)
		case "explain":
			return runExplain(ctx, args[1:], stdout, stderr)
		case "healthcheck":
			return healthcheck.Run(ctx, healthcheck.Options{
				Service: service, DefaultConfig: config.DefaultPath, DefaultListen: config.DefaultListen,
			}, args[1:], stdout, stderr)
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

	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	log := logging.New(stderr, service, cfg.Log)
	if err := secretfile.Check(log, secretFiles(cfg)...); err != nil {
		return err
	}

	tokens, err := auth.LoadTokens(cfg.TokensFile, auth.DefaultsClassifier)
	if err != nil {
		return err
	}
	ahToken, err := sconfig.ReadSecret(cfg.ActionHandlerTokenFile)
	if err != nil {
		return fmt.Errorf("action_handler_token_file: %w", err)
	}
	var sign func(http.Header, []byte)
	if cfg.SigningKeyFile != "" {
		key, err := auth.LoadKey(cfg.SigningKeyFile)
		if err != nil {
			return fmt.Errorf("signing_key_file: %w", err)
		}
		sign = func(h http.Header, body []byte) { h.Set(auth.SignatureHeader, key.Sign(body, time.Now())) }
	} else {
		log.Warn().Str(logging.Event, "forwarding_unsigned").
			Msg("no signing_key_file: actions are forwarded unsigned; the action handler runs them only for a token with scope adhoc")
	}
	client, err := httpclient.New(httpclient.Options{
		Sign:    sign,
		Token:   ahToken,
		Timeout: cfg.ActionHandlerTimeout.D(),
		CAFile:  cfg.ActionHandlerCAFile,
	})
	if err != nil {
		return fmt.Errorf("action_handler_ca_file: %w", err)
	}

	reg := metrics.New(service)
	cm := classify.NewMetrics(reg)

	// Ticket systems, by feed type (and feed name).
	tickets, err := registry.Build(cfg.Tickets, log)
	if err != nil {
		return fmt.Errorf("tickets: %w", err)
	}

	// A rule whose write-back the feed's ticket system cannot do is
	// refused when it loads, not found out after its tasks ran.
	check := func(def *rule.Rule) rule.Errors { return def.CheckWriteback(tickets) }
	loader := rules.NewDir(rules.DirOptions{
		Dir:     cfg.RulesDir,
		Log:     log.With().Str(logging.Component, "rules").Logger(),
		Poll:    cfg.RulesWatch == "poll",
		Compile: rules.WithCheck(rules.Compile, check),
	})
	defer loader.Close()
	set, err := loader.Load(ctx)
	if err != nil {
		return err
	}
	log.Info().Str(logging.Event, "rules_loaded").Int(logging.Count, len(set.Rules)).
		Str(logging.Mode, loader.Mode()).Msg("valid rule files")
	reg.Registry.MustRegister(classify.RulesCollector(service, loader))

	intakeCfg := httpapi.Intake{Push: cfg.Feeds.Routes()}
	// The feed types Alexis ships and those of the registered ticket
	// systems (a new system's feed type need not be in shared/alert).
	feedTypes := alert.FeedTypes()
	for _, ft := range registry.FeedTypes() {
		if !slices.Contains(feedTypes, ft) {
			feedTypes = append(feedTypes, ft)
		}
	}
	for _, w := range cfg.Webhooks {
		feedTypes = append(feedTypes, w.FeedType)
	}
	for _, w := range cfg.Tickets.Webhooks {
		feedTypes = append(feedTypes, w.FeedTypes...)
	}

	history, err := startHistory(cfg, reg, log.With().Str(logging.Component, "history").Logger())
	if err != nil {
		return err
	}
	if history != nil {
		defer func() {
			// Drain what is buffered: a little past the HTTP server's own
			// shutdown, so the last requests' decisions go too.
			ctx, cancel := context.WithTimeout(context.Background(), historyDrain)
			defer cancel()
			_ = history.Close(ctx) // what is dropped is logged and counted
		}()
	}

	cl := classify.New(classify.Options{
		Rules:     loader,
		Actions:   classify.NewActionHandlers(cfg.ActionHandlerURLs(), client, log.With().Str(logging.Component, "push").Logger()),
		Tickets:   cm.Tickets(tickets),
		Queue:     cfg.DefaultInvestigationQueue,
		AutoQueue: cfg.AutoremediationQueue,
		FeedTypes: feedTypes,
		Metrics:   cm,
		History:   historyRecorder(history),
		Log:       log.With().Str(logging.Component, "classify").Logger(),
	})
	e := server.New(server.Options{Service: service, Log: log, BodyLimit: cfg.BodyLimit, MaxInFlight: cfg.MaxInFlight,
		Metrics: reg, MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
	h := &httpapi.Handler{Classifier: cl, Rules: loader, Intake: intakeCfg, Check: check,
		Log: log.With().Str(logging.Component, "intake").Logger()}
	h.Register(e, tokens)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, ln.Addr().String()).
		Str("version", version).Msg("starting")
	err = server.Run(ctx, e, ln, cfg.TLS, log)
	log.Info().Str(logging.Event, "service_stopped").Send()
	return err
}

// historyDrain bounds how long decisions still buffered at shutdown are
// tried.
const historyDrain = 10 * time.Second

// startHistory starts the decision recorder of the history block, or
// returns nil (logging event=history_disabled) when there is none.
func startHistory(cfg *config.Config, reg *metrics.Metrics, log zerolog.Logger) (*record.Recorder, error) {
	h := cfg.History
	if !h.Enabled() {
		log.Info().Str(logging.Event, "history_disabled").
			Msg("no history.url: decisions are not recorded (the console's timeline stays empty)")
		return nil, nil
	}
	token, err := sconfig.ReadSecret(h.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("history.token_file: %w", err)
	}
	ca := h.CAFile
	if ca == "" {
		ca = cfg.ActionHandlerCAFile
	}
	client, err := httpclient.New(httpclient.Options{Token: token, Timeout: h.Timeout.D(), CAFile: ca})
	if err != nil {
		return nil, fmt.Errorf("history.ca_file: %w", err)
	}
	log.Info().Str(logging.Event, "history_enabled").Str(logging.Target, h.URL).Int("buffer", h.Buffer).Send()
	return record.New(record.Options{URL: h.URL, Client: client, Buffer: h.Buffer,
		FlushInterval: h.FlushInterval.D(), Metrics: record.NewMetrics(reg), Log: log}), nil
}

// historyRecorder is r as classify's Recorder: nil when there is none.
func historyRecorder(r *record.Recorder) classify.Recorder {
	if r == nil {
		return nil
	}
	return r
}

// secretFiles are every file of cfg holding a secret or a private key,
// for the permission check at start.
func secretFiles(cfg *config.Config) []secretfile.File {
	files := append(cfg.Config.SecretFiles(),
		secretfile.File{Field: "action_handler_token_file", Path: cfg.ActionHandlerTokenFile})
	if cfg.History.Enabled() {
		files = append(files, secretfile.File{Field: "history.token_file", Path: cfg.History.TokenFile})
	}
	return append(files, cfg.Tickets.SecretFiles("tickets.")...)
}
