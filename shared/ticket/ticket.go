// Package ticket is the write-back side of Alexis: what the classifier and
// action handler say on the alert (notes), where they route it (teams) and
// what they do with it (tags, acknowledge, close, escalate, responders).
//
// Each ticket system is one package implementing Ticket, and, for the full
// operation set, Operator: shared/opsgenie, shared/dynatrace and
// shared/ticket/webhook. A system owns its failures' classification: its
// calls fail with *Error, and callers ask Temporary whether trying again
// may help. A system that can tell whether an alert is still open
// implements StatusReader; StatusOf finds it through wrappers (Multi,
// Observe). A system with an API of its own registers itself as a System
// (its config block, its secret files, its client) in package
// ticket/registry, which builds a Set from the "tickets" configuration
// block; services pick the Ticket for an alert by its feed_type (and
// feed_name, for feeds with their own account).
//
// A rule names operations as Ops ({"op": "close", "note": "..."}); Apply
// runs a list of them in order. Validate an Op with Op.Validate and check
// that the ticket system can do it with Supports (or Set.Supports) when
// rules load, not when an alert arrives.
package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Ticket writes back to the system an alert came from. id is the system's
// identifier of the alert (for OpsGenie, the alert id; for Dynatrace, the
// problemId).
type Ticket interface {
	// AddNote adds a note to the alert.
	AddNote(ctx context.Context, id, note string) error
	// AddTeam routes the alert to a team (queue).
	AddTeam(ctx context.Context, id, team string) error
}

// Operator is a Ticket that does the whole operation set, or the part of it
// its system has: Supports says which kinds.
type Operator interface {
	Ticket
	// Do applies op to alert id. A kind the system does not support is an
	// error wrapping ErrUnsupported.
	Do(ctx context.Context, id string, op Op) error
	// Supports reports whether Do can apply ops of kind.
	Supports(kind string) bool
}

// Kinds of operation (values of Op.Kind).
const (
	KindNote         = "note"          // Value: the note text
	KindAddTeam      = "add_team"      // Value: the team name
	KindAddTags      = "add_tags"      // Values: the tags
	KindRemoveTags   = "remove_tags"   // Values: the tags
	KindAcknowledge  = "acknowledge"   // Note: optional
	KindClose        = "close"         // Note: optional closing note
	KindEscalate     = "escalate"      // Value: the escalation name
	KindAddResponder = "add_responder" // Value: "team:NAME", "user:USERNAME" or a bare team NAME
)

// Kinds lists every operation kind, in a stable order.
var Kinds = []string{
	KindNote, KindAddTeam, KindAddTags, KindRemoveTags,
	KindAcknowledge, KindClose, KindEscalate, KindAddResponder,
}

// Op is one write-back operation. Its JSON form is what a rule writes:
//
//	{"op": "note", "value": "fixed by Alexis"}
//	{"op": "add_tags", "values": ["alexis", "auto-fixed"]}
//	{"op": "close", "note": "closed by Alexis after a successful run"}
//	{"op": "escalate", "value": "db-escalation"}
//	{"op": "add_responder", "value": "user:jane@example.com"}
type Op struct {
	Kind   string   `json:"op"`
	Value  string   `json:"value,omitempty"`  // note text, team, escalation, responder
	Values []string `json:"values,omitempty"` // tags
	Note   string   `json:"note,omitempty"`   // optional note sent along (acknowledge, close, escalate, tags, responder)
}

// String is a short description for logs: the kind and its target, never
// the note text.
func (o Op) String() string {
	switch o.Kind {
	case KindAddTeam, KindEscalate, KindAddResponder:
		return o.Kind + " " + o.Value
	case KindAddTags, KindRemoveTags:
		return o.Kind + " " + strings.Join(o.Values, ",")
	}
	return o.Kind
}

// Responder types of add_responder.
const (
	ResponderTeam = "team"
	ResponderUser = "user"
)

// Responder splits an add_responder Value into its type and name: "team:x",
// "user:x", or a bare "x" meaning a team.
func (o Op) Responder() (typ, name string) {
	if t, n, ok := strings.Cut(o.Value, ":"); ok && (t == ResponderTeam || t == ResponderUser) {
		return t, strings.TrimSpace(n)
	}
	return ResponderTeam, strings.TrimSpace(o.Value)
}

// Validate reports what op lacks for its kind. Field names in messages are
// the JSON keys ("value", "values").
func (o Op) Validate() error {
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	switch o.Kind {
	case KindNote:
		if blank(o.Value) {
			return errors.New("value: the note text is required")
		}
	case KindAddTeam:
		if blank(o.Value) {
			return errors.New("value: the team name is required")
		}
	case KindEscalate:
		if blank(o.Value) {
			return errors.New("value: the escalation name is required")
		}
	case KindAddResponder:
		if _, name := o.Responder(); name == "" {
			return errors.New(`value: the responder is required ("team:NAME", "user:USERNAME" or a team NAME)`)
		}
	case KindAddTags, KindRemoveTags:
		if len(o.Values) == 0 {
			return errors.New("values: at least one tag is required")
		}
		for i, v := range o.Values {
			if blank(v) {
				return fmt.Errorf("values[%d]: must not be blank", i)
			}
		}
	case KindAcknowledge, KindClose:
	case "":
		return fmt.Errorf("op: required (one of: %s)", strings.Join(Kinds, ", "))
	default:
		return fmt.Errorf("op: unknown operation %q (one of: %s)", o.Kind, strings.Join(Kinds, ", "))
	}
	return nil
}

