// Package server builds the echo server every Alexis service runs: JSON
// errors, a body limit answered with 413, recovery, one access-log line per
// request (never the query string, which may hold ?token=), server timeouts,
// GET /v1/ping without auth, and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/metrics"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/rs/zerolog"
)

// Options configure New.
type Options struct {
	Service   string
	Log       zerolog.Logger
	BodyLimit int64 // bytes; 0 means 1 MiB
	// RouteBodyLimits replaces BodyLimit for the routes named (by their
	// path as registered, e.g. "/v1/replay"), which take larger bodies.
	RouteBodyLimits map[string]int64
	// Metrics, when set, counts and times every request and serves
	// GET /metrics, behind MetricsAuth when that is set (the service's
	// token middleware: Prometheus scrapes with a bearer token).
	Metrics     *metrics.Metrics
	MetricsAuth echo.MiddlewareFunc
	// MaxInFlight, when above 0, is how many requests are served at once:
	// past it a request is answered 503 with Retry-After at once (counted
	// in <service>_http_requests_refused_total, logged at most once per
	// RefusedLogInterval). GET /v1/ping and /metrics are never refused.
	MaxInFlight int
}

// DefaultBodyLimit is used when Options.BodyLimit is 0.
const DefaultBodyLimit = 1 << 20

// New returns an echo instance with the common middleware and /v1/ping.
func New(o Options) *echo.Echo {
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = errorHandler(o.Log)
	e.Use(middleware.Recover())
	if o.Metrics != nil {
		e.Use(o.Metrics.Middleware())
	}
	if o.MaxInFlight > 0 {
		// Before the access log: a storm of refusals is one line per
		// RefusedLogInterval, not one per request.
		e.Use(newAdmission(o.MaxInFlight, o.Metrics, o.Log).middleware)
	}
	e.Use(accessLog(o.Log))
	e.Use(bodyLimit(o.BodyLimit, o.RouteBodyLimits))
	e.GET("/v1/ping", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok", "service": o.Service})
	})
	if o.Metrics != nil {
		var mw []echo.MiddlewareFunc
		if o.MetricsAuth != nil {
			mw = append(mw, o.MetricsAuth)
		}
		e.GET("/metrics", echo.WrapHandler(o.Metrics.Handler()), mw...)
	}
	return e
}

// ReadBody reads the request body; the body limit middleware has already
// capped it, so a body over the limit comes back as a 413 error.
func ReadBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge,
				fmt.Sprintf("body larger than %d bytes", mbe.Limit))
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "read body: "+err.Error())
	}
	return b, nil
}

// BadRequest is a 400 naming the problem.
func BadRequest(err error) error {
	return echo.NewHTTPError(http.StatusBadRequest, err.Error())
}

func bodyLimit(def int64, routes map[string]int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			limit := def
			if l, ok := routes[c.Path()]; ok && l > 0 {
				limit = l
			}
			r := c.Request()
			if r.ContentLength > limit {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
					fmt.Sprintf("body larger than %d bytes", limit))
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			return next(c)
		}
	}
}

func errorHandler(log zerolog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, body := http.StatusInternalServerError, api.Error{Error: "internal error"}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
			if ae, ok := he.Message.(api.Error); ok {
				body = ae // e.g. a 403 naming the missing scope (shared/auth)
			} else {
				body = api.Error{Error: fmt.Sprint(he.Message)}
			}
		} else {
			log.Error().Str(logging.Event, "http_error").Str(logging.Path, c.Path()).Err(err).Send()
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, body)
	}
}

func accessLog(log zerolog.Logger) echo.MiddlewareFunc {
	log = log.With().Str(logging.Component, "http").Logger()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			if c.Path() == "/v1/ping" || c.Path() == "/metrics" {
				return nil
			}
			ev := log.Info()
			if c.Response().Status >= 500 {
				ev = log.Warn()
			}
			ev.Str(logging.Event, "http_request").
				Str(logging.Method, metrics.Method(c.Request().Method)).
				Str(logging.Path, logPath(c.Request().URL.Path)).
				Int(logging.Status, c.Response().Status).
				Str(logging.Client, auth.Client(c)).
				Int64(logging.ElapsedMS, time.Since(start).Milliseconds()).
				Send()
			return nil
		}
	}
}

// maxLoggedPath is how much of a request path an access line keeps: the
// client chooses the path, and a log line is no place for megabytes of it.
const maxLoggedPath = 256

// logPath is the path as an access line logs it: cut to maxLoggedPath
// bytes, marked with "…" where it was cut.
func logPath(p string) string {
	if len(p) <= maxLoggedPath {
		return p
	}
	return strings.ToValidUTF8(p[:maxLoggedPath], "") + "…"
}

// TLSFiles name a certificate and key to serve HTTPS; empty means HTTP.
type TLSFiles struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether HTTPS is configured.
func (t TLSFiles) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Validate checks that cert and key are set together and load as a pair;
// prefix names the config key ("tls.").
func (t TLSFiles) Validate(prefix string) error {
	switch {
	case !t.Enabled():
		return nil
	case t.CertFile == "":
		return fmt.Errorf("%scert_file: required with %skey_file", prefix, prefix)
	case t.KeyFile == "":
		return fmt.Errorf("%skey_file: required with %scert_file", prefix, prefix)
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return fmt.Errorf("%scert_file, %skey_file: %v", prefix, prefix, err)
	}
	return nil
}

// Run serves e on ln until ctx is cancelled, then shuts down gracefully
// (waiting up to 10 s for requests in flight). What net/http itself
// reports (failed TLS handshakes, a handler's panic it recovered) goes to
// log as event=http_server_error lines.
func Run(ctx context.Context, e *echo.Echo, ln net.Listener, t TLSFiles, log zerolog.Logger) error {
	srv := &http.Server{
		ErrorLog:          stdlog.New(errorLogWriter{log}, "", 0),
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if t.Enabled() {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			err = srv.ServeTLS(ln, t.CertFile, t.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// errorLogWriter turns the lines net/http writes to its ErrorLog into
// log lines of the service's format.
type errorLogWriter struct{ log zerolog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str(logging.Event, "http_server_error").
		Msg(logging.Trim(strings.TrimSpace(string(p)), 500))
	return len(p), nil
}
