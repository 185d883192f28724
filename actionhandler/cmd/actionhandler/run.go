package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/alexis-ops/alexis/shared/healthcheck"
	"io"
	"maps"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/alexis-ops/alexis/actionhandler/internal/breaker"
	"github.com/alexis-ops/alexis/actionhandler/internal/config"
	"github.com/alexis-ops/alexis/actionhandler/internal/console"
	"github.com/alexis-ops/alexis/actionhandler/internal/engine"
	"github.com/alexis-ops/alexis/actionhandler/internal/governor"
	"github.com/alexis-ops/alexis/actionhandler/internal/httpapi"
	"github.com/alexis-ops/alexis/actionhandler/internal/redact"
	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/writeback"
	"github.com/alexis-ops/alexis/shared/auth"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/server"
	"github.com/alexis-ops/alexis/shared/ticket/registry"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

const service = "actionhandler"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run starts the service and blocks until ctx ends and it has shut down.
// Logs go to stderr, as every service's do.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintf(stdout, "%s %s\n", service, version)
		return nil
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck.Run(ctx, healthcheck.Options{
			Service: service, DefaultConfig: config.DefaultPath, DefaultListen: config.DefaultListen,
		}, args[1:], stdout, stderr)
	}
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
	log := logging.New(stderr, service, cfg.Log)
	if err := secretfile.Check(log, secretFiles(cfg)...); err != nil {
		return err
	}
	tokens, err := auth.LoadTokens(cfg.TokensFile, auth.DefaultsActionHandler)
	if err != nil {
		return err
	}
	var key *auth.Key
	if cfg.SigningKeyFile != "" {
		if key, err = auth.LoadKey(cfg.SigningKeyFile); err != nil {
			return fmt.Errorf("signing_key_file: %w", err)
		}
	}
	secrets, red, err := loadSecrets(cfg)
	if err != nil {
		return err
	}

	st, err := openStore(ctx, cfg, secrets)
	if err != nil {
		return err
	}
	defer st.Close()
	replica := cfg.ReplicaID
	switch {
	case st.Dialect() == "sqlite":
		// One process per SQLite file: whatever was running belonged to a
		// previous process of ours.
		err = st.ExpireLeases(ctx, "")
	case replica != "":
		err = st.ExpireLeases(ctx, replica)
	}
	if err != nil {
		return err
	}
	if replica == "" {
		replica = defaultReplicaID()
	}

	reg := metrics.New(service)
	em := engine.NewMetrics(reg, st)

	deps := taskDeps{Config: cfg}
	if cfg.Development {
		log.Warn().Str(logging.Event, "development_mode").
			Msg("development mode: commands are logged and noted, never run; no host is contacted")
	} else {
		idle := cfg.SSH.IdleTimeout.D()
		if idle == 0 {
			idle = -1 // keep nothing
		}
		hosts := map[string]sshexec.Host{}
		for name, h := range cfg.SSH.Hosts {
			hosts[name] = sshexec.Host{User: h.User, Port: h.Port}
		}
		deps.SSH, err = sshexec.New(sshexec.Options{
			User:                  cfg.SSH.User,
			KeyFile:               cfg.SSH.KeyFile,
			KnownHostsFile:        cfg.SSH.KnownHostsFile,
			InsecureIgnoreHostKey: cfg.SSH.InsecureIgnoreHostKey,
			Port:                  cfg.SSH.Port,
			ConnectTimeout:        cfg.SSH.ConnectTimeout.D(),
			CommandTimeout:        cfg.SSH.CommandTimeout.D(),
			OutputLimit:           cfg.SSH.OutputLimit,
			IdleTimeout:           idle,
			Hosts:                 hosts,
			Log:                   log,
			OnConnection:          em.SSHConnection,
		})
		if err != nil {
			return err
		}
		defer deps.SSH.Close()
	}
	runners, err := taskRunners(deps)
	if err != nil {
		return err
	}

	// Ticket systems, by feed type (and feed name).
	tickets, err := registry.Build(cfg.Tickets, log)
	if err != nil {
		return fmt.Errorf("tickets: %w", err)
	}

	var leftovers engine.LeftoverKiller
	if deps.SSH != nil {
		leftovers = deps.SSH
	}
	wb := writeback.New(writeback.Options{
		Store:              st,
		Owner:              replica,
		Tickets:            em.Tickets(tickets),
		Status:             tickets,
		InvestigationQueue: cfg.InvestigationQueue,
		ConsoleURL:         cfg.Console.PublicURL,
		Attempts:           cfg.WritebackRetry.Attempts,
		RetryDelay:         cfg.WritebackRetry.Delay.D(),
		Redact:             red,
		Log:                log,
	})
	brk := breaker.New(breaker.Options{Store: st, PauseAfter: cfg.Governor.PauseAfter, Log: log, Metrics: reg})
	eng := engine.New(engine.Options{
		Store:            st,
		Owner:            replica,
		Lease:            cfg.Store.Lease.D(),
		Runners:          runners,
		Writeback:        wb,
		Concurrency:      cfg.SSH.Concurrency,
		ExecutionTimeout: cfg.ExecutionTimeout.D(),
		Development:      cfg.Development,
		Redact:           red,
		Secret:           secrets.lookup,
		Log:              log,
		Metrics:          em,
		Leftovers:        leftovers,
		Outcomes:         brk,
	})
	approvals := engine.NewApprovals(st, eng)
	gov := governor.New(governor.Options{
		DefaultWindow:     cfg.Governor.DefaultWindow.D(),
		MaxHostsPerMinute: cfg.Governor.MaxHostsPerMinute,
		Defaults:          cfg.Governor.Defaults.Rule(),
		OnResumed:         brk.OnRuleChanged,
	})

	// The API's POST /v1/replay and the console's replay page share one
	// service: the same checks, metrics, log and replays at once.
	replays := replay.NewService(replay.ServiceOptions{
		// The runners as the engine has them, not development mode's dry
		// runners: replay only describes (task.Preview), whatever the mode.
		Replayer: replay.New(replay.Options{Store: st, Runners: runners, Redact: red}),
		Metrics:  reg,
		Log:      log.With().Str(logging.Component, "replay").Logger(),
	})
	bodyLimits := maps.Clone(httpapi.RouteBodyLimits)
	maps.Copy(bodyLimits, console.RouteBodyLimits)
	e := server.New(server.Options{Service: service, Log: log, BodyLimit: cfg.BodyLimit,
		RouteBodyLimits: bodyLimits,
		Metrics:         reg, MetricsAuth: auth.Require(tokens, auth.ScopeMetrics)})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str(logging.Event, "store_opened").Str(logging.Replica, replica).
		Msgf("execution store: %s", st.Dialect())
	workers := engine.StartWorkers(engine.WorkerOptions{
		Store:        st,
		Engine:       eng,
		Workers:      cfg.MaxConcurrentExecutions,
		Admit:        gov.Admit,
		PollInterval: cfg.Store.PollInterval.D(),
		Retention:    cfg.Store.Retention.D(),
		Approvals:    approvals,
		Log:          log,
	})
	h := &httpapi.Handler{
		Store:       st,
		Wake:        workers.Wake,
		DedupWindow: cfg.DedupWindow.D(),
		MaxQueued:   cfg.MaxQueuedExecutions,
		OnDuplicate: em.Duplicate,
		Log:         log.With().Str(logging.Component, "api").Logger(),
		Key:         key,
		Breakers:    brk,
		Replay:      replays,
		Approvals:   approvals,
	}
	if cfg.RulesDir != "" {
		h.Deployed = &httpapi.DeployedRules{Dir: cfg.RulesDir}
	}
	if key == nil && cfg.RulesDir == "" {
		log.Warn().Str(logging.Event, "provenance_unverifiable").
			Msg("no signing_key_file nor rules_dir: no rule can be verified, every action needs a token with scope adhoc")
	}
	if deps.SSH != nil {
		h.HostKey = deps.SSH.HostKey
	}
	h.Register(e, tokens)
	if cfg.Console.Enabled {
		if err := registerConsole(e, cfg, st, brk, approvals, replays, tokens, log); err != nil {
			return err
		}
	}

	log.Info().Str(logging.Event, "service_started").Str(logging.Listen, ln.Addr().String()).
		Str(logging.Replica, replica).Str("version", version).Msg("starting")
	serveErr := server.Run(ctx, e, ln, cfg.TLS, log)

	grace := cfg.ShutdownGrace.D()
	log.Info().Str(logging.Event, "service_stopping").Msg("waiting for running executions")
	if !workers.Shutdown(grace) {
		log.Warn().Str(logging.Event, "executions_cancelled").
			Msgf("executions still running after %s were cancelled", grace)
	}
	log.Info().Str(logging.Event, "service_stopped").Msg("stopped")
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		return serveErr
	}
	return nil
}

