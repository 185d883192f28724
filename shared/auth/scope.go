package auth

import (
	"fmt"
	"sort"
	"strings"
)

// Scope is what a token may do. Every endpoint requires one.
type Scope string

// The scopes. README "Authentication" has the table of which endpoint
// needs which.
const (
	// ScopeClassify: post alerts to the classifier (envelopes, Alertmanager,
	// webhooks), for any feed. "classify:FEED" limits it to the feed named
	// FEED (an envelope's alexis.feed_name, the Alertmanager feed name, the
	// webhook's name).
	ScopeClassify Scope = "classify"
	// ScopeAct: POST /v1/action with a rule whose provenance the action
	// handler verifies (signed by the classifier).
	ScopeAct Scope = "act"
	// ScopeAdhoc: POST /v1/action with any rule, recorded and noted as
	// ad-hoc with the caller's name. Grants act too.
	ScopeAdhoc Scope = "adhoc"
	// ScopeRead: read executions, rules, explain, feed status.
	ScopeRead Scope = "read"
	// ScopeRecord: POST /v1/decisions on the action handler (the
	// classifier recording what it decided for each alert). Not in any
	// default: a token that may record can write the console's history.
	ScopeRecord Scope = "record"
	// ScopeApprove: approve or deny an execution awaiting approval
	// (POST /v1/executions/{id}/approve, /deny; the console's buttons).
	// In no default: approving is a person's decision, and a rule's
	// approval.approvers narrows it further.
	ScopeApprove Scope = "approve"
	// ScopeMetrics: GET /metrics.
	ScopeMetrics Scope = "metrics"
	// ScopeAdmin grants every scope.
	ScopeAdmin Scope = "admin"
)

// AllScopes lists every scope name (classify:FEED aside).
var AllScopes = []Scope{ScopeClassify, ScopeAct, ScopeAdhoc, ScopeRead, ScopeRecord, ScopeApprove, ScopeMetrics, ScopeAdmin}

// Default scopes of token-file lines without scopes=, per service: what the
// clients each service was built for need, and no more.
var (
	// DefaultsClassifier: the poller, Alertmanager, people posting alerts.
	DefaultsClassifier = MustScopes("classify,read")
	// DefaultsActionHandler: the classifier (whose requests are signed)
	// and people reading history. Running an unsigned rule needs adhoc.
	DefaultsActionHandler = MustScopes("act,read")
	// DefaultsPoller: people reading feed status.
	DefaultsPoller = MustScopes("read")
)

// Scopes is the set of scopes a token grants.
type Scopes struct {
	set   map[Scope]bool
	feeds map[string]bool // classify:FEED
}

// ParseScopes reads a comma-separated scope list ("read,act",
// "classify:alertmanager"). An unknown scope is an error naming it.
func ParseScopes(list string) (Scopes, error) {
	s := Scopes{set: map[Scope]bool{}, feeds: map[string]bool{}}
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if feed, ok := strings.CutPrefix(w, string(ScopeClassify)+":"); ok {
			if feed == "" {
				return Scopes{}, fmt.Errorf("scope classify: wants a feed name after the colon")
			}
			s.feeds[feed] = true
			continue
		}
		known := false
		for _, k := range AllScopes {
			known = known || Scope(w) == k
		}
		if !known {
			return Scopes{}, fmt.Errorf("unknown scope %q (scopes: %s, classify:FEED)", logTrim(w), scopeNames())
		}
		s.set[Scope(w)] = true
	}
	return s, nil
}

// MustScopes is ParseScopes for constants.
func MustScopes(list string) Scopes {
	s, err := ParseScopes(list)
	if err != nil {
		panic(err)
	}
	return s
}

// Grants reports whether s allows an endpoint requiring scope. admin grants
// all, adhoc grants act, and classify:FEED grants classify (the handler
// then checks the feed with GrantsFeed).
func (s Scopes) Grants(scope Scope) bool {
	switch {
	case s.set[ScopeAdmin] || s.set[scope]:
		return true
	case scope == ScopeAct:
		return s.set[ScopeAdhoc]
	case scope == ScopeClassify:
		return len(s.feeds) > 0
	}
	return false
}

// GrantsFeed reports whether s may classify alerts of the feed named feed.
func (s Scopes) GrantsFeed(feed string) bool {
	return s.set[ScopeAdmin] || s.set[ScopeClassify] || s.feeds[feed]
}

// String lists the scopes, sorted ("act,read").
func (s Scopes) String() string {
	var out []string
	for k := range s.set {
		out = append(out, string(k))
	}
	for f := range s.feeds {
		out = append(out, string(ScopeClassify)+":"+f)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func scopeNames() string {
	var out []string
	for _, s := range AllScopes {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}

// logTrim keeps error messages short whatever a token file holds.
func logTrim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
