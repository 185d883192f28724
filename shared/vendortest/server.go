// Package vendortest is the base of the local vendor-compatible servers
// used in tests and demos (opsgenietest, dynatracetest): what every fake
// vendor server does the same way, so that each one holds only its API.
//
// A Server listens (127.0.0.1:0 by default), checks the
// "Authorization: <scheme> <secret>" header in constant time, injects
// faults (FailNext: the next n requests answer a status; SetLatency: every
// answer is delayed), and logs every answered request (Requests, and the
// OnRequest hook). What differs between vendors – the body of an error,
// the rate-limit headers of a 429, the routes – is the API the vendor
// package hands to New. Main (main.go) is the shared command around a
// vendor server.
//
// For each request the order is: latency, injected fault, authorisation,
// API. Test doubles only: no product package imports this one.
package vendortest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one answered request, for tests counting calls.
type Request struct {
	Method string
	Path   string // unescaped URL path
	Query  string // raw query string
	Status int
}

// API is what a vendor package implements on top of the base.
type API interface {
	// ServeAPI answers an authorised request into which no fault was injected.
	ServeAPI(w http.ResponseWriter, r *http.Request)
	// Fault answers a request with an injected status: 429 with the
	// vendor's rate-limit headers, or any other status with its error body.
	Fault(w http.ResponseWriter, r *http.Request, status int)
	// Unauthorized answers a request without the right credentials (401).
	Unauthorized(w http.ResponseWriter, r *http.Request)
}

// Options configure New.
type Options struct {
	Addr   string // listen address; default 127.0.0.1:0
	Scheme string // the Authorization scheme, e.g. "GenieKey" (required)
	Secret string // the credential clients must send after it (required)
	// ShutdownTimeout is how long Close waits for answers in flight; zero
	// closes every connection at once.
	ShutdownTimeout time.Duration
	// OnRequest, if set, is called after each request is answered.
	OnRequest func(Request)
}

// Server is a running fake vendor server.
type Server struct {
	opts Options
	api  API
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	mu         sync.Mutex
	log        []Request
	failN      int
	failStatus int
	latency    time.Duration
}

// New starts a server answering with api. name prefixes its errors
// ("opsgenietest: listen: ...").
func New(name string, api API, o Options) (*Server, error) {
	var errs []error
	if api == nil {
		errs = append(errs, errors.New("api: required"))
	}
	if o.Scheme == "" {
		errs = append(errs, errors.New("scheme: required"))
	}
	if o.Secret == "" {
		errs = append(errs, errors.New("secret: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	s := &Server{opts: o, api: api, ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the listen address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops the server.
func (s *Server) Close() error {
	var err error
	if s.opts.ShutdownTimeout > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		err = s.srv.Shutdown(ctx)
		cancel()
	} else {
		err = s.srv.Close()
	}
	<-s.done
	return err
}

// FailNext makes the next n requests (whatever they are) answer status,
// as the API's Fault writes it.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// SetLatency delays every following answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns the requests answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetRequests forgets the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// ServeHTTP answers one request: latency, fault, authorisation, API; then
// logs it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), arrivedKey{}, time.Now()))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.serve(rec, r)
	entry := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status}
	s.mu.Lock()
	s.log = append(s.log, entry)
	s.mu.Unlock()
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(entry)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency := s.latency
	fail := 0
	if s.failN > 0 {
		s.failN--
		fail = s.failStatus
	}
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case fail != 0:
		s.api.Fault(w, r, fail)
	case !s.authorized(r):
		s.api.Unauthorized(w, r)
	default:
		s.api.ServeAPI(w, r)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, s.opts.Scheme) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), []byte(s.opts.Secret)) == 1
}

type arrivedKey struct{}

// Arrived is when the server received r (before any injected latency),
// for APIs that report how long an answer took; the zero time for a
// request that did not pass through a Server.
func Arrived(r *http.Request) time.Time {
	t, _ := r.Context().Value(arrivedKey{}).(time.Time)
	return t
}

// recorder remembers the status an answer was written with.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// StartT is a vendor package's NewT: it starts a server with newServer and
// the first of opts (the zero options if none), fails the test if that
// fails, and closes the server when the test ends.
func StartT[O any, S interface{ Close() error }](t testing.TB, newServer func(O) (S, error), opts ...O) S {
	t.Helper()
	var o O
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := newServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
