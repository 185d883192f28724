// Package sink holds fast local stand-ins for what a benchmark does not
// measure: an OpsGenie-API-compatible write sink (the SaaS cannot be
// reached from here) and an action handler push endpoint (when the
// classifier is measured alone). They check the caller's credentials,
// answer what the real service answers, count what they got, and keep
// nothing else.
package sink

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server is a running sink.
type Server struct {
	srv *http.Server
	ln  net.Listener

	mu     sync.Mutex
	counts map[string]int
}

func start(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: listen: %w", err)
	}
	s := &Server{ln: ln, counts: map[string]int{}}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is http://host:port.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) count(key string) {
	s.mu.Lock()
	s.counts[key]++
	s.mu.Unlock()
}

// Counts returns a copy of the calls received, by kind.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// drain reads (and discards) at most limit bytes of the body.
func drain(r *http.Request, limit int64) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r.Body, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return errors.New("body too large")
	}
	return nil
}

// OpsGenie answers the OpsGenie Alert API calls Alexis makes:
//
//	POST   /v2/alerts/{id}/{notes,teams,responders,tags,close,acknowledge,escalate}  202
//	DELETE /v2/alerts/{id}/tags                                                    202
//	GET    /v2/alerts                                                              200 {"data":[]}
//	GET    /v2/alerts/{id}                                                         200 {"data":{...,"status":"open"}}
//
// with the X-Request-Id, X-RateLimit-State and X-Response-Time headers the
// SDK expects. Counts are by operation ("notes", "teams", "close", ...).
func OpsGenie(apiKey string) (*Server, error) {
	var s *Server
	want := []byte("GenieKey " + apiKey)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := requestID()
		hd := w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("X-Request-Id", rid)
		hd.Set("X-RateLimit-State", "OK")
		hd.Set("X-Response-Time", "0.001")
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			s.count("unauthorized")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"message":"Could not authenticate","took":0.001,"requestId":%q}`, rid)
			return
		}
		if err := drain(r, 1<<20); err != nil {
			s.count("bad_body")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"message":"bad body","took":0.001,"requestId":%q}`, rid)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) < 2 || parts[0] != "v2" || parts[1] != "alerts" {
			s.count("not_found")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"not found","took":0.001,"requestId":%q}`, rid)
			return
		}
		switch {
		case r.Method == http.MethodGet && len(parts) == 2:
			s.count("list")
			fmt.Fprintf(w, `{"data":[],"took":0.001,"requestId":%q}`, rid)
		case r.Method == http.MethodGet && len(parts) == 3:
			s.count("get")
			fmt.Fprintf(w, `{"data":{"id":%q,"tinyId":"1","status":"open","acknowledged":false,"tags":[],"teams":[]},"took":0.001,"requestId":%q}`, parts[2], rid)
		case (r.Method == http.MethodPost || r.Method == http.MethodDelete) && len(parts) == 4:
			s.count(parts[3])
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"result":"Request will be processed","took":0.001,"requestId":%q}`, rid)
		default:
			s.count("not_found")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"not found","took":0.001,"requestId":%q}`, rid)
		}
	})
	var err error
	s, err = start(h)
	return s, err
}

// ActionHandler answers POST /v1/action like the real action handler does
// for a new execution: 202 {"execution_id", "status": "queued",
// "entities"}, after checking the bearer token. It does not verify the
// signature (the classifier's signing is not what is measured) and runs
// nothing. Counts: "accepted", "unauthorized", "bad_request".
func ActionHandler(token string) (*Server, error) {
	var s *Server
	want := []byte("Bearer " + token)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/v1/action" {
			s.count("not_found")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"not found"}`)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			s.count("unauthorized")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"missing or invalid token"}`)
			return
		}
		if err := drain(r, 1<<20); err != nil {
			s.count("bad_request")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = io.WriteString(w, `{"error":"body too large"}`)
			return
		}
		s.count("accepted")
		w.WriteHeader(http.StatusAccepted)
		id := strings.ReplaceAll(requestID(), "-", "")
		fmt.Fprintf(w, `{"execution_id":%q,"status":"queued","entities":["app01.example.com"]}`, id)
	})
	var err error
	s, err = start(h)
	return s, err
}
