// Package httptask is the http task type: one REST call per entity, its
// url, headers and body rendered from the alert (values escaped for where
// they land; shared/task/field), success when the answer's
// status is one of expect_status (default any 2xx). Redirects are not
// followed; the answer's body is kept as the step's output.
//
//	{"task_type": "http", "method": "POST", "url": "https://lb.example.com/api/pools/web/drain",
//	 "headers": {"Authorization": "Bearer {{ secret \"lb_token\" }}"},
//	 "body": "{\"member\": \"{{ entity }}\"}", "expect_status": [200, 202]}
//
// Destinations: a url whose host comes from the alert
// (http://{{ entity }}:8080/...) is called only when http.allowed_hosts
// is set, and then only for hosts it lists. Loopback, link-local,
// unspecified and cloud metadata addresses are refused unless
// http.allowed_hosts lists the address itself; that is checked on the
// address actually dialled (after DNS), so a name that resolves there, or
// is re-pointed there, does not reach them. A refused request sends
// nothing and records the rule's url, not the rendered one.
package httptask

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexis-ops/alexis/shared/task"
)

// Name is the task_type this package runs.
const Name = "http"

// Defaults.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultOutputLimit = 64 << 10
)

// Errors.
var (
	// ErrDestinationRefused: the request may not go where its url points
	// (http.allowed_hosts, or an address that is refused unless listed
	// there). The task fails without sending anything, and nothing
	// rendered from the url is recorded. Test with errors.Is.
	ErrDestinationRefused = errors.New("destination refused")
	// ErrHostNotAllowed is ErrDestinationRefused: every refused
	// destination (not listed, host from the alert without a list, a
	// guarded address).
	ErrHostNotAllowed = ErrDestinationRefused
	ErrStatus         = errors.New("unexpected status")
)

// Options configure the runner.
type Options struct {
	// AllowedHosts, when set, are the only hosts (host, host:port, IP or
	// IP:port) http tasks may call; guarded addresses (Guarded) only when
	// listed as an IP. Empty: any host written out in a rule, but no host
	// from the alert.
	AllowedHosts []string
	Timeout      time.Duration
	OutputLimit  int
}

// Runner runs http tasks.
type Runner struct {
	o      Options
	client *http.Client
	// listed are the IP entries of AllowedHosts (port 0: any port).
	listed []netip.AddrPort
	// lookup resolves a host name before the call (net.DefaultResolver;
	// tests replace it to play DNS rebinding).
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// lookupTimeout bounds the name lookup of Describe.
const lookupTimeout = 5 * time.Second

// guardedNames are host names refused unless listed (cloud metadata
// services; their addresses are guarded too).
var guardedNames = map[string]bool{"metadata.google.internal": true}

// guardedAddrs are single addresses refused unless listed: cloud metadata
// services outside the ranges Guarded refuses anyway.
var guardedAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS (IPv6)
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

// thisNetwork is 0.0.0.0/8: connecting there reaches the local host.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// Guarded reports whether http tasks may reach ip only when
// http.allowed_hosts lists it: loopback (127.0.0.0/8, ::1), link-local
// (169.254.0.0/16, which holds the 169.254.169.254 metadata service, and
// fe80::/10), unspecified and 0.0.0.0/8 (they reach the local host),
// multicast, and the cloud metadata addresses fd00:ec2::254 and
// 100.100.100.200.
func Guarded(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || thisNetwork.Contains(ip) || guardedAddrs[ip.WithZone("")]
}

// New returns a Runner.
func New(o Options) *Runner {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	r := &Runner{o: o, lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
	for _, h := range o.AllowedHosts {
		if ap, ok := listedAddr(h); ok {
			r.listed = append(r.listed, ap)
		}
	}
	tr := &http.Transport{
		Proxy: nil,
		// Control sees the address being connected to, after DNS: the
		// guard holds whatever a name resolves to, each time.
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, Control: r.control}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	r.client = &http.Client{
		Transport: tr,
		// A redirect could lead anywhere: the answer is the 3xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return r
}

// listedAddr parses an allowed_hosts entry that is an IP or IP:port.
func listedAddr(h string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), 0), true
	}
	return netip.AddrPort{}, false
}

// explicit: allowed_hosts lists ip (for port, or any port).
func (r *Runner) explicit(ip netip.Addr, port uint16) bool {
	ip = ip.Unmap().WithZone("")
	for _, l := range r.listed {
		if l.Addr() == ip && (l.Port() == 0 || l.Port() == port) {
			return true
		}
	}
	return false
}

// control refuses a connection to a guarded address that is not listed.
func (r *Runner) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check the address dialled", ErrDestinationRefused)
	}
	if Guarded(ap.Addr()) && !r.explicit(ap.Addr(), ap.Port()) {
		return errGuarded
	}
	return nil
}

var errGuarded = fmt.Errorf("%w: loopback, link-local and cloud metadata addresses are called only when http.allowed_hosts lists the address", ErrDestinationRefused)

// prepare renders the request and checks its destination; nothing of the
// rendering is returned when the destination is refused.
func (r *Runner) prepare(ctx context.Context, p *Params, s task.Step) (Request, error) {
	req, err := p.Render(s.Data())
	if err != nil {
		return Request{}, err
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Request{}, fmt.Errorf("url: not an http(s) URL after rendering")
	}
	if err := r.destination(ctx, p, u); err != nil {
		return Request{}, err
	}
	return req, nil
}