// ErrUnsupported is returned (wrapped) for an operation the ticket system
// cannot do.
var ErrUnsupported = errors.New("operation not supported by this ticket system")

// OpError is the failure of one operation of Apply.
type OpError struct {
	Index int // position in the list
	Op    Op
	Err   error
}

func (e *OpError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// Do applies op to alert id on t: through Operator.Do when t has it, or
// else through AddNote and AddTeam for the two kinds every Ticket has.
func Do(ctx context.Context, t Ticket, id string, op Op) error {
	if err := op.Validate(); err != nil {
		return err
	}
	if o, ok := t.(Operator); ok {
		return o.Do(ctx, id, op)
	}
	switch op.Kind {
	case KindNote:
		return t.AddNote(ctx, id, op.Value)
	case KindAddTeam:
		return t.AddTeam(ctx, id, op.Value)
	}
	return fmt.Errorf("%s: %w", op.Kind, ErrUnsupported)
}

// Supports reports whether t can apply ops of kind.
func Supports(t Ticket, kind string) bool {
	if o, ok := t.(Operator); ok {
		return o.Supports(kind)
	}
	return kind == KindNote || kind == KindAddTeam
}

// Apply applies ops to alert id in order. A failed operation does not stop
// the ones after it; the failures come back as *OpError, in order (nil when
// every operation succeeded). It stops early only when ctx is done.
func Apply(ctx context.Context, t Ticket, id string, ops []Op) []error {
	var errs []error
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			errs = append(errs, &OpError{Index: i, Op: op, Err: err})
			break
		}
		if err := Do(ctx, t, id, op); err != nil {
			errs = append(errs, &OpError{Index: i, Op: op, Err: err})
		}
	}
	return errs
}

// Set maps feed types (case-insensitive) to their Ticket, and optionally
// single feeds, by feed type and name, to a Ticket of their own (a feed
// polling another OpsGenie account than the rest).
type Set map[string]Ticket

// Add registers t for feedType.
func (s Set) Add(feedType string, t Ticket) { s[strings.ToLower(feedType)] = t }

// AddFeed registers t for the alerts of one feed, overriding its type's.
func (s Set) AddFeed(feedType, feedName string, t Ticket) { s[feedKey(feedType, feedName)] = t }

// AnyFeedType registers a Ticket for every feed type that has none of its
// own (e.g. a chat webhook for every alert).
const AnyFeedType = "*"

// For returns the Ticket for feedType, or else the AnyFeedType one.
func (s Set) For(feedType string) (Ticket, bool) {
	if t, ok := s[strings.ToLower(feedType)]; ok {
		return t, true
	}
	t, ok := s[AnyFeedType]
	return t, ok
}

// ForFeed returns the Ticket for an alert of feed feedName of type
// feedType: the feed's own, or else its type's.
func (s Set) ForFeed(feedType, feedName string) (Ticket, bool) {
	if feedName != "" {
		if t, ok := s[feedKey(feedType, feedName)]; ok {
			return t, true
		}
	}
	return s.For(feedType)
}

// Supports reports whether the Ticket for feedType can apply ops of kind
// (false when there is none).
func (s Set) Supports(feedType, kind string) bool {
	t, ok := s.For(feedType)
	return ok && Supports(t, kind)
}

// feedKey keeps feed entries apart from type entries: "/" cannot appear in
// a feed type a Set is asked for.
func feedKey(feedType, feedName string) string {
	return strings.ToLower(feedType) + "/" + feedName
}

// Multi sends every operation to a primary ticket system and copies it to
// mirrors (e.g. a chat webhook). It supports what the primary supports; a
// mirror gets only the operations it supports. Errors of all are joined.
type Multi struct {
	Primary Ticket
	Mirrors []Ticket
}

// AddNote adds a note on the primary and the mirrors.
func (m *Multi) AddNote(ctx context.Context, id, note string) error {
	return m.Do(ctx, id, Op{Kind: KindNote, Value: note})
}

// AddTeam adds a team on the primary and the mirrors.
func (m *Multi) AddTeam(ctx context.Context, id, team string) error {
	return m.Do(ctx, id, Op{Kind: KindAddTeam, Value: team})
}

// Do applies op on the primary, then on each mirror that supports it.
func (m *Multi) Do(ctx context.Context, id string, op Op) error {
	errs := []error{Do(ctx, m.Primary, id, op)}
	for _, t := range m.Mirrors {
		if Supports(t, op.Kind) {
			errs = append(errs, Do(ctx, t, id, op))
		}
	}
	return errors.Join(errs...)
}

// Supports reports what the primary supports.
func (m *Multi) Supports(kind string) bool { return Supports(m.Primary, kind) }

var _ Operator = (*Multi)(nil)
