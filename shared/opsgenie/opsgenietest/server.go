// Package opsgenietest is a local OpsGenie-compatible server for tests and
// demos, written from OpsGenie's public Alert API v2 documentation. The
// product reaches it only through the real opsgenie-go-sdk-v2: give the SDK
// (opsgenie.Config.APIURL) Server.Host(), a bare 127.0.0.1:PORT, and it
// speaks plain HTTP because the host contains no "api".
//
// It keeps alerts in memory and serves:
//
//	GET    /v2/alerts                          list (query, offset, limit ≤ 100, sort, order)
//	GET    /v2/alerts/count                    count (query)
//	POST   /v2/alerts                          create (202)
//	GET    /v2/alerts/requests/{requestId}     request status
//	GET    /v2/alerts/{identifier}             get (identifierType=id|tiny|alias)
//	DELETE /v2/alerts/{identifier}             delete (202)
//	GET    /v2/alerts/{identifier}/notes       list notes
//	POST   /v2/alerts/{identifier}/notes       add note (202)
//	POST   /v2/alerts/{identifier}/teams       add team (202)
//	POST   /v2/alerts/{identifier}/responders  add responder (202)
//	POST   /v2/alerts/{identifier}/tags        add tags (202)
//	DELETE /v2/alerts/{identifier}/tags        remove tags (?tags=a,b) (202)
//	POST   /v2/alerts/{identifier}/details     add details (202)
//	DELETE /v2/alerts/{identifier}/details     remove details (?keys=a,b) (202)
//	POST   /v2/alerts/{identifier}/close       close (202)
//	POST   /v2/alerts/{identifier}/acknowledge acknowledge (202)
//	POST   /v2/alerts/{identifier}/unacknowledge
//	POST   /v2/alerts/{identifier}/escalate    escalate (202)
//
// Like OpsGenie, write calls are processed "asynchronously": they answer 202
// with a requestId once the body is valid, and an action on an alert that
// does not exist shows up as a failed request status, not as an error.
// Every answer carries X-Request-Id, X-RateLimit-State and X-Response-Time.
// Requests need "Authorization: GenieKey <key>" (401 otherwise).
//
// For tests: FailNext injects 429 (with OpsGenie's rate-limit headers) or
// 5xx answers, SetLatency slows answers, Requests lists what was called;
// these, listening and the key check come from the base, package
// vendortest.
package opsgenietest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/vendortest"
)

// Options configure New. The zero value is usable.
type Options struct {
	Addr   string // listen address; default 127.0.0.1:0
	APIKey string // the GenieKey clients must send; default a random UUID
	// OmitRequestID makes write calls answer 202 without a requestId (in the
	// body and the X-Request-Id header), to test clients that insist on one.
	OmitRequestID bool
	// RateLimitPeriod is the X-RateLimit-Period-In-Sec of throttled (429)
	// answers; default 1.
	RateLimitPeriod int
	// Now is the server's clock; default time.Now.
	Now func() time.Time
	// OnRequest, if set, is called after each request is answered.
	OnRequest func(Request)
}

// Request is one answered request, for tests counting calls; its Path is
// the unescaped URL path, e.g. /v2/alerts/ID/notes.
type Request = vendortest.Request

// Server is a running OpsGenie-compatible server.
// The base (listening, authorisation, fault injection, request log) is
// the embedded vendortest.Server.
type Server struct {
	*vendortest.Server
	opts Options
	key  string

	mu       sync.Mutex
	alerts   []*Alert // creation order
	byID     map[string]*Alert
	lastTiny int
	noteSeq  int
	teams    map[string]string // team id → name
	statuses map[string]requestStatus
}