// registerConsole serves the web console at /console/ on e (behind its
// own sessions, not the API's bearer tokens).
func registerConsole(e *echo.Echo, cfg *config.Config, st console.Store, brk console.Breakers, approvals console.Approvals,
	replays *replay.Service, tokens *auth.Tokens, log zerolog.Logger) error {
	k := cfg.Console
	o := console.Options{Store: st, Tokens: tokens, RulesDir: cfg.RulesDir, TicketLinks: k.TicketLinks, Breakers: brk,
		Approvals: approvals, Replay: replays,
		SessionTTL: k.SessionTTL.D(), Secure: cfg.TLS.Enabled(), Log: log}
	if k.SessionKeyFile != "" {
		key, err := console.LoadKey(k.SessionKeyFile)
		if err != nil {
			return err
		}
		o.SessionKey = key
	} else {
		o.SessionKey = console.RandomKey()
		log.Warn().Str(logging.Event, "console_session_key_random").
			Msg("console sessions are signed with a random key of this process: they end when it restarts and work on this replica only; set console.session_key_file to share one")
	}
	// Sessions end when the tokens they were granted under change.
	tokensFile, err := os.ReadFile(cfg.TokensFile)
	if err != nil {
		return fmt.Errorf("tokens_file: %w", err)
	}
	o.SessionKey = console.BindKey(o.SessionKey, tokensFile)
	if k.ClassifierURL != "" {
		tok, err := sconfig.ReadSecret(k.ClassifierTokenFile)
		if err != nil {
			return fmt.Errorf("console.classifier_token_file: %w", err)
		}
		if o.Classifier, err = console.NewClassifier(console.ClassifierOptions{URL: k.ClassifierURL, Token: tok,
			CAFile: k.ClassifierCAFile}); err != nil {
			return fmt.Errorf("console.classifier_ca_file: %w", err)
		}
	}
	h, err := console.New(o)
	if err != nil {
		return err
	}
	h.Register(e)
	log.Info().Str(logging.Event, "console_enabled").Str(logging.Path, "/console/").Msg("web console enabled")
	return nil
}

