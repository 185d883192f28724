// Package dynatracetest is a local Dynatrace-compatible server for tests
// and demos, written from Dynatrace's public Problems API v2 documentation.
// The product reaches it only through its real client (shared/dynatrace):
// give the client (dynatrace.Config.APIURL) Server.URL().
//
// It keeps problems in memory and serves:
//
//	GET  /api/v2/problems                       list (problemSelector, from, to, pageSize ≤ 500, fields; nextPageKey)
//	GET  /api/v2/problems/{problemId}           one problem, with evidenceDetails, impactAnalysis and recentComments
//	GET  /api/v2/problems/{problemId}/comments  its comments, newest first
//	POST /api/v2/problems/{problemId}/comments  {"message", "context"} → 201
//	POST /api/v2/problems/{problemId}/close     {"message"} → 200 {"problemId", "closing", "closeTimestamp", "comment"}
//
// Like Dynatrace:
//   - requests need "Authorization: Api-Token <token>" (401 otherwise);
//   - a page's nextPageKey must come alone (with at most fields): any other
//     parameter next to it answers 400, as the API documents;
//   - a problem is listed when its start or end lies in the timeframe (so
//     an open problem that started before "from" is not); from defaults to
//     now-2h, pageSize to 50; newest first (sort=+startTime: oldest first);
//   - errors are {"error": {"code", "message", "constraintViolations"}}.
//
// The problemSelector criteria implemented are status (one of "open",
// "closed"), severityLevel, impactLevel, impactedEntities, affectedEntities,
// rootCauseEntity, entityTags ("[context]key:value", "key:value", "key"),
// managementZones, managementZoneIds, displayId and problemId; values are
// quoted, "~" escapes a quote or tilde. Any other criterion answers 400, as
// does entitySelector (not implemented here).
//
// For tests: FailNext injects 429 (with Retry-After and the X-RateLimit-*
// headers) or 5xx answers, SetLatency slows answers, Requests lists what
// was called; these, listening and the token check come from the base,
// package vendortest.
package dynatracetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/vendortest"
)

// Paging limits of the list API.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Options configure New. The zero value is usable.
type Options struct {
	Addr  string // listen address; default 127.0.0.1:0
	Token string // the API token clients must send; default random
	// RateLimitReset is how far ahead the X-RateLimit-Reset of a throttled
	// (429) answer lies; default 1s. Retry-After is its whole seconds,
	// rounded up.
	RateLimitReset time.Duration
	// Now is the server's clock; default time.Now.
	Now func() time.Time
	// OnRequest, if set, is called after each request is answered.
	OnRequest func(Request)
}

// Request is one answered request, for tests counting calls.
type Request = vendortest.Request

// Server is a running Dynatrace-compatible server.
// The base (listening, authorisation, fault injection, request log) is
// the embedded vendortest.Server.
type Server struct {
	*vendortest.Server
	opts Options

	mu       sync.Mutex
	problems []*Problem // creation order
	byID     map[string]*Problem
	seq      int
	cursors  map[string]*cursor
}

// cursor is the state behind a nextPageKey: the matching problems as the
// first page saw them, and where the next page starts.
type cursor struct {
	ids    []string
	offset int
	size   int
}

// New starts a server.
func New(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Token == "" {
		o.Token = "dt0c01." + randomHex(12) + "." + randomHex(32)
	}
	if o.RateLimitReset <= 0 {
		o.RateLimitReset = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		opts:    o,
		byID:    map[string]*Problem{},
		cursors: map[string]*cursor{},
	}
	base, err := vendortest.New("dynatracetest", api{s}, vendortest.Options{
		Addr: o.Addr, Scheme: "Api-Token", Secret: o.Token, OnRequest: o.OnRequest,
	})
	if err != nil {
		return nil, err
	}
	s.Server = base
	return s, nil
}

// NewT starts a server closed when the test ends.
func NewT(t testing.TB, o ...Options) *Server {
	t.Helper()
	return vendortest.StartT(t, New, o...)
}

// URL (the environment URL to give the client, http://127.0.0.1:PORT),
// Addr, Close, FailNext, SetLatency, Requests and ResetRequests come from
// the embedded vendortest.Server.

// Token is the API token the server accepts.
func (s *Server) Token() string { return s.opts.Token }

// CreateProblem adds a problem directly (no request is logged) and returns
// it. It panics if spec is invalid: specs in tests are fixed values.
func (s *Server) CreateProblem(spec ProblemSpec) Problem {
	if err := spec.Validate(); err != nil {
		panic("dynatracetest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	p := spec.problem(s.seq, s.now())
	s.problems = append(s.problems, p)
	s.byID[p.ProblemID] = p
	return p.clone()
}

// Problem returns problem id's current state.
func (s *Server) Problem(id string) (Problem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		return Problem{}, false
	}
	return p.clone(), true
}

// Problems returns every problem, oldest first.
func (s *Server) Problems() []Problem {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Problem, 0, len(s.problems))
	for _, p := range s.problems {
		out = append(out, p.clone())
	}
	return out
}