// destination checks where u goes before anything is sent: the host must
// be listed when there is a list, there must be a list when the alert
// chooses the host, and a guarded address (the host's, or one its name
// resolves to now) or name must be listed. Connecting checks the address
// dialled again (control): DNS may answer differently then.
func (r *Runner) destination(ctx context.Context, t *Params, u *url.URL) error {
	if err := r.nameAllowed(t, u); err != nil {
		return err
	}
	name := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = map[string]int{"http": 80, "https": 443}[u.Scheme]
	}
	addrs := []netip.Addr{}
	if ip, err := netip.ParseAddr(name); err == nil {
		addrs = append(addrs, ip)
	} else if ips, err := r.lookup(ctx, name); err == nil {
		addrs = ips // a failed lookup fails the call itself
	}
	for _, ip := range addrs {
		if Guarded(ip) && !r.explicit(ip, uint16(port)) {
			return errGuarded
		}
	}
	return nil
}

// nameAllowed is the part of destination that needs no lookup: the host must
// be listed when there is a list, there must be a list when the alert
// chooses the host, and a guarded name or address literal must be listed.
func (r *Runner) nameAllowed(t *Params, u *url.URL) error {
	fromAlert := t.HostFromAlert()
	host := u.Host
	if fromAlert {
		host = "the entity's host" // chosen by the alert: not repeated
	}
	switch {
	case fromAlert && len(r.o.AllowedHosts) == 0:
		return fmt.Errorf("%w: url takes its host from the alert ({{ entity }}): list the hosts it may call in http.allowed_hosts", ErrDestinationRefused)
	case !r.allowed(u):
		return fmt.Errorf("%w: %s is not in http.allowed_hosts", ErrDestinationRefused, host)
	}
	name := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if guardedNames[name] && !r.listedName(name) {
		return fmt.Errorf("%w: %s is called only when http.allowed_hosts lists it", ErrDestinationRefused, host)
	}
	return nil
}

// listedName: allowed_hosts lists the host name (with or without a port).
func (r *Runner) listedName(name string) bool {
	for _, h := range r.o.AllowedHosts {
		if n, _, err := net.SplitHostPort(h); err == nil {
			h = n
		}
		if strings.EqualFold(strings.TrimSuffix(h, "."), name) {
			return true
		}
	}
	return false
}

// Run makes the call.
func (r *Runner) Run(ctx context.Context, s task.Step) task.Result {
	start := time.Now()
	// Until the destination is accepted the step's command is the rule's
	// url as written: nothing rendered is recorded for a refused call.
	p, err := params(s.Task)
	if err != nil {
		return task.Result{ExitCode: -1, Err: err}
	}
	unrendered := p.HTTPMethod() + " " + p.URL
	res := task.Result{Command: unrendered, ExitCode: -1}
	done := func() task.Result { res.Elapsed = time.Since(start); return res }
	timeout := s.Timeout(r.o.Timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := r.prepare(ctx, p, s)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timeout: no answer within %s", timeout)
		}
		res.Err = err
		return done()
	}
	res.Command = req.Method + " " + req.URL
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
		switch {
		case errors.Is(err, ErrDestinationRefused):
			res.Command, res.Err = unrendered, errGuarded
		case ctx.Err() == context.DeadlineExceeded:
			res.Err = fmt.Errorf("timeout: no answer within %s", timeout)
		default:
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
	case !r.expected(p, resp.StatusCode):
		want := "2xx"
		if len(p.ExpectStatus) > 0 {
			want = strings.Trim(fmt.Sprint(p.ExpectStatus), "[]")
		}
		res.Err = fmt.Errorf("%w: HTTP %d (want %s)", ErrStatus, resp.StatusCode, want)
	}
	return done()
}

func (r *Runner) expected(t *Params, code int) bool {
	if len(t.ExpectStatus) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(t.ExpectStatus, code)
}

func (r *Runner) allowed(u *url.URL) bool {
	if len(r.o.AllowedHosts) == 0 {
		return true
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, h := range r.o.AllowedHosts {
		name, p, err := net.SplitHostPort(h)
		if err != nil {
			name, p = strings.Trim(h, "[]"), port // no port: any
		}
		if strings.EqualFold(name, u.Hostname()) && p == port {
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
// Preview implements task.Previewer: Describe without the lookup of the
// destination's name (a guarded address a name resolves to is found only
// when the call is made), so nothing leaves the process.
func (r *Runner) Preview(s task.Step) (string, error) {
	p, err := params(s.Task)
	if err != nil {
		return "", err
	}
	req, err := p.Render(s.Data())
	if err != nil {
		return "", err
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("url: not an http(s) URL after rendering")
	}
	if err := r.nameAllowed(p, u); err != nil {
		return "", err
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")); err == nil {
		port, _ := strconv.Atoi(u.Port())
		if port == 0 {
			port = map[string]int{"http": 80, "https": 443}[u.Scheme]
		}
		if Guarded(ip) && !r.explicit(ip, uint16(port)) {
			return "", errGuarded
		}
	}
	return "call " + req.Method + " " + req.URL, nil
}

func (r *Runner) Describe(s task.Step) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	p, err := params(s.Task)
	if err != nil {
		return "", err
	}
	req, err := r.prepare(ctx, p, s)
	if err != nil {
		return "", err
	}
	return "call " + req.Method + " " + req.URL, nil
}
