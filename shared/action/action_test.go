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

// The action handler must act on the alert the classifier matched: a key
// given twice (where gjson reads the first and a map decode the last) is
// refused, wherever it is.
func TestDecodeRefusesDuplicateKeys(t *testing.T) {
	r := mustRule(t)
	meta := `"alexis":{"feed_type":"OpsGenie","unique_value":"1"}`
	for _, tc := range []struct{ name, body, want string }{
		{"details twice", `{"details":{"env":"staging"},` + meta + `,"details":{"env":"prod"},"rule":` + r + `}`, `duplicate key "details" at $`},
		{"alexis twice", `{` + meta + `,"alexis":{"feed_type":"OpsGenie","unique_value":"2"},"rule":` + r + `}`, `duplicate key "alexis" at $`},
		{"nested key twice", `{"details":{"env":"staging","env":"prod"},` + meta + `,"rule":` + r + `}`, `duplicate key "env" at $.details`},
		{"rule twice", `{` + meta + `,"rule":` + r + `,"rule":` + r + `}`, `duplicate key "rule" at $`},
		{"inside the rule", `{` + meta + `,"rule":{"rule_name":"a","rule_name":"b"}}`, `duplicate key "rule_name" at $.rule`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

// Decode cuts the rule out and leaves every other byte of the alert as it
// was sent, wherever the rule is among the keys.
func TestDecodeKeepsAlertBytes(t *testing.T) {
	r := mustRule(t)
	alertRaw := `{"id":"x1","details":{"b":2,"a":"<b>&"},"alexis":{"feed_type":"OpsGenie","unique_value":"1"}}`
	for _, tc := range []struct{ name, body string }{
		{"rule last", `{"id":"x1","details":{"b":2,"a":"<b>&"},"alexis":{"feed_type":"OpsGenie","unique_value":"1"},"rule":` + r + `}`},
		{"rule first", `{"rule":` + r + `,"id":"x1","details":{"b":2,"a":"<b>&"},"alexis":{"feed_type":"OpsGenie","unique_value":"1"}}`},
		{"rule between", `{"id":"x1","details":{"b":2,"a":"<b>&"},"rule":` + r + `,"alexis":{"feed_type":"OpsGenie","unique_value":"1"}}`},
		{"spaced", " {\n  \"rule\" : " + r + " ,\n \"id\":\"x1\",\"details\":{\"b\":2,\"a\":\"<b>&\"},\"alexis\":{\"feed_type\":\"OpsGenie\",\"unique_value\":\"1\"}\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Decode([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(json.RawMessage(alertRaw))
			if string(req.Alert.Raw) != string(want) {
				t.Fatalf("alert = %s\nwant    %s", req.Alert.Raw, want)
			}
			// What is stored and sent on (json.Marshal) decodes to the same bytes.
			wire, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(wire)
			if err != nil {
				t.Fatal(err)
			}
			if string(back.Alert.Raw) != string(req.Alert.Raw) {
				t.Fatalf("after a round trip the alert is %s, was %s", back.Alert.Raw, req.Alert.Raw)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	r, _ := os.ReadFile("../rule/testdata/alexis_v1_example.json")
	f.Add([]byte(`{"id":"x","alexis":{"feed_type":"x","unique_value":"1"},"rule":` + string(r) + `}`))
	f.Add([]byte(`{"rule":` + string(r) + `,"alexis":{"feed_type":"x","unique_value":"1"}}`))
	f.Add([]byte(`{"alexis":{"feed_type":"x","unique_value":"1"},"alexis":{},"rule":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := Decode(data)
		if err != nil {
			return
		}
		wire, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("decoded request does not marshal: %v", err)
		}
		back, err := Decode(wire)
		if err != nil {
			t.Fatalf("re-encoded request refused: %v\n%s", err, wire)
		}
		if string(back.Alert.Raw) != string(req.Alert.Raw) {
			t.Fatalf("alert changed in a round trip: %s -> %s", req.Alert.Raw, back.Alert.Raw)
		}
	})
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
			if string(back.Alert.Raw) != string(env.Raw) {
				t.Fatalf("alert = %s, want the bytes sent %s", back.Alert.Raw, env.Raw)
			}
		})
	}
	if _, err := Decode([]byte(`{"alexis":{"feed_type":"x","unique_value":"1"},"rule":` + mustRule(t) + `,"requested_by":7}`)); err == nil ||
		!strings.Contains(err.Error(), "requested_by: want a string") {
		t.Fatalf("err = %v", err)
	}
}