// secretSet holds the configured secrets tasks may use.
type secretSet struct {
	tasks map[string]string
	dsn   string // the PostgreSQL DSN, if any
}

func (s *secretSet) lookup(name string) (string, error) {
	v, ok := s.tasks[name]
	if !ok {
		return "", fmt.Errorf("secret %q is not configured (secrets.%s in the action handler's configuration)", name, name)
	}
	return v, nil
}

// loadSecrets reads the task secrets and builds the redactor from them and
// from every secret of the service itself.
func loadSecrets(cfg *config.Config) (*secretSet, *redact.Redactor, error) {
	s := &secretSet{tasks: map[string]string{}}
	var values []string
	for name, path := range cfg.Secrets {
		sec, err := readSecret(path)
		if err != nil {
			return nil, nil, fmt.Errorf("secrets.%s: %w", name, err)
		}
		if len(sec) < redact.MinLen {
			return nil, nil, fmt.Errorf("secrets.%s: shorter than %d characters, too short to redact from output", name, redact.MinLen)
		}
		s.tasks[name] = sec
		values = append(values, sec)
	}
	if data, err := os.ReadFile(cfg.TokensFile); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if _, tok, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				values = append(values, tok)
			}
		}
	}
	for _, path := range []string{cfg.Console.ClassifierTokenFile, cfg.Console.SessionKeyFile} {
		if path == "" {
			continue
		}
		if k, err := readSecret(path); err == nil && len(k) >= redact.MinLen {
			values = append(values, k)
		}
	}
	for _, path := range ticketSecretFiles(cfg.Tickets) {
		if k, err := readSecret(path); err == nil && k != "" {
			values = append(values, k)
		}
	}
	if cfg.SSH.KeyFile != "" {
		if pem, err := os.ReadFile(cfg.SSH.KeyFile); err == nil {
			values = append(values, redact.KeyMaterial(string(pem))...)
		}
	}
	if cfg.Store.PostgresDSNFile != "" {
		dsn, err := readSecret(cfg.Store.PostgresDSNFile)
		if err != nil {
			return nil, nil, fmt.Errorf("store.postgres_dsn_file: %w", err)
		}
		s.dsn = dsn
		values = append(values, dsn)
		if pc, err := pgconn.ParseConfig(dsn); err == nil && pc.Password != "" {
			values = append(values, pc.Password)
		}
	}
	return s, redact.New(values...), nil
}

// secretFiles are every file of cfg holding a secret or a private key,
// for the permission check at start.
func secretFiles(cfg *config.Config) []secretfile.File {
	files := []secretfile.File{
		{Field: "ssh.key_file", Path: cfg.SSH.KeyFile, Kind: secretfile.Key},
		{Field: "store.postgres_dsn_file", Path: cfg.Store.PostgresDSNFile},
		{Field: "console.classifier_token_file", Path: cfg.Console.ClassifierTokenFile},
		{Field: "console.session_key_file", Path: cfg.Console.SessionKeyFile},
	}
	files = append(cfg.Config.SecretFiles(), files...)
	names := make([]string, 0, len(cfg.Secrets))
	for name := range cfg.Secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		files = append(files, secretfile.File{Field: "secrets." + name, Path: cfg.Secrets[name]})
	}
	return append(files, cfg.Tickets.SecretFiles("tickets.")...)
}

// ticketSecretFiles are the files holding the ticket systems' keys and
// tokens, as their registrations name them.
func ticketSecretFiles(c registry.Config) []string {
	var files []string
	for _, f := range c.SecretFiles("") {
		if f.Path != "" {
			files = append(files, f.Path)
		}
	}
	return files
}

// readSecret is sconfig.ReadSecret revealed: an empty file is an error.
func readSecret(path string) (string, error) {
	s, err := sconfig.ReadSecret(path)
	return s.Reveal(), err
}

func openStore(ctx context.Context, cfg *config.Config, s *secretSet) (*store.SQL, error) {
	if s.dsn != "" {
		return store.OpenPostgres(ctx, s.dsn, store.Options{})
	}
	return store.OpenSQLite(ctx, cfg.Store.SQLitePath, store.Options{})
}

// defaultReplicaID is the host name and a random suffix: unique, so no
// replica ever takes another's executions for its own.
func defaultReplicaID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "actionhandler"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return h + "-" + hex.EncodeToString(b)
}
