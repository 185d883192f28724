package dynatracetest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem statuses.
const (
	StatusOpen   = "OPEN"
	StatusClosed = "CLOSED"
)

// SeverityLevels and ImpactLevels are the values the Problems API v2 uses.
var (
	SeverityLevels = []string{"AVAILABILITY", "CUSTOM_ALERT", "ERROR", "INFO", "MONITORING_UNAVAILABLE", "PERFORMANCE", "RESOURCE_CONTENTION"}
	ImpactLevels   = []string{"APPLICATION", "ENVIRONMENT", "INFRASTRUCTURE", "SERVICES"}
)

// Problem is one problem as the API shows it, plus its comments.
type Problem struct {
	ProblemID        string           `json:"problemId"`
	DisplayID        string           `json:"displayId"`
	Title            string           `json:"title"`
	ImpactLevel      string           `json:"impactLevel"`
	SeverityLevel    string           `json:"severityLevel"`
	Status           string           `json:"status"`
	AffectedEntities []EntityStub     `json:"affectedEntities"`
	ImpactedEntities []EntityStub     `json:"impactedEntities"`
	RootCauseEntity  *EntityStub      `json:"rootCauseEntity"`
	ManagementZones  []ManagementZone `json:"managementZones"`
	EntityTags       []EntityTag      `json:"entityTags"`
	ProblemFilters   []ProblemFilter  `json:"problemFilters"`
	StartTime        int64            `json:"startTime"` // epoch milliseconds
	EndTime          int64            `json:"endTime"`   // -1 while open

	// Comments are the problem's comments, oldest first.
	Comments []Comment `json:"-"`
}

// EntityStub is a short reference to a monitored entity.
type EntityStub struct {
	EntityID EntityID `json:"entityId"`
	Name     string   `json:"name"`
}

// EntityID identifies an entity.
type EntityID struct {
	ID   string `json:"id"`   // e.g. HOST-0123456789ABCDEF
	Type string `json:"type"` // e.g. HOST, SERVICE
}

// Entity returns the stub of entity id of type typ named name.
func Entity(id, typ, name string) EntityStub {
	return EntityStub{EntityID: EntityID{ID: id, Type: typ}, Name: name}
}

// ManagementZone is a management zone of a problem.
type ManagementZone struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// EntityTag is a tag of an entity a problem touches.
type EntityTag struct {
	Context              string `json:"context"`
	Key                  string `json:"key"`
	Value                string `json:"value,omitempty"`
	StringRepresentation string `json:"stringRepresentation"`
}

// ProblemFilter is an alerting profile a problem matches.
type ProblemFilter struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Comment is a comment on a problem.
type Comment struct {
	ID                 string `json:"id"`
	CreatedAtTimestamp int64  `json:"createdAtTimestamp"`
	Content            string `json:"content"`
	AuthorName         string `json:"authorName"`
	Context            string `json:"context"`
}

// AuthorName is the author of comments written through the API.
const AuthorName = "API token"

// ProblemSpec describes a problem to create. Empty fields take defaults.
type ProblemSpec struct {
	Title            string       `json:"title"`
	SeverityLevel    string       `json:"severityLevel"`    // default ERROR
	ImpactLevel      string       `json:"impactLevel"`      // default SERVICES
	Status           string       `json:"status"`           // OPEN (default) or CLOSED
	StartTime        time.Time    `json:"startTime"`        // default now
	EndTime          time.Time    `json:"endTime"`          // of a CLOSED problem; default now
	ImpactedEntities []EntityStub `json:"impactedEntities"` //
	AffectedEntities []EntityStub `json:"affectedEntities"` // default: the impacted entities
	RootCauseEntity  *EntityStub  `json:"rootCauseEntity"`
	EntityTags       []string     `json:"entityTags"`      // "[context]key:value", "key:value" or "key"
	ManagementZones  []string     `json:"managementZones"` // names
}

// Validate reports a spec the API would never show.
func (sp ProblemSpec) Validate() error {
	var errs []error
	if strings.TrimSpace(sp.Title) == "" {
		errs = append(errs, errors.New("title: required"))
	}
	if sp.SeverityLevel != "" && !slices.Contains(SeverityLevels, sp.SeverityLevel) {
		errs = append(errs, fmt.Errorf("severityLevel: one of %s, got %q", strings.Join(SeverityLevels, ", "), sp.SeverityLevel))
	}
	if sp.ImpactLevel != "" && !slices.Contains(ImpactLevels, sp.ImpactLevel) {
		errs = append(errs, fmt.Errorf("impactLevel: one of %s, got %q", strings.Join(ImpactLevels, ", "), sp.ImpactLevel))
	}
	if sp.Status != "" && sp.Status != StatusOpen && sp.Status != StatusClosed {
		errs = append(errs, fmt.Errorf("status: OPEN or CLOSED, got %q", sp.Status))
	}
	for i, e := range append(slices.Clone(sp.ImpactedEntities), sp.AffectedEntities...) {
		if e.EntityID.ID == "" {
			errs = append(errs, fmt.Errorf("entities[%d].entityId.id: required", i))
		}
	}
	return errors.Join(errs...)
}

