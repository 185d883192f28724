// Package console is the web console the action handler serves at
// /console/ on its own listener (docs/console.md): server-rendered pages
// (html/template), every asset embedded, no inline script or style.
//
//	GET  /console/login            the login form (a token with scope read)
//	POST /console/login            start a session (cookie alexis_session)
//	POST /console/logout           end it
//	GET  /console/                 the timeline of decisions, filters, paging
//	GET  /console/timeline/rows    rows newer than the top one (live updates)
//	GET  /console/alerts/{id}      one decision's whole story
//	GET  /console/rules            rule files, activity, the explain form
//	GET  /console/rules/{name}     one rule: its JSON, recent executions
//	GET  /console/explain          the explain form
//	POST /console/explain          explain an alert with the classifier
//	GET  /console/hosts            hosts acted on
//	GET  /console/hosts/{host}     what ran on one host
//	GET  /console/reports          the four reporting questions
//	GET  /console/reports.csv      the same, as CSV
//	GET  /console/executions/{id}  one execution, its approval; approve and
//	                               deny forms (POST .../approve, .../deny)
//	GET  /console/replay           the replay form (replay.go)
//	POST /console/replay           replay candidate rule files
//	GET  /console/static/*         the stylesheet and the script
//
// Pages need a session (else a redirect to the login form); every POST
// carries the session's CSRF token (the login form: its pre-session
// cookie's) and is refused when the browser says it is cross-site.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/console/svgchart"
	"github.com/alexis-ops/alexis/actionhandler/internal/replay"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/auth"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// Store is what the console reads (store.SQL is one).
type Store interface {
	ListDecisions(ctx context.Context, f store.DecisionFilter) (store.DecisionPage, error)
	GetDecision(ctx context.Context, id string) (*api.Decision, error)
	Stats(ctx context.Context, f store.StatsFilter) (store.Stats, error)
	Hosts(ctx context.Context, since time.Time, limit int) ([]store.HostStats, error)
	RuleActivity(ctx context.Context, since time.Time) (map[string]store.RuleActivity, error)
	Get(ctx context.Context, id string) (*store.Execution, error)
	List(ctx context.Context, f store.Filter) (store.Page, error)
}

// Options configure New.
type Options struct {
	Store  Store
	Tokens *auth.Tokens
	// Classifier answers GET /v1/rules and POST /v1/rules/explain; nil:
	// the rules page and explain say the classifier is not configured.
	Classifier *Classifier
	// RulesDir is the deployed rules directory (rules_dir), for a rule's
	// JSON; "": not shown.
	RulesDir string
	// TicketLinks are URL templates by feed type, {alert_id} replaced by
	// the escaped alert id (validated by the configuration).
	TicketLinks map[string]string
	// SessionKey signs sessions and CSRF tokens (console.session_key_file,
	// else RandomKey: sessions then end with the process and are not
	// shared between replicas).
	SessionKey []byte
	SessionTTL time.Duration // default 12h
	// Secure sets the cookies' Secure attribute (the listener is TLS).
	Secure bool
	Log    zerolog.Logger
	Now    func() time.Time // nil: time.Now
	// PollInterval is how often the timeline's script asks for new rows
	// (default 5 s).
	PollInterval time.Duration
	// Breakers: the circuit breaker's paused rules on the rules page, and
	// resuming them (pauses.go); nil: not shown.
	Breakers Breakers
	// Approvals: the approve and deny forms of executions awaiting
	// approval (approvals.go); nil: not shown.
	Approvals Approvals
	// Replay: the replay page (replay.go), the API's replay service;
	// nil: the page says replay is not available.
	Replay *replay.Service
}

// DefaultSessionTTL is how long a session lasts by default.
const DefaultSessionTTL = 12 * time.Hour

