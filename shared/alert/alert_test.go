package alert

import (
	"encoding/json"
	"strings"
	"testing"
)

const record = `{"id":"a1b2","tinyId":"42","message":"Long garbage-collection time","tags":["syn.day","syn.duplicator"],"details":{"host":"app01"}}`

func TestNewAndDecodeRoundTrip(t *testing.T) {
	meta := Meta{UniqueKey: "tinyId", UniqueValue: "42", FeedType: "OpsGenie", FeedName: "incoming"}
	env, err := New([]byte(record), meta)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(wire)
	if err != nil {
		t.Fatal(err)
	}
	if back.Meta != meta {
		t.Fatalf("meta = %+v, want %+v", back.Meta, meta)
	}
	if got := back.Get("details.host").String(); got != "app01" {
		t.Fatalf("details.host = %q", got)
	}
	if got := back.Get("alexis.feed_type").String(); got != "OpsGenie" {
		t.Fatalf("alexis.feed_type = %q", got)
	}
	if back.ID() != "a1b2" {
		t.Fatalf("ID = %q", back.ID())
	}
	if tags := back.Tags(); len(tags) != 2 || tags[1] != "syn.duplicator" {
		t.Fatalf("tags = %v", tags)
	}
}

func TestIDFallsBackToUniqueValue(t *testing.T) {
	env, err := Decode([]byte(`{"alexis":{"feed_type":"Alertmanager","unique_value":"fp1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if env.ID() != "fp1" {
		t.Fatalf("ID = %q", env.ID())
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"empty", ``, "body is empty"},
		{"array", `[1]`, "must be a JSON object"},
		{"truncated", `{"a":`, "malformed JSON"},
		{"trailing data", `{"alexis":{}} {}`, "data after the object"},
		{"no meta", `{"id":"x"}`, "alexis: required"},
		{"meta wrong type", `{"alexis":"x"}`, "alexis:"},
		{"meta field wrong type", `{"alexis":{"feed_type":1}}`, "feed_type: want string"},
		{"meta unknown field", `{"alexis":{"feed_type":"x","unique_value":"1","feedtype":"x"}}`, `unknown field "feedtype"`},
		{"missing feed type and value", `{"alexis":{}}`, "alexis.feed_type: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"alexis":{"feed_type":"OpsGenie","unique_value":"1"},"tags":["a"]}`))
	f.Add([]byte(`{"alexis":{}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Decode(data)
		if err != nil {
			return
		}
		if env.Meta.FeedType == "" || env.Meta.UniqueValue == "" {
			t.Fatalf("accepted envelope without feed_type/unique_value: %s", data)
		}
		_ = env.Tags()
		_ = env.ID()
		if _, err := Decode(env.Raw); err != nil {
			t.Fatalf("re-decode of accepted envelope failed: %v", err)
		}
	})
}
