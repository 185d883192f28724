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
	"github.com/alexis-ops/alexis/classifier/internal/rules"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/auth"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
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

	loader := rules.NewDir(rules.DirOptions{
		Dir:  cfg.RulesDir,
		Log:  log.With().Str(logging.Component, "rules").Logger(),
		Poll: cfg.RulesWatch == "poll",
		// A rule whose write-back the feed's ticket system cannot do is
		// refused when it loads, not found out after its tasks ran.
		Compile: rules.WithCheck(rules.Compile, func(def *rule.Rule) rule.Errors { return def.CheckWriteback(tickets) }),
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

	cl := classify.New(classify.Options{
		Rules:     loader,
		Actions:   classify.NewActionHandlers(cfg.ActionHandlerURLs(), client, log.With().Str(logging.Component, "push").Logger()),
		Tickets:   cm.Tickets(tickets),
		Queue:     cfg.DefaultInvestigationQueue,
		AutoQueue: cfg.AutoremediationQueue,
		FeedTypes: feedTypes,
		Metrics:   cm,
		Log:       log.With().Str(logging.Component, "classify").Logger(),
	})
	e := server.New(server.Options{Service: service, Log: log, BodyLimit: cfg.BodyLimit, MaxInFlight: cfg.MaxInFlight,
		Metrics: reg, MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
	h := &httpapi.Handler{Classifier: cl, Rules: loader, Intake: intakeCfg,
		Log: log.With().Str(logging.Component, "intake").Logger()}
	h.Register(e, tokens)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, ln.Addr().String()).Msg(service + " " + version)
	err = server.Run(ctx, e, ln, cfg.TLS, log)
	log.Info().Str(logging.Event, "service_stopped").Send()
	return err
}

// secretFiles are every file of cfg holding a secret or a private key,
// for the permission check at start.
func secretFiles(cfg *config.Config) []secretfile.File {
	files := append(cfg.Config.SecretFiles(),
		secretfile.File{Field: "action_handler_token_file", Path: cfg.ActionHandlerTokenFile})
	return append(files, cfg.Tickets.SecretFiles("tickets.")...)
}