// Handler serves the console.
type Handler struct {
	o     Options
	s     *sessions
	login *limiter
	pages map[string]*template.Template
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New builds the console.
func New(o Options) (*Handler, error) {
	if o.Store == nil || o.Tokens == nil {
		return nil, errors.New("console: store and tokens required")
	}
	if len(o.SessionKey) == 0 {
		return nil, errors.New("console: session key required")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	o.Log = o.Log.With().Str(logging.Component, "console").Logger()
	h := &Handler{
		o:     o,
		s:     &sessions{key: o.SessionKey, ttl: o.SessionTTL, now: o.Now, revoked: map[string]int64{}},
		login: &limiter{Burst: LoginBurst, Every: LoginEvery, Max: LoginAddresses, now: o.Now, buckets: map[string]*bucket{}},
		pages: map[string]*template.Template{},
	}
	base, err := template.New("layout.html").Funcs(h.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", f, err)
		}
		h.pages[name] = t
	}
	return h, nil
}

// ContentSecurityPolicy is sent with every console answer.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Register adds the console's routes to e. They are not behind the
// bearer-token middleware of the API: pages need a session instead.
func (h *Handler) Register(e *echo.Echo) {
	e.Pre(h.replayTooLarge) // replay.go
	g := e.Group("/console", h.headers)
	g.GET("/static/*", h.static)
	g.GET("/login", h.loginForm)
	g.POST("/login", h.loginPost, h.sameOrigin)
	g.POST("/logout", h.logout, h.sameOrigin, h.session, h.csrf)
	e.GET("/console", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/console/") }, h.headers)
	p := g.Group("", h.session)
	p.GET("/", h.timeline)
	p.GET("/timeline/rows", h.timelineRows)
	p.GET("/alerts/:id", h.alert)
	p.GET("/rules", h.rules)
	p.GET("/rules/:name", h.rule)
	p.POST("/rules/:name/resume", h.resumePost, h.sameOrigin, h.csrf) // pauses.go
	p.GET("/executions/:id", h.executionPage)                         // approvals.go
	p.POST("/executions/:id/approve", h.decidePost("approve"), h.sameOrigin, h.csrf)
	p.POST("/executions/:id/deny", h.decidePost("deny"), h.sameOrigin, h.csrf)
	p.GET("/explain", h.explainForm)
	p.POST("/explain", h.explainPost, h.sameOrigin, h.csrf)
	p.GET("/hosts", h.hosts)
	p.GET("/hosts/:host", h.host)
	p.GET("/reports", h.reports)
	p.GET("/reports.csv", h.reportsCSV)
	p.GET("/replay", h.replayPage) // replay.go
	p.POST("/replay", h.replayPost, h.sameOrigin, h.csrf)
	g.Any("/*", func(c echo.Context) error { return h.fail(c, http.StatusNotFound, "no such page") })
}

// headers sets the security headers of every console answer.
func (h *Handler) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		return next(c)
	}
}

func (h *Handler) static(c echo.Context) error {
	name := c.Param("*")
	if name == "svgchart.css" {
		c.Response().Header().Set("Cache-Control", "max-age=300")
		return c.Blob(http.StatusOK, "text/css; charset=utf-8", []byte(svgchart.CSS))
	}
	data, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "..") {
		return h.fail(c, http.StatusNotFound, "no such file")
	}
	ct := "application/octet-stream"
	switch {
	case strings.HasSuffix(name, ".css"):
		ct = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ct = "text/javascript; charset=utf-8"
	}
	c.Response().Header().Set("Cache-Control", "max-age=300")
	return c.Blob(http.StatusOK, ct, data)
}

// ctxSession is the echo context key of the request's session.
const ctxSession = "console.session"

// session lets a request through with a valid session; pages redirect to
// the login form, the live fragment answers 401.
func (h *Handler) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var d sessionData
		ck, err := c.Cookie(SessionCookie)
		if err == nil {
			d, err = h.s.check(ck.Value)
		}
		if err != nil {
			if c.Request().Method == http.MethodGet && c.Path() != "/console/timeline/rows" &&
				!strings.HasSuffix(c.Path(), ".csv") {
				next := c.Request().URL.Path
				if q := c.Request().URL.RawQuery; q != "" {
					next += "?" + q
				}
				return c.Redirect(http.StatusSeeOther, "/console/login?next="+url.QueryEscape(next))
			}
			return h.fail(c, http.StatusUnauthorized, "your session has ended: log in again")
		}
		c.Set(ctxSession, d)
		return next(c)
	}
}

func sessionOf(c echo.Context) sessionData {
	d, _ := c.Get(ctxSession).(sessionData)
	return d
}

// sameOrigin refuses a POST the browser says is cross-site (Sec-Fetch-Site)
// or whose Origin is not this console's.
func (h *Handler) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
			h.o.Log.Warn().Str(logging.Event, "console_csrf_refused").Str(logging.Path, c.Path()).
				Str(logging.Reason, "sec_fetch_site").Msg("cross-site form refused")
			return h.fail(c, http.StatusForbidden, "refused: this form was sent from another site")
		}
		// Under Referrer-Policy no-referrer browsers send "Origin: null" on
		// same-origin form posts too; Sec-Fetch-Site (checked above) then
		// says where the form came from.
		if o := r.Header.Get("Origin"); o != "" && (o != "null" || r.Header.Get("Sec-Fetch-Site") != "same-origin") {
			scheme := "http"
			if h.o.Secure || r.TLS != nil {
				scheme = "https"
			}
			if o != scheme+"://"+r.Host {
				h.o.Log.Warn().Str(logging.Event, "console_csrf_refused").Str(logging.Path, c.Path()).
					Str(logging.Reason, "origin").Msg("cross-origin form refused")
				return h.fail(c, http.StatusForbidden, "refused: this form was sent from another origin")
			}
		}
		return next(c)
	}
}

// maxFormMemory is how much of a multipart form (the replay page's files)
// is held in memory rather than in temporary files: the largest body a
// route takes (replay.MaxBody), so none reaches the disk.
const maxFormMemory = replay.MaxBody

// readForm parses a POSTed form, urlencoded or multipart: a body over the
// route's body limit, or a multipart form of too many parts, is a 413,
// not a form without its fields.
func (h *Handler) readForm(c echo.Context) error {
	r := c.Request()
	var err error
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(strings.ToLower(ct), "multipart/form-data") {
		err = r.ParseMultipartForm(maxFormMemory)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return h.fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d bytes.", mbe.Limit))
		case errors.Is(err, multipart.ErrMessageTooLarge):
			return h.fail(c, http.StatusRequestEntityTooLarge, "The form has too many parts.")
		}
		return h.fail(c, http.StatusBadRequest, "The form could not be read.")
	}
	return nil
}

// csrf checks the form's csrf field against the session's token.
func (h *Handler) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := h.readForm(c); err != nil {
			return err
		}
		if !validCSRF(c.FormValue("csrf"), h.s.csrf(sessionOf(c))) {
			h.o.Log.Warn().Str(logging.Event, "console_csrf_refused").Str(logging.Path, c.Path()).
				Str(logging.Client, sessionOf(c).Client).Str(logging.Reason, "token").Msg("form without its CSRF token refused")
			return h.fail(c, http.StatusForbidden, "refused: the form's CSRF token is missing or wrong; reload the page and try again")
		}
		return next(c)
	}
}

func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/console", MaxAge: maxAge, HttpOnly: true,
		Secure: h.o.Secure, SameSite: http.SameSiteStrictMode}
}

type loginPage struct {
	CSRF, Next, Error string
}

func (h *Handler) loginForm(c echo.Context) error {
	if ck, err := c.Cookie(SessionCookie); err == nil {
		if _, err := h.s.check(ck.Value); err == nil {
			next := safeNext(c.QueryParam("next"))
			if next == "" {
				next = "/console/"
			}
			return c.Redirect(http.StatusSeeOther, next)
		}
	}
	return h.showLogin(c, http.StatusOK, "")
}

// showLogin renders the login form with a fresh pre-session nonce.
func (h *Handler) showLogin(c echo.Context, code int, msg string) error {
	nonce := randomHex(16)
	c.SetCookie(h.cookie(LoginCookie, nonce, 3600))
	return h.render(c, code, "login", page{Title: "Log in", Data: loginPage{
		CSRF: h.s.loginCSRF(nonce), Next: safeNext(c.FormValue("next")), Error: msg}})
}

// safeNext is a local console path to go to after login, or "".
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/console/") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\r\n") {
		return ""
	}
	return n
}

// wrongToken is the one answer to every refused token: it does not say
// which part was wrong.
const wrongToken = "That token was not accepted."