// Comments returns problem id's comments, oldest first.
func (s *Server) Comments(id string) []Comment {
	p, _ := s.Problem(id)
	return p.Comments
}

// Resolve closes problem id as Dynatrace does when the problem ends (no
// comment); it reports whether the problem exists.
func (s *Server) Resolve(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if ok && p.Status == StatusOpen {
		p.Status, p.EndTime = StatusClosed, s.now().UnixMilli()
	}
	return ok
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// api is the vendor half of the server, answering below the base.
type api struct{ s *Server }

// Fault answers an injected status: 429 with Retry-After and the
// X-RateLimit-* headers, any other with an error body.
func (a api) Fault(w http.ResponseWriter, _ *http.Request, status int) {
	if status == http.StatusTooManyRequests {
		s := a.s
		reset := s.opts.Now().Add(s.opts.RateLimitReset)
		h := w.Header()
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.RateLimitReset.Seconds()))))
		h.Set("X-RateLimit-Limit", "50")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.UnixMicro(), 10))
		fail429(w)
		return
	}
	writeError(w, status, http.StatusText(status), nil)
}

// Unauthorized answers a request without a valid Api-Token.
func (api) Unauthorized(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusUnauthorized, "Missing authorization parameter.", nil)
}

// ServeAPI routes an authorised request.
func (a api) ServeAPI(w http.ResponseWriter, r *http.Request) {
	s := a.s
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v2/problems")
	if !ok {
		writeError(w, http.StatusNotFound, "Not found: "+r.URL.Path, nil)
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case rest == "" || rest == "/":
		s.only(w, r, http.MethodGet, s.list)
	case len(parts) == 1:
		s.only(w, r, http.MethodGet, func(w http.ResponseWriter, r *http.Request) { s.get(w, r, unescape(parts[0])) })
	case len(parts) == 2 && parts[1] == "comments":
		id := unescape(parts[0])
		switch r.Method {
		case http.MethodGet:
			s.listComments(w, r, id)
		case http.MethodPost:
			s.addComment(w, r, id)
		default:
			writeError(w, http.StatusMethodNotAllowed, "Method not allowed", nil)
		}
	case len(parts) == 2 && parts[1] == "close":
		s.only(w, r, http.MethodPost, func(w http.ResponseWriter, r *http.Request) { s.close(w, r, unescape(parts[0])) })
	default:
		writeError(w, http.StatusNotFound, "Not found: "+r.URL.Path, nil)
	}
}

func (s *Server) only(w http.ResponseWriter, r *http.Request, method string, h http.HandlerFunc) {
	if r.Method != method {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed", nil)
		return
	}
	h(w, r)
}

// violation is one entry of an error's constraintViolations.
type violation struct {
	Path              string `json:"path"`
	Message           string `json:"message"`
	ParameterLocation string `json:"parameterLocation"`
	Location          any    `json:"location"`
}

func queryViolation(param, msg string) []violation {
	return []violation{{Path: param, Message: msg, ParameterLocation: "QUERY"}}
}

func bodyViolation(field, msg string) []violation {
	return []violation{{Path: field, Message: msg, ParameterLocation: "PAYLOAD_BODY"}}
}

// listParams are the query parameters of the list API.
var listParams = []string{"nextPageKey", "pageSize", "from", "to", "problemSelector", "entitySelector", "fields", "sort"}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(listParams, k) {
			writeError(w, http.StatusBadRequest, "Constraints violated.", queryViolation(k, "unknown parameter"))
			return
		}
	}
	fields, err := parseFields(q.Get("fields"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Constraints violated.", queryViolation("fields", err.Error()))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *cursor
	if key := q.Get("nextPageKey"); key != "" {
		for k := range q {
			if k != "nextPageKey" && k != "fields" {
				writeError(w, http.StatusBadRequest, "Constraints violated.",
					queryViolation(k, "must not be set together with nextPageKey: only fields may accompany it"))
				return
			}
		}
		var ok bool
		if cur, ok = s.cursors[key]; !ok {
			writeError(w, http.StatusBadRequest, "Constraints violated.", queryViolation("nextPageKey", "invalid or expired page key"))
			return
		}
		delete(s.cursors, key)
	} else {
		var msg, param string
		if cur, param, msg = s.firstPage(q); msg != "" {
			writeError(w, http.StatusBadRequest, "Constraints violated.", queryViolation(param, msg))
			return
		}
	}
	end := min(cur.offset+cur.size, len(cur.ids))
	out := make([]map[string]any, 0, end-cur.offset)
	for _, id := range cur.ids[cur.offset:end] {
		if p, ok := s.byID[id]; ok {
			out = append(out, p.view(fields))
		}
	}
	body := map[string]any{"totalCount": len(cur.ids), "pageSize": cur.size, "problems": out}
	if end < len(cur.ids) {
		key := randomHex(24)
		s.cursors[key] = &cursor{ids: cur.ids, offset: end, size: cur.size}
		body["nextPageKey"] = key
	}
	writeJSON(w, http.StatusOK, body)
}

// firstPage evaluates a first page's query; s.mu is held. On a bad
// parameter it returns the parameter and a message.
func (s *Server) firstPage(q map[string][]string) (cur *cursor, param, msg string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	size := DefaultPageSize
	if v := get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, "pageSize", fmt.Sprintf("must be between 1 and %d", MaxPageSize)
		}
		size = n
	}
	now := s.now()
	from, to := now.Add(-2*time.Hour), now
	if v := get("from"); v != "" {
		t, err := parseTime(v, now)
		if err != nil {
			return nil, "from", err.Error()
		}
		from = t
	}
	if v := get("to"); v != "" {
		t, err := parseTime(v, now)
		if err != nil {
			return nil, "to", err.Error()
		}
		to = t
	}
	if get("entitySelector") != "" {
		return nil, "entitySelector", "not supported by this test server"
	}
	var sel selector
	if v := get("problemSelector"); v != "" {
		var err error
		if sel, err = parseSelector(v); err != nil {
			return nil, "problemSelector", err.Error()
		}
	}
	desc := true // newest first unless sort=+startTime
	switch get("sort") {
	case "", "-startTime":
	case "+startTime", "startTime":
		desc = false
	default:
		return nil, "sort", "supported: +startTime, -startTime"
	}
	var match []*Problem
	for _, p := range s.problems {
		in := func(ms int64) bool { t := time.UnixMilli(ms); return !t.Before(from) && !t.After(to) }
		if (in(p.StartTime) || p.EndTime >= 0 && in(p.EndTime)) && sel.matches(p) {
			match = append(match, p)
		}
	}
	sort.SliceStable(match, func(i, j int) bool {
		if desc {
			return match[i].StartTime > match[j].StartTime
		}
		return match[i].StartTime < match[j].StartTime
	})
	ids := make([]string, len(match))
	for i, p := range match {
		ids[i] = p.ProblemID
	}
	return &cursor{ids: ids, size: size}, "", ""
}

var knownFields = []string{"evidenceDetails", "impactAnalysis", "recentComments"}

func parseFields(v string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(f, "+"))
		if f == "" {
			continue
		}
		if !slices.Contains(knownFields, f) {
			return nil, fmt.Errorf("unknown field %q (known: %s)", f, strings.Join(knownFields, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, id string) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Constraints violated.", queryViolation("fields", err.Error()))
		return
	}
	_ = fields // details always carry every field
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, p.view(knownFields))
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, p.commentList(len(p.Comments)))
}

// maxBody bounds request bodies (the API's payload limit is 1 MB).
const maxBody = 1 << 20

// decode reads a JSON object body; it answers 400 and returns false when
// the body is missing or malformed.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "Could not read request body", nil)
		return false
	case len(data) > maxBody:
		writeError(w, http.StatusRequestEntityTooLarge, "Payload too large", nil)
		return false
	case len(strings.TrimSpace(string(data))) == 0:
		writeError(w, http.StatusBadRequest, "Constraints violated.", bodyViolation("body", "must not be null"))
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, "Could not map JSON at '' near line 1", nil)
		return false
	}
	return true
}

func (s *Server) addComment(w http.ResponseWriter, r *http.Request, id string) {
	var b struct {
		Message string `json:"message"`
		Context string `json:"context"`
	}
	if !decode(w, r, &b) {
		return
	}
	if strings.TrimSpace(b.Message) == "" {
		writeError(w, http.StatusBadRequest, "Constraints violated.", bodyViolation("message", "must not be blank"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		notFound(w, id)
		return
	}
	p.addComment(b.Message, b.Context, s.now())
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) close(w http.ResponseWriter, r *http.Request, id string) {
	var b struct {
		Message string `json:"message"`
	}
	if !decode(w, r, &b) {
		return
	}
	if strings.TrimSpace(b.Message) == "" {
		writeError(w, http.StatusBadRequest, "Constraints violated.", bodyViolation("message", "must not be blank"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		notFound(w, id)
		return
	}
	now := s.now()
	body := map[string]any{"problemId": p.ProblemID, "closing": false, "closeTimestamp": now.UnixMilli()}
	if p.Status == StatusOpen {
		c := p.addComment(b.Message, "", now)
		p.Status, p.EndTime = StatusClosed, now.UnixMilli()
		body["closing"], body["comment"] = true, c
	}
	writeJSON(w, http.StatusOK, body)
}

func notFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("Problem with ID %s not found", id), nil)
}

func fail429(w http.ResponseWriter) {
	writeError(w, http.StatusTooManyRequests, "Too Many Requests", nil)
}

func writeError(w http.ResponseWriter, status int, msg string, v []violation) {
	e := map[string]any{"code": status, "message": msg}
	if v != nil {
		e["constraintViolations"] = v
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func unescape(s string) string {
	if u, err := urlUnescape(s); err == nil {
		return u
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))[:n]
}
