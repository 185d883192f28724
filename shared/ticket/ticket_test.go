package ticket_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
)

// basic is a Ticket with only the two original methods.
type basic struct{ tickettest.Recorder }

func (b *basic) Do() {} // hides Recorder.Do: basic is not an Operator

func TestOpValidate(t *testing.T) {
	cases := []struct {
		name string
		op   ticket.Op
		want string // "" = valid
	}{
		{name: "note", op: ticket.Op{Kind: "note", Value: "hi"}},
		{name: "blank note", op: ticket.Op{Kind: "note", Value: "  "}, want: "value: the note text is required"},
		{name: "team", op: ticket.Op{Kind: "add_team", Value: "ops"}},
		{name: "no team", op: ticket.Op{Kind: "add_team"}, want: "value: the team name is required"},
		{name: "tags", op: ticket.Op{Kind: "add_tags", Values: []string{"a", "b"}}},
		{name: "no tags", op: ticket.Op{Kind: "remove_tags"}, want: "values: at least one tag"},
		{name: "blank tag", op: ticket.Op{Kind: "add_tags", Values: []string{"a", " "}}, want: "values[1]: must not be blank"},
		{name: "close", op: ticket.Op{Kind: "close"}},
		{name: "acknowledge", op: ticket.Op{Kind: "acknowledge", Note: "on it"}},
		{name: "escalate", op: ticket.Op{Kind: "escalate", Value: "db"}},
		{name: "escalate nothing", op: ticket.Op{Kind: "escalate"}, want: "escalation name is required"},
		{name: "responder user", op: ticket.Op{Kind: "add_responder", Value: "user:jane@example.com"}},
		{name: "responder empty", op: ticket.Op{Kind: "add_responder", Value: "team:"}, want: "responder is required"},
		{name: "no kind", op: ticket.Op{}, want: "op: required"},
		{name: "unknown kind", op: ticket.Op{Kind: "reboot"}, want: `op: unknown operation "reboot"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOpJSONAndResponder(t *testing.T) {
	var ops []ticket.Op
	data := `[{"op":"note","value":"fixed"},{"op":"add_tags","values":["a","b"]},{"op":"close","note":"done"},{"op":"add_responder","value":"ops"}]`
	if err := json.Unmarshal([]byte(data), &ops); err != nil {
		t.Fatal(err)
	}
	want := []ticket.Op{
		{Kind: "note", Value: "fixed"}, {Kind: "add_tags", Values: []string{"a", "b"}},
		{Kind: "close", Note: "done"}, {Kind: "add_responder", Value: "ops"},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Fatalf("decoded %+v", ops)
	}
	back, _ := json.Marshal(ops)
	if string(back) != data {
		t.Errorf("round trip:\n%s\n%s", back, data)
	}
	for _, tc := range []struct{ value, typ, name string }{
		{"ops", "team", "ops"}, {"team:ops", "team", "ops"}, {"user:jane", "user", "jane"}, {"other:x", "team", "other:x"},
	} {
		typ, name := ticket.Op{Kind: "add_responder", Value: tc.value}.Responder()
		if typ != tc.typ || name != tc.name {
			t.Errorf("Responder(%q) = %q, %q", tc.value, typ, name)
		}
	}
	if s := (ticket.Op{Kind: "note", Value: "secret text"}).String(); s != "note" {
		t.Errorf("String of a note shows %q", s)
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	rec := &tickettest.Recorder{Unsupported: []string{"escalate"}}
	errs := ticket.Apply(ctx, rec, "A1", []ticket.Op{
		{Kind: "note", Value: "done"},
		{Kind: "escalate", Value: "db"},
		{Kind: "add_tags", Values: []string{"x", "y"}},
		{Kind: "add_team"}, // invalid: no team
		{Kind: "close", Note: "bye"},
	})
	if len(errs) != 2 {
		t.Fatalf("errors %v, want 2", errs)
	}
	var oe *ticket.OpError
	if !errors.As(errs[0], &oe) || oe.Index != 1 || !errors.Is(errs[0], ticket.ErrUnsupported) {
		t.Errorf("first error %v", errs[0])
	}
	if !errors.As(errs[1], &oe) || oe.Index != 3 {
		t.Errorf("second error %v", errs[1])
	}
	want := []tickettest.Call{
		{Op: "note", ID: "A1", Value: "done"},
		{Op: "add_tags", ID: "A1", Value: "x,y"},
		{Op: "close", ID: "A1", Note: "bye"},
	}
	if got := rec.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %+v", got)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if errs := ticket.Apply(cancelled, rec, "A1", []ticket.Op{{Kind: "close"}, {Kind: "close"}}); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("cancelled Apply: %v", errs)
	}
}

func TestBasicTicketFallback(t *testing.T) {
	ctx := context.Background()
	b := &basic{}
	var tk ticket.Ticket = b
	if _, ok := tk.(ticket.Operator); ok {
		t.Fatal("basic should not be an Operator")
	}
	if !ticket.Supports(b, "note") || !ticket.Supports(b, "add_team") || ticket.Supports(b, "close") {
		t.Error("Supports of a basic ticket")
	}
	if err := ticket.Do(ctx, b, "1", ticket.Op{Kind: "add_team", Value: "ops"}); err != nil {
		t.Fatal(err)
	}
	if err := ticket.Do(ctx, b, "1", ticket.Op{Kind: "close"}); !errors.Is(err, ticket.ErrUnsupported) {
		t.Errorf("close on a basic ticket: %v", err)
	}
	if got := b.Calls(); len(got) != 1 || got[0] != (tickettest.Call{Op: "team", ID: "1", Value: "ops"}) {
		t.Errorf("calls %+v", got)
	}
}

func TestSet(t *testing.T) {
	og, eu, dt := &tickettest.Recorder{}, &tickettest.Recorder{}, &tickettest.Recorder{Unsupported: []string{"escalate"}}
	s := ticket.Set{}
	s.Add("OpsGenie", og)
	s.AddFeed("OpsGenie", "eu-incoming", eu)
	s.Add("Dynatrace", dt)
	cases := []struct {
		feedType, feedName string
		want               ticket.Ticket
	}{
		{"opsgenie", "incoming", og},
		{"OPSGENIE", "eu-incoming", eu},
		{"OpsGenie", "", og},
		{"Dynatrace", "eu-incoming", dt},
	}
	for _, tc := range cases {
		got, ok := s.ForFeed(tc.feedType, tc.feedName)
		if !ok || got != tc.want {
			t.Errorf("ForFeed(%q, %q) = %p, want %p", tc.feedType, tc.feedName, got, tc.want)
		}
	}
	if _, ok := s.ForFeed("Jira", "x"); ok {
		t.Error("ForFeed of an unknown type")
	}
	if !s.Supports("Dynatrace", "close") || s.Supports("Dynatrace", "escalate") || s.Supports("Jira", "note") {
		t.Error("Set.Supports")
	}
}

func TestMulti(t *testing.T) {
	ctx := context.Background()
	primary := &tickettest.Recorder{Unsupported: []string{"escalate"}}
	chat := &tickettest.Recorder{Unsupported: []string{"add_tags"}}
	m := &ticket.Multi{Primary: primary, Mirrors: []ticket.Ticket{chat}}
	if m.Supports("escalate") || !m.Supports("add_tags") {
		t.Error("Multi supports what its primary supports")
	}
	if err := m.AddNote(ctx, "P1", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := m.Do(ctx, "P1", ticket.Op{Kind: "add_tags", Values: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if len(primary.Calls()) != 2 || len(chat.Calls()) != 1 {
		t.Errorf("primary %+v, chat %+v", primary.Calls(), chat.Calls())
	}
	chat.Err = errors.New("chat down")
	if err := m.AddTeam(ctx, "P1", "ops"); err == nil || !strings.Contains(err.Error(), "chat down") {
		t.Errorf("mirror failure: %v", err)
	}
	if n := len(primary.Calls()); n != 3 {
		t.Errorf("primary got %d calls, want 3", n)
	}
}
