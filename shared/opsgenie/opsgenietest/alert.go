package opsgenietest

import (
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Alert is one alert as the Get Alert API returns it (its "data" object),
// plus the team names and notes the server keeps for tests.
type Alert struct {
	ID             string            `json:"id"`
	TinyID         string            `json:"tinyId"`
	Alias          string            `json:"alias"`
	Message        string            `json:"message"`
	Status         string            `json:"status"` // open or closed
	Acknowledged   bool              `json:"acknowledged"`
	IsSeen         bool              `json:"isSeen"`
	Tags           []string          `json:"tags"`
	Snoozed        bool              `json:"snoozed"`
	Count          int               `json:"count"`
	LastOccurredAt time.Time         `json:"lastOccurredAt"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
	Source         string            `json:"source"`
	Owner          string            `json:"owner"`
	Priority       string            `json:"priority"`
	Responders     []Responder       `json:"responders"`
	Integration    Integration       `json:"integration"`
	Report         Report            `json:"report"`
	Actions        []string          `json:"actions"`
	Entity         string            `json:"entity"`
	Description    string            `json:"description"`
	Details        map[string]string `json:"details"`

	// Teams are the names of the teams among the responders, in the order
	// they were added. The API shows teams only as responders with an id.
	Teams []string `json:"-"`
	// Notes are the alert's notes, oldest first.
	Notes []Note `json:"-"`
	// Users are the user names added as responders, in order.
	Users []string `json:"-"`
	// Escalations are the escalation names (or ids) the alert was
	// escalated to, in order.
	Escalations []string `json:"-"`
}

// Responder is a team, user, escalation or schedule responsible for an
// alert, shown by id as in the Get Alert API's sample answer.
type Responder struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Integration is the integration that created an alert.
type Integration struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// Report holds acknowledgement and close facts.
type Report struct {
	AckTime        int64  `json:"ackTime,omitempty"`
	CloseTime      int64  `json:"closeTime,omitempty"`
	AcknowledgedBy string `json:"acknowledgedBy,omitempty"`
	ClosedBy       string `json:"closedBy,omitempty"`
}

// Note is a note on an alert as the List Alert Notes API returns it.
type Note struct {
	Note      string    `json:"note"`
	Owner     string    `json:"owner"`
	CreatedAt time.Time `json:"createdAt"`
	Offset    string    `json:"offset"`
}

// summary is an alert as the List Alerts API returns it: the Get Alert
// fields without actions, entity, description and details.
type summary struct {
	ID             string      `json:"id"`
	TinyID         string      `json:"tinyId"`
	Alias          string      `json:"alias"`
	Message        string      `json:"message"`
	Status         string      `json:"status"`
	Acknowledged   bool        `json:"acknowledged"`
	IsSeen         bool        `json:"isSeen"`
	Tags           []string    `json:"tags"`
	Snoozed        bool        `json:"snoozed"`
	Count          int         `json:"count"`
	LastOccurredAt time.Time   `json:"lastOccurredAt"`
	CreatedAt      time.Time   `json:"createdAt"`
	UpdatedAt      time.Time   `json:"updatedAt"`
	Source         string      `json:"source"`
	Owner          string      `json:"owner"`
	Priority       string      `json:"priority"`
	Responders     []Responder `json:"responders"`
	Integration    Integration `json:"integration"`
	Report         Report      `json:"report"`
}

func (a Alert) summary() summary {
	return summary{
		ID: a.ID, TinyID: a.TinyID, Alias: a.Alias, Message: a.Message, Status: a.Status,
		Acknowledged: a.Acknowledged, IsSeen: a.IsSeen, Tags: a.Tags, Snoozed: a.Snoozed,
		Count: a.Count, LastOccurredAt: a.LastOccurredAt, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		Source: a.Source, Owner: a.Owner, Priority: a.Priority, Responders: a.Responders,
		Integration: a.Integration, Report: a.Report,
	}
}

// clone returns a deep copy, so callers never share the server's state.
func (a *Alert) clone() Alert {
	c := *a
	c.Tags = slices.Clone(a.Tags)
	c.Actions = slices.Clone(a.Actions)
	c.Teams = slices.Clone(a.Teams)
	c.Notes = slices.Clone(a.Notes)
	c.Responders = slices.Clone(a.Responders)
	c.Users = slices.Clone(a.Users)
	c.Escalations = slices.Clone(a.Escalations)
	c.Details = make(map[string]string, len(a.Details))
	for k, v := range a.Details {
		c.Details[k] = v
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Actions == nil {
		c.Actions = []string{}
	}
	if c.Responders == nil {
		c.Responders = []Responder{}
	}
	return c
}

// AlertSpec describes an alert to create with Server.CreateAlert or in a
// seed file (JSON keys as shown).
type AlertSpec struct {
	Message      string            `json:"message"` // required; cut to 130 characters
	Alias        string            `json:"alias"`   // default: the alert id
	Description  string            `json:"description"`
	Entity       string            `json:"entity"`
	Source       string            `json:"source"`
	Priority     string            `json:"priority"` // P1..P5, default P3
	Owner        string            `json:"owner"`
	Tags         []string          `json:"tags"`
	Details      map[string]string `json:"details"`
	Teams        []string          `json:"teams"` // team names, added as team responders
	Actions      []string          `json:"actions"`
	Status       string            `json:"status"` // open (default) or closed
	Acknowledged bool              `json:"acknowledged"`
	CreatedAt    time.Time         `json:"createdAt"` // default: now
}

// Validate reports what the Create Alert API would reject.
func (s AlertSpec) Validate() error {
	var errs []string
	if strings.TrimSpace(s.Message) == "" {
		errs = append(errs, "message: required")
	}
	switch s.Status {
	case "", "open", "closed":
	default:
		errs = append(errs, fmt.Sprintf("status: must be open or closed, got %q", s.Status))
	}
	switch s.Priority {
	case "", "P1", "P2", "P3", "P4", "P5":
	default:
		errs = append(errs, fmt.Sprintf("priority: must be P1..P5, got %q", s.Priority))
	}
	if len(errs) > 0 {
		return fmt.Errorf("alert spec: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Limits the Create Alert API documents.
const (
	maxMessage = 130
	maxNote    = 25000
	maxTags    = 20
)

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// newUUID returns a random version-4 UUID string.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// teamID derives a stable UUID-shaped id for a team name.
func userID(name string) string { return teamID("user:" + name) }

func teamID(name string) string {
	b := sha1.Sum([]byte("team:" + strings.ToLower(name)))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func addUnique(list []string, v string) []string {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return list
		}
	}
	return append(list, v)
}
