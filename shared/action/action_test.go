package action

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/rule"
)

func example(t *testing.T) *rule.Rule {
	t.Helper()
	data, err := os.ReadFile("../rule/testdata/alexis_v1_example.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rule.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	env, err := alert.New([]byte(`{"id":"x1","tags":["a"]}`), alert.Meta{UniqueKey: "tinyId", UniqueValue: "7", FeedType: "OpsGenie", FeedName: "f"})
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Alert: env, Rule: example(t)}
	wire, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rule":{`, `"alexis":{`, `"id":"x1"`} {
		if !strings.Contains(string(wire), want) {
			t.Fatalf("wire %s lacks %s", wire, want)
		}
	}
	back, err := Decode(wire)
	if err != nil {
		t.Fatal(err)
	}
	if back.Rule.Name != "day_duplicator_gc_restart" || back.Alert.ID() != "x1" || back.Alert.Meta.UniqueValue != "7" {
		t.Fatalf("back = %+v %+v", back.Rule, back.Alert.Meta)
	}
	if back.Alert.Get("rule").Exists() {
		t.Fatal("rule left inside the alert")
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `{"a"`, "malformed JSON"},
		{"no rule", `{"alexis":{"feed_type":"x","unique_value":"1"}}`, "rule: required"},
		{"bad rule", `{"alexis":{"feed_type":"x","unique_value":"1"},"rule":{"rule_name":"r"}}`, "rule: "},
		{"no meta", `{"rule":` + mustRule(t) + `}`, "alexis: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func mustRule(t *testing.T) string {
	b, _ := json.Marshal(example(t))
	return string(b)
}

func TestRequestedByRoundTrip(t *testing.T) {
	env, err := alert.New([]byte(`{"id":"x2"}`), alert.Meta{UniqueValue: "8", FeedType: "OpsGenie", FeedName: "f"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, by, wantWire string }{
		{"set", "poller", `"requested_by":"poller"`},
		{"unset", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire, err := json.Marshal(&Request{Alert: env, Rule: example(t), RequestedBy: tc.by})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantWire != "" && !strings.Contains(string(wire), tc.wantWire) {
				t.Fatalf("wire %s lacks %s", wire, tc.wantWire)
			}
			if tc.wantWire == "" && strings.Contains(string(wire), RequestedByKey) {
				t.Fatalf("wire %s has %s", wire, RequestedByKey)
			}
			back, err := Decode(wire)
			if err != nil {
				t.Fatal(err)
			}
			if back.RequestedBy != tc.by {
				t.Fatalf("requested_by = %q, want %q", back.RequestedBy, tc.by)
			}
			if back.Alert.Get(RequestedByKey).Exists() {
				t.Fatal("requested_by left inside the alert")
			}
		})
	}
	if _, err := Decode([]byte(`{"alexis":{"feed_type":"x","unique_value":"1"},"rule":` + mustRule(t) + `,"requested_by":7}`)); err == nil ||
		!strings.Contains(err.Error(), "requested_by: want a string") {
		t.Fatalf("err = %v", err)
	}
}