// problem builds the seq-th problem of spec at now.
func (sp ProblemSpec) problem(seq int, now time.Time) *Problem {
	start := sp.StartTime
	if start.IsZero() {
		start = now
	}
	start = start.UTC().Truncate(time.Millisecond)
	p := &Problem{
		DisplayID:        "P-" + strconv.Itoa(24010000+seq),
		Title:            sp.Title,
		SeverityLevel:    cmpOr(sp.SeverityLevel, "ERROR"),
		ImpactLevel:      cmpOr(sp.ImpactLevel, "SERVICES"),
		Status:           cmpOr(sp.Status, StatusOpen),
		ImpactedEntities: slices.Clone(sp.ImpactedEntities),
		AffectedEntities: slices.Clone(sp.AffectedEntities),
		StartTime:        start.UnixMilli(),
		EndTime:          -1,
		ManagementZones:  []ManagementZone{},
		EntityTags:       []EntityTag{},
		ProblemFilters:   []ProblemFilter{{ID: "c21f969b-5f03-333d-83e0-4f8f136e7682", Name: "Default"}},
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%d", seq, sp.Title, p.StartTime)))
	p.ProblemID = fmt.Sprintf("-%d_%dV2", binary.BigEndian.Uint64(h[:8])>>1, p.StartTime)
	if p.ImpactedEntities == nil {
		p.ImpactedEntities = []EntityStub{}
	}
	if len(p.AffectedEntities) == 0 {
		p.AffectedEntities = slices.Clone(p.ImpactedEntities)
	}
	if sp.RootCauseEntity != nil {
		rc := *sp.RootCauseEntity
		p.RootCauseEntity = &rc
	}
	if p.Status == StatusClosed {
		end := sp.EndTime
		if end.IsZero() {
			end = now
		}
		p.EndTime = end.UTC().Truncate(time.Millisecond).UnixMilli()
	}
	for _, t := range sp.EntityTags {
		p.EntityTags = append(p.EntityTags, ParseTag(t))
	}
	for _, z := range sp.ManagementZones {
		zh := sha256.Sum256([]byte("mz:" + z))
		p.ManagementZones = append(p.ManagementZones, ManagementZone{ID: strconv.FormatInt(int64(binary.BigEndian.Uint64(zh[:8])>>1), 10), Name: z})
	}
	return p
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (p *Problem) clone() Problem {
	c := *p
	c.AffectedEntities = slices.Clone(p.AffectedEntities)
	c.ImpactedEntities = slices.Clone(p.ImpactedEntities)
	c.ManagementZones = slices.Clone(p.ManagementZones)
	c.EntityTags = slices.Clone(p.EntityTags)
	c.ProblemFilters = slices.Clone(p.ProblemFilters)
	c.Comments = slices.Clone(p.Comments)
	if p.RootCauseEntity != nil {
		rc := *p.RootCauseEntity
		c.RootCauseEntity = &rc
	}
	return c
}

func (p *Problem) addComment(msg, context string, now time.Time) Comment {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%d", p.ProblemID, len(p.Comments), now.UnixNano())))
	c := Comment{
		ID:                 strconv.FormatInt(int64(binary.BigEndian.Uint64(h[:8])>>1), 10),
		CreatedAtTimestamp: now.UnixMilli(),
		Content:            msg,
		AuthorName:         AuthorName,
		Context:            context,
	}
	p.Comments = append(p.Comments, c)
	return c
}

// commentList is the API's CommentsList of the newest n comments.
func (p *Problem) commentList(n int) map[string]any {
	comments := make([]Comment, 0, len(p.Comments))
	for i := len(p.Comments) - 1; i >= 0 && len(comments) < n; i-- {
		comments = append(comments, p.Comments[i])
	}
	return map[string]any{"comments": comments, "totalCount": len(p.Comments), "pageSize": n}
}

// recentComments is how many comments recentComments shows.
const recentComments = 10

// view is the problem's JSON object with the extra fields asked for.
func (p *Problem) view(fields []string) map[string]any {
	data, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	for _, f := range fields {
		switch f {
		case "evidenceDetails":
			var details []map[string]any
			for _, e := range p.AffectedEntities {
				details = append(details, map[string]any{
					"evidenceType": "EVENT", "displayName": p.Title, "entity": e, "groupingEntity": e,
					"rootCauseRelevant": p.RootCauseEntity != nil && p.RootCauseEntity.EntityID == e.EntityID,
					"startTime":         p.StartTime, "endTime": p.EndTime, "eventType": p.SeverityLevel + "_EVENT",
				})
			}
			if details == nil {
				details = []map[string]any{}
			}
			m["evidenceDetails"] = map[string]any{"totalCount": len(details), "details": details}
		case "impactAnalysis":
			impacts := []map[string]any{}
			for _, e := range p.ImpactedEntities {
				impacts = append(impacts, map[string]any{"impactType": e.EntityID.Type, "impactedEntity": e, "estimatedAffectedUsers": 0})
			}
			m["impactAnalysis"] = map[string]any{"impacts": impacts}
		case "recentComments":
			m["recentComments"] = p.commentList(recentComments)
		}
	}
	return m
}

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }
