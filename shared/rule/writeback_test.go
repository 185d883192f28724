package rule

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/ticket"
)

// withWriteback returns the v1 example with extra top-level fields.
func withWriteback(t *testing.T, extra string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/alexis_v1_example.json")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(data))
	return []byte(strings.TrimSuffix(s, "}") + "," + extra + "}")
}

func TestParseWriteback(t *testing.T) {
	r, err := Parse(withWriteback(t, `
	  "on_success": [{"op": "note", "value": "fixed by Alexis"}, {"op": "close", "note": "closed after a restart"}],
	  "on_failure": [{"op": "add_tags", "values": ["alexis-failed"]}, {"op": "escalate", "value": "db-escalation"}]`))
	if err != nil {
		t.Fatal(err)
	}
	wantSuccess := []ticket.Op{{Kind: ticket.KindNote, Value: "fixed by Alexis"}, {Kind: ticket.KindClose, Note: "closed after a restart"}}
	wantFailure := []ticket.Op{{Kind: ticket.KindAddTags, Values: []string{"alexis-failed"}}, {Kind: ticket.KindEscalate, Value: "db-escalation"}}
	if !reflect.DeepEqual(r.SuccessOps(), wantSuccess) {
		t.Errorf("SuccessOps = %+v", r.SuccessOps())
	}
	if !reflect.DeepEqual(r.FailureOps("queue_x"), wantFailure) {
		t.Errorf("FailureOps = %+v", r.FailureOps("queue_x"))
	}

	// The action handler receives the rule as JSON: the lists survive.
	out, _ := json.Marshal(r)
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse %s: %v", out, err)
	}
	if !reflect.DeepEqual(again.OnSuccess, wantSuccess) || !reflect.DeepEqual(again.OnFailure, wantFailure) {
		t.Errorf("round trip: %s", out)
	}
}

// Absent lists mean today's behaviour; an empty list means nothing, and
// stays empty (not absent) through JSON.
func TestWritebackDefaults(t *testing.T) {
	tests := []struct {
		name        string
		extra       string
		wantSuccess []ticket.Op
		wantFailure []ticket.Op
		wantJSON    string // in the marshalled rule ("" : neither key)
	}{
		{
			name:        "absent: route_to_team and the investigation queue",
			wantSuccess: []ticket.Op{{Kind: ticket.KindAddTeam, Value: "email_opsunixadmins"}},
			wantFailure: []ticket.Op{{Kind: ticket.KindAddTeam, Value: "queue_x"}},
		},
		{
			name:        "null is absent",
			extra:       `"on_success": null`,
			wantSuccess: []ticket.Op{{Kind: ticket.KindAddTeam, Value: "email_opsunixadmins"}},
			wantFailure: []ticket.Op{{Kind: ticket.KindAddTeam, Value: "queue_x"}},
		},
		{
			name:        "empty lists: nothing",
			extra:       `"on_success": [], "on_failure": []`,
			wantSuccess: []ticket.Op{},
			wantFailure: []ticket.Op{},
			wantJSON:    `"on_success":[],"on_failure":[]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/alexis_v1_example.json")
			if err != nil {
				t.Fatal(err)
			}
			if tc.extra != "" {
				data = withWriteback(t, tc.extra)
			}
			r, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.SuccessOps(); !reflect.DeepEqual(got, tc.wantSuccess) {
				t.Errorf("SuccessOps = %#v, want %#v", got, tc.wantSuccess)
			}
			if got := r.FailureOps("queue_x"); !reflect.DeepEqual(got, tc.wantFailure) {
				t.Errorf("FailureOps = %#v, want %#v", got, tc.wantFailure)
			}
			out, _ := json.Marshal(r)
			if tc.wantJSON == "" && (strings.Contains(string(out), "on_success") || strings.Contains(string(out), "on_failure")) {
				t.Errorf("marshalled %s, want no write-back keys", out)
			}
			if !strings.Contains(string(out), tc.wantJSON) {
				t.Errorf("marshalled %s, want %s", out, tc.wantJSON)
			}
			again, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again.SuccessOps(), tc.wantSuccess) {
				t.Errorf("after a round trip SuccessOps = %#v", again.SuccessOps())
			}
		})
	}
	if got := DefaultOnSuccess(""); len(got) != 0 {
		t.Errorf("no route_to_team: %v, want nothing", got)
	}
}

func TestWritebackErrorsNamePaths(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string // "path: message part"
	}{
		{"note without text", `"on_success": [{"op": "note"}]`, []string{"on_success[0].value: the note text is required"}},
		{"second op without value", `"on_failure": [{"op": "note", "value": "x"}, {"op": "add_team", "value": " "}]`,
			[]string{"on_failure[1].value: the team name is required"}},
		{"unknown op", `"on_failure": [{"op": "reboot"}]`, []string{`on_failure[0].op: unknown operation "reboot"`}},
		{"missing op", `"on_success": [{"value": "x"}]`, []string{"on_success[0].op: required"}},
		{"blank tag", `"on_success": [{"op": "add_tags", "values": ["a", ""]}]`, []string{"on_success[0].values[1]: must not be blank"}},
		{"unknown key", `"on_success": [{"op": "close", "comment": "x"}]`, []string{"on_success[0].comment: unknown field"}},
		{"not a list", `"on_success": {"op": "close"}`, []string{"on_success: want []ticket.Op"}},
		{"wrong value type", `"on_failure": [{"op": "escalate", "value": 3}]`, []string{"on_failure.value: want string"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(withWriteback(t, tc.extra))
			if err == nil {
				t.Fatal("parsed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// operator is a ticket system doing only some kinds.
type operator struct{ kinds []string }

func (o operator) AddNote(context.Context, string, string) error { return nil }
func (o operator) AddTeam(context.Context, string, string) error { return nil }
func (o operator) Do(context.Context, string, ticket.Op) error   { return nil }
func (o operator) Supports(kind string) bool                     { return slices.Contains(o.kinds, kind) }

func TestCheckWriteback(t *testing.T) {
	full := ticket.Set{}
	full.Add("OpsGenie", operator{kinds: ticket.Kinds})
	noteOnly := ticket.Set{}
	noteOnly.Add("opsgenie", operator{kinds: []string{ticket.KindNote, ticket.KindAddTeam}})
	tests := []struct {
		name  string
		set   ticket.Set
		extra string
		want  []string // paths with errors
	}{
		{"defaults need nothing", ticket.Set{}, `"min_age": "1m"`, nil},
		{"empty lists need nothing", ticket.Set{}, `"on_success": [], "on_failure": []`, nil},
		{"all supported", full, `"on_success": [{"op": "close"}], "on_failure": [{"op": "escalate", "value": "e"}]`, nil},
		{"unsupported ops", noteOnly, `"on_success": [{"op": "note", "value": "x"}, {"op": "close"}], "on_failure": [{"op": "escalate", "value": "e"}]`,
			[]string{"on_success[1].op", "on_failure[0].op"}},
		{"no ticket system", ticket.Set{}, `"on_failure": [{"op": "note", "value": "x"}]`, []string{"on_failure"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(withWriteback(t, tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			errs := r.CheckWriteback(tc.set)
			var paths []string
			for _, e := range errs {
				paths = append(paths, e.Path)
			}
			if !reflect.DeepEqual(paths, tc.want) {
				t.Errorf("errors %v, want paths %v", errs, tc.want)
			}
		})
	}
}

func TestOnEscalation(t *testing.T) {
	r, err := Parse(withWriteback(t, `"on_escalation": [{"op": "escalate", "value": "db-escalation"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []ticket.Op{{Kind: ticket.KindEscalate, Value: "db-escalation"}}
	if got := r.EscalationOps("n", "queue_x"); !reflect.DeepEqual(got, want) {
		t.Errorf("EscalationOps = %+v", got)
	}
	r.OnEscalation = nil
	want = []ticket.Op{{Kind: ticket.KindNote, Value: "n"}, {Kind: ticket.KindAddTeam, Value: "queue_x"}}
	if got := r.EscalationOps("n", "queue_x"); !reflect.DeepEqual(got, want) {
		t.Errorf("default EscalationOps = %+v", got)
	}
	for _, tc := range []struct{ extra, path string }{
		{`"on_escalation": [{"op": "bogus"}]`, "on_escalation[0].op"},
		{`"on_escalation": [{"op": "note", "colour": "red"}]`, "on_escalation[0].colour"},
	} {
		_, err := Parse(withWriteback(t, tc.extra))
		if err == nil || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %v, want one naming %s", tc.extra, err, tc.path)
		}
	}
}

func TestEscalationDelay(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"", 0}, {"20m", 20 * time.Minute}, {"0m", 0}, {"bad", 0}} {
		if got := (&Rule{DelayEscalation: tc.in}).EscalationDelay(); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}
