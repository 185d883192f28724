package ticket

import (
	"context"
	"path"
	"reflect"
)

// KindUnsupported is the kind Observe reports for an operation the wrapped
// system does not support.
const KindUnsupported = "unsupported"

// ObserveFunc is told of every call to a ticket system: the system's name
// (see SystemName), the operation kind, and the call's error.
type ObserveFunc func(system, kind string, err error)

// Observe returns a copy of set whose every Ticket reports its calls to fn
// (for metrics) and otherwise behaves as the original.
func Observe(set Set, fn ObserveFunc) Set {
	out := make(Set, len(set))
	for k, t := range set {
		out[k] = &observed{t: t, system: SystemName(t), fn: fn}
	}
	return out
}

// SystemName names a ticket system for labels: its package's name
// ("opsgenie", "dynatrace", "webhook"); for a Multi, its primary's.
func SystemName(t Ticket) string {
	if mt, ok := t.(*Multi); ok {
		return SystemName(mt.Primary)
	}
	typ := reflect.TypeOf(t)
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == nil || typ.PkgPath() == "" {
		return "unknown"
	}
	return path.Base(typ.PkgPath())
}

type observed struct {
	t      Ticket
	system string
	fn     ObserveFunc
}

func (o *observed) report(kind string, err error) error {
	o.fn(o.system, kind, err)
	return err
}

// AddNote implements Ticket.
func (o *observed) AddNote(ctx context.Context, id, note string) error {
	return o.report(KindNote, o.t.AddNote(ctx, id, note))
}

// AddTeam implements Ticket.
func (o *observed) AddTeam(ctx context.Context, id, team string) error {
	return o.report(KindAddTeam, o.t.AddTeam(ctx, id, team))
}

// Do implements Operator.
func (o *observed) Do(ctx context.Context, id string, op Op) error {
	kind := op.Kind
	if !o.Supports(kind) {
		kind = KindUnsupported
	}
	return o.report(kind, Do(ctx, o.t, id, op))
}

// Supports implements Operator: what the wrapped system supports.
func (o *observed) Supports(kind string) bool { return Supports(o.t, kind) }

var _ Operator = (*observed)(nil)

// Unwrap returns the original Ticket.
func (o *observed) Unwrap() Ticket { return o.t }