func (h *Handler) loginPost(c echo.Context) error {
	addr := clientAddr(c.Request())
	log := h.o.Log.With().Str("client_addr", addr).Logger()
	if !h.login.allow(addr) {
		log.Warn().Str(logging.Event, "console_login_refused").Str(logging.Reason, "rate_limited").Msg("too many login attempts")
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(LoginEvery/time.Second)))
		return h.showLogin(c, http.StatusTooManyRequests, "Too many login attempts from your address; wait a little and try again.")
	}
	if err := h.readForm(c); err != nil {
		return err
	}
	ck, err := c.Cookie(LoginCookie)
	if err != nil || !validCSRF(c.FormValue("csrf"), h.s.loginCSRF(ck.Value)) {
		log.Warn().Str(logging.Event, "console_login_refused").Str(logging.Reason, "csrf").Msg("login form without its CSRF token")
		return h.showLogin(c, http.StatusForbidden, "The login form had expired; please try again.")
	}
	name, scopes, ok := authenticate(c, h.o.Tokens, c.FormValue("token"))
	if !ok {
		log.Warn().Str(logging.Event, "console_login_refused").Str(logging.Reason, "bad_token").Msg("login refused")
		return h.showLogin(c, http.StatusUnauthorized, wrongToken)
	}
	if !scopes.Grants(auth.ScopeRead) {
		log.Warn().Str(logging.Event, "console_login_refused").Str(logging.Client, name).
			Str(logging.Reason, "missing_scope").Msg("login refused: token lacks scope read")
		return h.showLogin(c, http.StatusForbidden, "This token lacks scope read, which the console needs.")
	}
	v, d := h.s.issue(name, scopes.String())
	c.SetCookie(h.cookie(SessionCookie, v, int(h.o.SessionTTL/time.Second)))
	c.SetCookie(h.cookie(LoginCookie, "", -1))
	log.Info().Str(logging.Event, "console_login").Str(logging.Client, name).
		Time("expires", time.Unix(d.Expires, 0).UTC()).Msg("console session started")
	next := safeNext(c.FormValue("next"))
	if next == "" {
		next = "/console/"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// authenticate checks a token as the API would (auth.Middleware, which
// compares in constant time) and gives its name and scopes.
func authenticate(c echo.Context, tokens *auth.Tokens, token string) (string, auth.Scopes, bool) {
	if token == "" {
		return "", auth.Scopes{}, false
	}
	var name string
	var granted []string
	r := c.Request().Clone(c.Request().Context())
	r.Header = http.Header{"Authorization": {"Bearer " + token}}
	sub := c.Echo().NewContext(r, discard{})
	err := auth.Middleware(tokens)(func(sc echo.Context) error {
		name = auth.Client(sc)
		for _, s := range auth.AllScopes {
			if auth.Has(sc, s) {
				granted = append(granted, string(s))
			}
		}
		return nil
	})(sub)
	if err != nil || name == "" {
		return "", auth.Scopes{}, false
	}
	if len(granted) == 0 {
		return name, auth.Scopes{}, true
	}
	scopes, err := auth.ParseScopes(strings.Join(granted, ","))
	if err != nil {
		return name, auth.Scopes{}, true
	}
	return name, scopes, true
}

// discard is the response of authenticate's inner request: nothing of it
// reaches the browser.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func (h *Handler) logout(c echo.Context) error {
	d := sessionOf(c)
	h.s.revoke(d)
	c.SetCookie(h.cookie(SessionCookie, "", -1))
	h.o.Log.Info().Str(logging.Event, "console_logout").Str(logging.Client, d.Client).Msg("console session ended")
	return c.Redirect(http.StatusSeeOther, "/console/login")
}

// page is what every page template gets.
type page struct {
	Title  string
	Nav    string // the section, for the menu
	Client string
	CSRF   string
	Data   any
}

func (h *Handler) render(c echo.Context, code int, name string, p page) error {
	t, ok := h.pages[name]
	if !ok {
		return fmt.Errorf("console: no template %s", name)
	}
	if d, ok := c.Get(ctxSession).(sessionData); ok {
		p.Client, p.CSRF = d.Client, h.s.csrf(d)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		h.o.Log.Error().Str(logging.Event, "console_render_error").Str(logging.Path, c.Path()).Err(err).Send()
		return h.fail(c, http.StatusInternalServerError, "this page could not be shown")
	}
	return c.HTML(code, b.String())
}

// fail answers an error page (the message is shown as text).
func (h *Handler) fail(c echo.Context, code int, msg string) error {
	p := page{Title: http.StatusText(code), Data: msg}
	if d, ok := c.Get(ctxSession).(sessionData); ok {
		p.Client, p.CSRF = d.Client, h.s.csrf(d)
	}
	var b strings.Builder
	if err := h.pages["error"].ExecuteTemplate(&b, "layout", p); err != nil {
		return c.String(code, msg)
	}
	return c.HTML(code, b.String())
}

// storeFailed logs a store error and answers 503.
func (h *Handler) storeFailed(c echo.Context, err error) error {
	h.o.Log.Error().Str(logging.Event, "store_error").Str(logging.Path, c.Path()).Str(logging.ErrorKey, err.Error()).
		Msg("console: store unavailable")
	c.Response().Header().Set("Retry-After", "10")
	return h.fail(c, http.StatusServiceUnavailable, "The execution store is unavailable; try again shortly.")
}
