// Package httptask is the http task type: one REST call per entity, its
// url, headers and body rendered from the alert (values escaped for where
// they land; shared/rule/tasktemplate.go), success when the answer's
// status is one of expect_status (default any 2xx). Redirects are not
// followed; the answer's body is kept as the step's output.
//
//	{"task_type": "http", "method": "POST", "url": "https://lb.example.com/api/pools/web/drain",
//	 "headers": {"Authorization": "Bearer {{ secret \"lb_token\" }}"},
//	 "body": "{\"member\": \"{{ entity }}\"}", "expect_status": [200, 202]}
package httptask

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/task"
	"github.com/alexis-ops/alexis/shared/rule"
)

// Name is the task_type this package runs.
const Name = rule.TaskHTTP

// Defaults.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultOutputLimit = 64 << 10
)

// Errors.
var (
	ErrHostNotAllowed = errors.New("host not allowed")
	ErrStatus         = errors.New("unexpected status")
)

// Options configure the runner.
type Options struct {
	// AllowedHosts, when set, are the only hosts (host or host:port) http
	// tasks may call.
	AllowedHosts []string
	Timeout      time.Duration
	OutputLimit  int
	// Transport, for tests; default a transport without proxy.
	Transport http.RoundTripper
}

// Runner runs http tasks.
type Runner struct {
	o      Options
	client *http.Client
}

// New returns a Runner.
func New(o Options) *Runner {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}
	}
	return &Runner{o: o, client: &http.Client{
		Transport: tr,
		// A redirect could lead anywhere: the answer is the 3xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Run makes the call.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	start := time.Now()
	res := task.Result{Command: s.Task.HTTPMethod() + " " + s.Task.URL, ExitCode: -1}
	done := func() task.Result { res.Elapsed = time.Since(start); return res }
	req, err := s.Task.RenderHTTP(s.Data())
	if err != nil {
		res.Err = err
		return done()
	}
	res.Command = req.Method + " " + req.URL
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		res.Err = fmt.Errorf("url: not an http(s) URL after rendering")
		return done()
	}
	if !r.allowed(u) {
		res.Err = fmt.Errorf("%w: %s is not in http.allowed_hosts", ErrHostNotAllowed, u.Host)
		return done()
	}
	timeout := s.Timeout(r.o.Timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		res.Err = fmt.Errorf("request: %v", err)
		return done()
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	hr.Header.Set("User-Agent", "alexis-actionhandler")
	resp, err := r.client.Do(hr)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			res.Err = fmt.Errorf("timeout: no answer within %s", timeout)
		} else {
			res.Err = fmt.Errorf("request failed: %v", unwrapURLError(err))
		}
		return done()
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.o.OutputLimit)+1))
	res.HTTPStatus = resp.StatusCode
	if len(data) > r.o.OutputLimit {
		data, res.Truncated = data[:r.o.OutputLimit], true
	}
	res.Stdout = string(data)
	switch {
	case err != nil:
		res.Err = fmt.Errorf("reading the answer: %v", err)
	case !r.expected(s.Task, resp.StatusCode):
		want := "2xx"
		if len(s.Task.ExpectStatus) > 0 {
			want = strings.Trim(fmt.Sprint(s.Task.ExpectStatus), "[]")
		}
		res.Err = fmt.Errorf("%w: HTTP %d (want %s)", ErrStatus, resp.StatusCode, want)
	}
	return done()
}

func (r *Runner) expected(t rule.Task, code int) bool {
	if len(t.ExpectStatus) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(t.ExpectStatus, code)
}

func (r *Runner) allowed(u *url.URL) bool {
	if len(r.o.AllowedHosts) == 0 {
		return true
	}
	for _, h := range r.o.AllowedHosts {
		if strings.EqualFold(h, u.Host) || strings.EqualFold(h, u.Hostname()) {
			return true
		}
	}
	return false
}

// unwrapURLError drops the method and URL net/http puts in front (the URL
// may hold a secret; it is in the step's command, redacted, already).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Describe says what Run would do.
func (r *Runner) Describe(s task.Step) (string, error) {
	req, err := s.Task.RenderHTTP(s.Data())
	if err != nil {
		return "", err
	}
	return "call " + req.Method + " " + req.URL, nil
}