// New starts a server.
func New(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.APIKey == "" {
		o.APIKey = newUUID()
	}
	if o.RateLimitPeriod <= 0 {
		o.RateLimitPeriod = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		opts:     o,
		key:      o.APIKey,
		byID:     map[string]*Alert{},
		teams:    map[string]string{},
		statuses: map[string]requestStatus{},
	}
	base, err := vendortest.New("opsgenietest", api{s}, vendortest.Options{
		Addr: o.Addr, Scheme: "GenieKey", Secret: o.APIKey,
		ShutdownTimeout: 5 * time.Second, OnRequest: o.OnRequest,
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

// Host is the address to give the SDK as its API URL: 127.0.0.1:PORT.
// URL, Addr, Close, FailNext, SetLatency, Requests and ResetRequests come
// from the embedded vendortest.Server.
func (s *Server) Host() string { return s.Addr() }

// APIKey is the GenieKey the server accepts.
func (s *Server) APIKey() string { return s.key }

// CreateAlert adds an alert directly (no request is logged) and returns it.
// It panics if spec is invalid (see AlertSpec.Validate): specs in tests are
// fixed values.
func (s *Server) CreateAlert(spec AlertSpec) Alert {
	if err := spec.Validate(); err != nil {
		panic("opsgenietest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(spec).clone()
}

// Alert returns alert id's current state.
func (s *Server) Alert(id string) (Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[id]
	if !ok {
		return Alert{}, false
	}
	return a.clone(), true
}

// Alerts returns every alert, oldest first.
func (s *Server) Alerts() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Alert, 0, len(s.alerts))
	for _, a := range s.alerts {
		out = append(out, a.clone())
	}
	return out
}

// Notes returns the texts of alert id's notes, oldest first.
func (s *Server) Notes(id string) []string {
	a, _ := s.Alert(id)
	var out []string
	for _, n := range a.Notes {
		out = append(out, n.Note)
	}
	return out
}

// Teams returns the names of alert id's teams, in the order they were added.
func (s *Server) Teams(id string) []string {
	a, _ := s.Alert(id)
	return a.Teams
}

// Users returns the user names added to alert id as responders.
func (s *Server) Users(id string) []string {
	a, _ := s.Alert(id)
	return a.Users
}

// Escalations returns the escalations alert id was escalated to.
func (s *Server) Escalations(id string) []string {
	a, _ := s.Alert(id)
	return a.Escalations
}

// Tags returns alert id's tags.
func (s *Server) Tags(id string) []string {
	a, _ := s.Alert(id)
	return a.Tags
}

// CloseAlert closes alert id as a user would; it reports whether it exists.
func (s *Server) CloseAlert(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[id]
	if ok {
		s.closeAlert(a, "test")
	}
	return ok
}

// Modify changes alert id in place as a user would (fn may change any
// field; responders follow Teams) and reports whether the alert exists.
func (s *Server) Modify(id string, fn func(a *Alert)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[id]
	if !ok {
		return false
	}
	fn(a)
	teams := a.Teams
	a.Teams, a.Responders = nil, nil
	for _, t := range teams {
		s.addTeam(a, t)
	}
	a.UpdatedAt = s.now()
	return true
}

// create adds an alert; s.mu is held.
func (s *Server) create(spec AlertSpec) *Alert {
	now := s.now()
	created := spec.CreatedAt.UTC().Truncate(time.Millisecond)
	if spec.CreatedAt.IsZero() {
		created = now
	}
	s.lastTiny++
	a := &Alert{
		ID:             newUUID(),
		TinyID:         strconv.Itoa(s.lastTiny),
		Alias:          spec.Alias,
		Message:        cut(spec.Message, maxMessage),
		Status:         "open",
		Acknowledged:   spec.Acknowledged,
		Tags:           []string{},
		Count:          1,
		LastOccurredAt: created,
		CreatedAt:      created,
		UpdatedAt:      created,
		Source:         spec.Source,
		Owner:          spec.Owner,
		Priority:       spec.Priority,
		Integration:    Integration{ID: teamID("integration:api"), Name: "Default API", Type: "API"},
		Actions:        slices.Clone(spec.Actions),
		Entity:         spec.Entity,
		Description:    spec.Description,
		Details:        map[string]string{},
	}
	if a.Alias == "" {
		a.Alias = a.ID
	}
	if a.Priority == "" {
		a.Priority = "P3"
	}
	for _, t := range spec.Tags {
		if len(a.Tags) < maxTags {
			a.Tags = addUnique(a.Tags, t)
		}
	}
	for k, v := range spec.Details {
		a.Details[k] = v
	}
	for _, t := range spec.Teams {
		s.addTeam(a, t)
	}
	if spec.Status == "closed" {
		s.closeAlert(a, "")
	}
	s.alerts = append(s.alerts, a)
	s.byID[a.ID] = a
	return a
}

// addTeam adds team name to a's responders; s.mu is held.
func (s *Server) addTeam(a *Alert, name string) {
	id := teamID(name)
	if _, known := s.teams[id]; !known {
		s.teams[id] = name
	}
	for _, t := range a.Teams {
		if strings.EqualFold(t, name) {
			return
		}
	}
	a.Teams = append(a.Teams, name)
	a.Responders = append(a.Responders, Responder{Type: "team", ID: id})
}

func (s *Server) closeAlert(a *Alert, by string) {
	if a.Status == "closed" {
		return
	}
	a.Status = "closed"
	a.Report.CloseTime = s.now().Sub(a.CreatedAt).Milliseconds()
	a.Report.ClosedBy = by
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// find resolves an identifier; s.mu is held.
func (s *Server) find(ident, typ string) *Alert {
	switch typ {
	case "tiny":
		for _, a := range s.alerts {
			if a.TinyID == ident {
				return a
			}
		}
	case "alias":
		var found *Alert
		for _, a := range s.alerts {
			if a.Alias == ident && (found == nil || a.Status == "open") {
				found = a
			}
		}
		return found
	default:
		return s.byID[ident]
	}
	return nil
}

// api is the vendor half of the server, answering below the base.
type api struct{ s *Server }

// call starts answering r.
func (a api) call(w http.ResponseWriter, r *http.Request) *call {
	return &call{s: a.s, w: w, r: r, start: vendortest.Arrived(r), rid: newUUID()}
}

// Fault answers an injected status: 429 with X-RateLimit-State THROTTLED
// and the rate-limit headers OpsGenie sends, any other with a JSON message.
func (a api) Fault(w http.ResponseWriter, r *http.Request, status int) {
	c := a.call(w, r)
	if status == http.StatusTooManyRequests {
		h := c.w.Header()
		h.Set("X-RateLimit-State", "THROTTLED")
		h.Set("X-RateLimit-Reason", "ACCOUNT")
		h.Set("X-RateLimit-Period-In-Sec", strconv.Itoa(a.s.opts.RateLimitPeriod))
		c.fail(status, "You are making too many requests! To avoid errors, we recommend you limit requests.")
		return
	}
	c.fail(status, http.StatusText(status))
}

// Unauthorized answers a request without a valid GenieKey.
func (a api) Unauthorized(w http.ResponseWriter, r *http.Request) {
	a.call(w, r).fail(http.StatusUnauthorized, "Could not authenticate")
}

// ServeAPI routes an authorised request.
func (a api) ServeAPI(w http.ResponseWriter, r *http.Request) { a.s.route(a.call(w, r)) }

// route dispatches on the path below /v2/alerts. Paths are split on their
// escaped form so an alias may contain an encoded "/".
func (s *Server) route(c *call) {
	rest, ok := strings.CutPrefix(c.r.URL.EscapedPath(), "/v2/alerts")
	if !ok || (rest != "" && rest[0] != '/') {
		c.fail(http.StatusNotFound, "No API found at "+c.r.URL.Path)
		return
	}
	var segs []string
	for _, seg := range strings.Split(strings.Trim(rest, "/"), "/") {
		if seg == "" {
			continue
		}
		u, err := url.PathUnescape(seg)
		if err != nil {
			c.fail(http.StatusBadRequest, "malformed path")
			return
		}
		segs = append(segs, u)
	}
	m := c.r.Method
	switch {
	case len(segs) == 0 && m == http.MethodGet:
		s.list(c)
	case len(segs) == 0 && m == http.MethodPost:
		s.createAlert(c)
	case len(segs) == 1 && segs[0] == "count" && m == http.MethodGet:
		s.count(c)
	case len(segs) == 2 && segs[0] == "requests" && m == http.MethodGet:
		s.requestStatus(c, segs[1])
	case len(segs) == 1 && m == http.MethodGet:
		s.get(c, segs[0])
	case len(segs) == 1 && m == http.MethodDelete:
		s.deleteAlert(c, segs[0])
	case len(segs) == 2 && segs[1] == "notes" && m == http.MethodGet:
		s.listNotes(c, segs[0])
	case len(segs) == 2 && m == http.MethodPost:
		s.action(c, segs[0], segs[1])
	case len(segs) == 2 && m == http.MethodDelete && (segs[1] == "tags" || segs[1] == "details"):
		s.removeAction(c, segs[0], segs[1])
	case len(segs) <= 2:
		c.fail(http.StatusMethodNotAllowed, "Method "+m+" is not allowed on "+c.r.URL.Path)
	default:
		c.fail(http.StatusNotFound, "No API found at "+c.r.URL.Path)
	}
}

// sortKeys are the list sort fields this server supports.
var sortKeys = map[string]func(a, b *Alert) int{
	"createdAt":      func(a, b *Alert) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"updatedAt":      func(a, b *Alert) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
	"lastOccurredAt": func(a, b *Alert) int { return a.LastOccurredAt.Compare(b.LastOccurredAt) },
	"tinyId":         func(a, b *Alert) int { return tinyNum(a) - tinyNum(b) },
	"alias":          func(a, b *Alert) int { return strings.Compare(a.Alias, b.Alias) },
	"message":        func(a, b *Alert) int { return strings.Compare(a.Message, b.Message) },
	"status":         func(a, b *Alert) int { return strings.Compare(a.Status, b.Status) },
	"source":         func(a, b *Alert) int { return strings.Compare(a.Source, b.Source) },
	"owner":          func(a, b *Alert) int { return strings.Compare(a.Owner, b.Owner) },
	"count":          func(a, b *Alert) int { return a.Count - b.Count },
	"acknowledged":   func(a, b *Alert) int { return boolCmp(a.Acknowledged, b.Acknowledged) },
	"isSeen":         func(a, b *Alert) int { return boolCmp(a.IsSeen, b.IsSeen) },
	"snoozed":        func(a, b *Alert) int { return boolCmp(a.Snoozed, b.Snoozed) },
}

func init() {
	// The SDK spells this sort field "lastOccuredAt".
	sortKeys["lastOccuredAt"] = sortKeys["lastOccurredAt"]
}

func tinyNum(a *Alert) int { n, _ := strconv.Atoi(a.TinyID); return n }

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Paging limits of the List Alerts API.
const (
	defaultLimit = 20
	maxLimit     = 100
	maxOffset    = 20000
)

// matching parses the query parameter and returns the alerts matching it,
// or writes a 422 and returns false; s.mu is held.
func (s *Server) matching(c *call) ([]*Alert, bool) {
	q := c.r.URL.Query()
	if q.Get("searchIdentifier") != "" {
		c.fail(http.StatusUnprocessableEntity, "searchIdentifier: saved searches are not supported by this server")
		return nil, false
	}
	n, err := parseQuery(q.Get("query"))
	if err != nil {
		c.fail(http.StatusUnprocessableEntity, "Invalid query: "+err.Error())
		return nil, false
	}
	var out []*Alert
	for _, a := range s.alerts {
		if n.match(a) {
			out = append(out, a)
		}
	}
	return out, true
}

func (s *Server) list(c *call) {
	q := c.r.URL.Query()
	limit, err := intParam(q, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		c.fail(http.StatusUnprocessableEntity, err.Error())
		return
	}
	offset, err := intParam(q, "offset", 0, 0, maxOffset)
	if err != nil {
		c.fail(http.StatusUnprocessableEntity, err.Error())
		return
	}
	sortBy := q.Get("sort")
	if sortBy == "" {
		sortBy = "createdAt"
	}
	cmp, ok := sortKeys[sortBy]
	if !ok {
		c.fail(http.StatusUnprocessableEntity, fmt.Sprintf("sort: field %q is not supported by this server", sortBy))
		return
	}
	order := q.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		c.fail(http.StatusUnprocessableEntity, fmt.Sprintf("order: must be asc or desc, got %q", order))
		return
	}

	s.mu.Lock()
	found, ok := s.matching(c)
	if !ok {
		s.mu.Unlock()
		return
	}
	sort.SliceStable(found, func(i, j int) bool {
		d := cmp(found[i], found[j])
		if d == 0 {
			d = tinyNum(found[i]) - tinyNum(found[j])
		}
		if order == "desc" {
			return d > 0
		}
		return d < 0
	})
	page := []summary{}
	for i := offset; i < len(found) && i < offset+limit; i++ {
		page = append(page, found[i].clone().summary())
	}
	total := len(found)
	s.mu.Unlock()

	link := func(off int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("offset", strconv.Itoa(off))
		v.Set("limit", strconv.Itoa(limit))
		v.Set("sort", sortBy)
		v.Set("order", order)
		return "http://" + c.r.Host + "/v2/alerts?" + v.Encode()
	}
	paging := map[string]string{"first": link(0)}
	if total > 0 {
		paging["last"] = link((total - 1) / limit * limit)
	}
	if offset+limit < total {
		paging["next"] = link(offset + limit)
	}
	if offset > 0 {
		paging["prev"] = link(max(0, offset-limit))
	}
	c.json(http.StatusOK, map[string]any{"data": page, "paging": paging})
}

func (s *Server) count(c *call) {
	s.mu.Lock()
	found, ok := s.matching(c)
	s.mu.Unlock()
	if ok {
		c.json(http.StatusOK, map[string]any{"data": map[string]int{"count": len(found)}})
	}
}

func (s *Server) get(c *call, ident string) {
	typ, ok := c.identifierType()
	if !ok {
		return
	}
	s.mu.Lock()
	a := s.find(ident, typ)
	var snap Alert
	if a != nil {
		snap = a.clone()
	}
	s.mu.Unlock()
	if a == nil {
		c.fail(http.StatusNotFound, "Alert does not exist")
		return
	}
	c.json(http.StatusOK, map[string]any{"data": snap})
}

func (s *Server) listNotes(c *call, ident string) {
	typ, ok := c.identifierType()
	if !ok {
		return
	}
	q := c.r.URL.Query()
	limit, err := intParam(q, "limit", 100, 1, 100)
	if err != nil {
		c.fail(http.StatusUnprocessableEntity, err.Error())
		return
	}
	s.mu.Lock()
	a := s.find(ident, typ)
	var notes []Note
	if a != nil {
		notes = slices.Clone(a.Notes)
	}
	s.mu.Unlock()
	if a == nil {
		c.fail(http.StatusNotFound, "Alert does not exist")
		return
	}
	if q.Get("order") != "asc" {
		slices.Reverse(notes)
	}
	if len(notes) > limit {
		notes = notes[:limit]
	}
	if notes == nil {
		notes = []Note{}
	}
	c.json(http.StatusOK, map[string]any{"data": notes, "paging": map[string]string{}})
}

// requestStatus is the Get Request Status API's "data".
type requestStatus struct {
	Success       bool      `json:"success"`
	Action        string    `json:"action"`
	ProcessedAt   time.Time `json:"processedAt"`
	IntegrationID string    `json:"integrationId"`
	IsSuccess     bool      `json:"isSuccess"`
	Status        string    `json:"status"`
	AlertID       string    `json:"alertId"`
	Alias         string    `json:"alias"`
}

func (s *Server) requestStatus(c *call, rid string) {
	s.mu.Lock()
	st, ok := s.statuses[rid]
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusNotFound, "Request does not exist")
		return
	}
	c.json(http.StatusOK, map[string]any{"data": st})
}

// actor is the optional "user", "source" and "note" of action bodies.
type actor struct {
	User   string `json:"user"`
	Source string `json:"source"`
	Note   string `json:"note"`
}

type ref struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
	Type     string `json:"type"`
}

func (r ref) empty() bool { return r.ID == "" && r.Name == "" && r.Username == "" }

type createBody struct {
	actor
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Responders  []ref             `json:"responders"`
	Actions     []string          `json:"actions"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Entity      string            `json:"entity"`
	Priority    string            `json:"priority"`
}

func (s *Server) createAlert(c *call) {
	var b createBody
	if !c.decode(&b) {
		return
	}
	spec := AlertSpec{
		Message: b.Message, Alias: b.Alias, Description: b.Description, Entity: b.Entity,
		Source: b.Source, Priority: b.Priority, Tags: b.Tags, Details: b.Details, Actions: b.Actions,
	}
	if err := spec.Validate(); err != nil {
		c.invalid(map[string]string{"message": err.Error()})
		return
	}
	var teamIDs []string
	for i, r := range b.Responders {
		if r.empty() {
			c.invalid(map[string]string{fmt.Sprintf("responders[%d]", i): "id, name or username is required"})
			return
		}
		if r.Type == "team" {
			if r.Name != "" {
				spec.Teams = append(spec.Teams, r.Name)
			} else {
				teamIDs = append(teamIDs, r.ID)
			}
		}
	}
	rid := c.rid
	s.mu.Lock()
	for _, id := range teamIDs {
		if name, ok := s.teams[id]; ok {
			spec.Teams = append(spec.Teams, name)
		}
	}
	var a *Alert
	if spec.Alias != "" {
		if dup := s.find(spec.Alias, "alias"); dup != nil && dup.Status == "open" {
			a = dup
			a.Count++
			a.LastOccurredAt = s.now()
			a.UpdatedAt = a.LastOccurredAt
		}
	}
	if a == nil {
		a = s.create(spec)
	}
	s.addNote(a, b.actor)
	s.statuses[rid] = s.status("Create", a, "Created alert", true)
	s.mu.Unlock()
	c.accepted()
}

func (s *Server) deleteAlert(c *call, ident string) {
	typ, ok := c.identifierType()
	if !ok {
		return
	}
	s.mu.Lock()
	a := s.find(ident, typ)
	if a == nil {
		s.statuses[c.rid] = s.status("Delete", nil, "Alert does not exist", false)
	} else {
		delete(s.byID, a.ID)
		s.alerts = slices.DeleteFunc(s.alerts, func(x *Alert) bool { return x == a })
		s.statuses[c.rid] = s.status("Delete", a, "Deleted alert", true)
	}
	s.mu.Unlock()
	c.accepted()
}

// action handles POST /v2/alerts/{identifier}/{action}.
func (s *Server) action(c *call, ident, name string) {
	typ, ok := c.identifierType()
	if !ok {
		return
	}
	var apply func(a *Alert) (string, bool)
	var who actor
	switch name {
	case "notes":
		var b actor
		if !c.decode(&b) {
			return
		}
		switch {
		case strings.TrimSpace(b.Note) == "":
			c.invalid(map[string]string{"note": "Note can not be empty"})
			return
		case len([]rune(b.Note)) > maxNote:
			c.invalid(map[string]string{"note": fmt.Sprintf("Note can not be longer than %d characters", maxNote)})
			return
		}
		who = b
		apply = func(a *Alert) (string, bool) { return "Added note", true }
	case "teams":
		var b struct {
			actor
			Team ref `json:"team"`
		}
		if !c.decode(&b) {
			return
		}
		if b.Team.ID == "" && b.Team.Name == "" {
			c.invalid(map[string]string{"team": "Team id or name must be provided"})
			return
		}
		who = b.actor
		apply = func(a *Alert) (string, bool) {
			teamName := b.Team.Name
			if teamName == "" {
				var ok bool
				if teamName, ok = s.teams[b.Team.ID]; !ok {
					return "Team does not exist", false
				}
			}
			s.addTeam(a, teamName)
			return "Added team", true
		}
	case "responders":
		var b struct {
			actor
			Responder ref `json:"responder"`
		}
		if !c.decode(&b) {
			return
		}
		switch b.Responder.Type {
		case "team", "user", "escalation", "schedule":
		default:
			c.invalid(map[string]string{"responder.type": "must be team, user, escalation or schedule"})
			return
		}
		if b.Responder.empty() {
			c.invalid(map[string]string{"responder": "id, name or username is required"})
			return
		}
		who = b.actor
		apply = func(a *Alert) (string, bool) {
			if b.Responder.Type == "team" {
				teamName := b.Responder.Name
				if teamName == "" {
					var ok bool
					if teamName, ok = s.teams[b.Responder.ID]; !ok {
						return "Team does not exist", false
					}
				}
				s.addTeam(a, teamName)
			}
			if b.Responder.Type == "user" {
				name := cmp.Or(b.Responder.Username, b.Responder.ID)
				if !slices.Contains(a.Users, name) {
					a.Users = append(a.Users, name)
					a.Responders = append(a.Responders, Responder{Type: "user", ID: userID(name)})
				}
			}
			return "Added responder", true
		}
	case "tags":
		var b struct {
			actor
			Tags []string `json:"tags"`
		}
		if !c.decode(&b) {
			return
		}
		if len(b.Tags) == 0 {
			c.invalid(map[string]string{"tags": "Tags can not be empty"})
			return
		}
		who = b.actor
		apply = func(a *Alert) (string, bool) {
			for _, t := range b.Tags {
				if len(a.Tags) < maxTags {
					a.Tags = addUnique(a.Tags, t)
				}
			}
			return "Added tags", true
		}
	case "details":
		var b struct {
			actor
			Details map[string]string `json:"details"`
		}
		if !c.decode(&b) {
			return
		}
		if len(b.Details) == 0 {
			c.invalid(map[string]string{"details": "Details can not be empty"})
			return
		}
		who = b.actor
		apply = func(a *Alert) (string, bool) {
			for k, v := range b.Details {
				a.Details[k] = v
			}
			return "Added details", true
		}
	case "close":
		if !c.decode(&who) {
			return
		}
		apply = func(a *Alert) (string, bool) {
			s.closeAlert(a, who.User)
			return "Closed alert", true
		}
	case "acknowledge", "unacknowledge":
		if !c.decode(&who) {
			return
		}
		apply = func(a *Alert) (string, bool) {
			a.Acknowledged = name == "acknowledge"
			if a.Acknowledged {
				a.Report.AckTime = s.now().Sub(a.CreatedAt).Milliseconds()
				a.Report.AcknowledgedBy = who.User
				return "Acknowledged alert", true
			}
			return "Unacknowledged alert", true
		}
	case "escalate":
		var b struct {
			actor
			Escalation ref `json:"escalation"`
		}
		if !c.decode(&b) {
			return
		}
		if b.Escalation.ID == "" && b.Escalation.Name == "" {
			c.invalid(map[string]string{"escalation": "Escalation id or name must be provided"})
			return
		}
		who = b.actor
		apply = func(a *Alert) (string, bool) {
			a.Escalations = append(a.Escalations, cmp.Or(b.Escalation.Name, b.Escalation.ID))
			return "Escalated alert", true
		}
	default:
		c.fail(http.StatusNotFound, "No API found at "+c.r.URL.Path)
		return
	}
	s.apply(c, ident, typ, actionName(name), who, apply)
}

// removeAction handles DELETE /v2/alerts/{identifier}/tags|details.
func (s *Server) removeAction(c *call, ident, what string) {
	typ, ok := c.identifierType()
	if !ok {
		return
	}
	q := c.r.URL.Query()
	param := map[string]string{"tags": "tags", "details": "keys"}[what]
	var names []string
	for _, n := range strings.Split(q.Get(param), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		c.invalid(map[string]string{param: "can not be empty"})
		return
	}
	who := actor{User: q.Get("user"), Source: q.Get("source"), Note: q.Get("note")}
	s.apply(c, ident, typ, "Remove"+strings.ToUpper(what[:1])+what[1:], who, func(a *Alert) (string, bool) {
		if what == "tags" {
			a.Tags = slices.DeleteFunc(a.Tags, func(t string) bool { return slices.Contains(names, t) })
			return "Removed tags", true
		}
		for _, k := range names {
			delete(a.Details, k)
		}
		return "Removed details", true
	})
}

// apply runs an accepted action on the alert (if it exists), records the
// request status and answers 202.
func (s *Server) apply(c *call, ident, typ, action string, who actor, fn func(a *Alert) (string, bool)) {
	s.mu.Lock()
	a := s.find(ident, typ)
	var st requestStatus
	if a == nil {
		st = s.status(action, nil, "Alert does not exist", false)
	} else {
		msg, ok := fn(a)
		if ok {
			a.UpdatedAt = s.now()
			s.addNote(a, who)
		}
		st = s.status(action, a, msg, ok)
	}
	s.statuses[c.rid] = st
	s.mu.Unlock()
	c.accepted()
}

// addNote adds who.Note (if any) to a; s.mu is held.
func (s *Server) addNote(a *Alert, who actor) {
	if strings.TrimSpace(who.Note) == "" {
		return
	}
	owner := who.User
	if owner == "" {
		owner = "API"
	}
	s.noteSeq++
	a.Notes = append(a.Notes, Note{
		Note: who.Note, Owner: owner, CreatedAt: s.now(),
		Offset: strconv.FormatInt(s.now().UnixMilli(), 10) + "_" + strconv.Itoa(s.noteSeq),
	})
}

func (s *Server) status(action string, a *Alert, msg string, ok bool) requestStatus {
	st := requestStatus{
		Success: ok, IsSuccess: ok, Action: action, Status: msg,
		ProcessedAt: s.now(), IntegrationID: teamID("integration:api"),
	}
	if a != nil {
		st.AlertID, st.Alias = a.ID, a.Alias
	}
	return st
}

func actionName(path string) string {
	switch path {
	case "notes":
		return "AddNote"
	case "teams":
		return "AddTeam"
	case "responders":
		return "AddResponder"
	case "tags":
		return "AddTags"
	case "details":
		return "AddDetails"
	}
	return strings.ToUpper(path[:1]) + path[1:]
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: must be an integer from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

// call is one request being answered.
type call struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	rid   string
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

func (c *call) identifierType() (string, bool) {
	switch t := c.r.URL.Query().Get("identifierType"); t {
	case "", "id":
		return "id", true
	case "tiny", "alias":
		return t, true
	default:
		c.fail(http.StatusUnprocessableEntity, fmt.Sprintf("identifierType: must be id, tiny or alias, got %q", t))
		return "", false
	}
}

// decode reads an optional JSON object body into v, answering 400 when
// it is malformed.
func (c *call) decode(v any) bool {
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		c.fail(http.StatusBadRequest, "could not read request body")
		return false
	}
	if len(data) > maxBody {
		c.fail(http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return true
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			c.invalid(map[string]string{te.Field: "must be " + te.Type.String()})
			return false
		}
		c.fail(http.StatusBadRequest, "Could not parse request body: "+err.Error())
		return false
	}
	return true
}

func (c *call) took() float64 {
	t := time.Since(c.start).Seconds()
	return math.Max(0.001, math.Round(t*1000)/1000)
}

func (c *call) json(status int, body map[string]any) {
	took := c.took()
	body["took"] = took
	body["requestId"] = c.rid
	c.write(status, body, took, true)
}

func (c *call) write(status int, body map[string]any, took float64, withRID bool) {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	if withRID {
		h.Set("X-Request-Id", c.rid)
	}
	if h.Get("X-RateLimit-State") == "" {
		h.Set("X-RateLimit-State", "OK")
	}
	h.Set("X-Response-Time", strconv.FormatFloat(took, 'f', 3, 64))
	c.w.WriteHeader(status)
	_ = json.NewEncoder(c.w).Encode(body)
}

func (c *call) fail(status int, msg string) {
	c.json(status, map[string]any{"message": msg})
}

// invalid answers 422 with the per-field errors OpsGenie reports.
func (c *call) invalid(errs map[string]string) {
	c.json(http.StatusUnprocessableEntity, map[string]any{
		"message": "Request body is not processable. Please check the errors.",
		"errors":  errs,
	})
}

// accepted answers a write call: 202 "Request will be processed".
func (c *call) accepted() {
	took := c.took()
	body := map[string]any{"result": "Request will be processed", "took": took}
	if c.s.opts.OmitRequestID {
		c.write(http.StatusAccepted, body, took, false)
		return
	}
	body["requestId"] = c.rid
	c.write(http.StatusAccepted, body, took, true)
}
