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

// One reading of every envelope: a key given twice anywhere is refused
// (gjson would read the first, a map decode the last), and so are
// identifiers holding control characters or longer than their limit.
func TestDecodeRefuses(t *testing.T) {
	meta := `"alexis":{"feed_type":"OpsGenie","feed_name":"incoming","unique_value":"1"}`
	long := strings.Repeat("x", 257)
	for _, tc := range []struct{ name, body, want string }{
		{"details twice", `{"details":{"env":"staging"},"details":{"env":"prod"},` + meta + `}`, `duplicate key "details" at $`},
		{"alexis twice", `{` + meta + `,"alexis":{"feed_type":"OpsGenie","unique_value":"2"}}`, `duplicate key "alexis" at $`},
		{"unique_value twice", `{"alexis":{"feed_type":"OpsGenie","unique_value":"1","unique_value":"2"}}`, `duplicate key "unique_value" at $.alexis`},
		{"deep", `{"a":[{"b":{"c":1,"c":2}}],` + meta + `}`, `duplicate key "c" at $.a[0].b`},
		{"NUL in unique_value", `{"alexis":{"feed_type":"OpsGenie","unique_value":"1\u0000"}}`, `alexis.unique_value "1\x00": control character U+0000`},
		{"newline in feed_name", `{"alexis":{"feed_type":"OpsGenie","feed_name":"a\nb","unique_value":"1"}}`, "alexis.feed_name"},
		{"C1 in feed_type", `{"alexis":{"feed_type":"Ops\u009bGenie","unique_value":"1"}}`, "alexis.feed_type"},
		{"unique_value too long", `{"alexis":{"feed_type":"OpsGenie","unique_value":"` + long + `"}}`, "alexis.unique_value"},
		{"line separator in id", `{"id":"a\u2028b",` + meta + `}`, `id "a\u2028b": control character U+2028`},
		{"id too long", `{"id":"` + long + `",` + meta + `}`, "longer than 256 bytes"},
		{"its own rule", `{"rule":{"rule_name":"x"},` + meta + `}`, `reserved key "rule" at $`},
		{"its own requested_by", `{"requested_by":"admin",` + meta + `}`, `reserved key "requested_by" at $`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// New (poller, intake) refuses the same records.
	if _, err := New([]byte(`{"id":"a","id":"b"}`), Meta{FeedType: "OpsGenie", UniqueValue: "1"}); err == nil || !strings.Contains(err.Error(), `duplicate key "id"`) {
		t.Errorf("New: err = %v", err)
	}
	if _, err := New([]byte(`{"id":"a"}`), Meta{FeedType: "OpsGenie", UniqueValue: "1\x7f"}); err == nil || !strings.Contains(err.Error(), "U+007F") {
		t.Errorf("New: err = %v", err)
	}
}

// Raw is in encoding/json's own form, so marshalling it again (as the
// classifier does to forward it) changes no byte.
func TestDecodeRawIsStable(t *testing.T) {
	env, err := Decode([]byte(" {\"a\" : \"<b>&\u2028\",\n \"alexis\":{\"feed_type\":\"x\",\"unique_value\":\"1\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(env.Raw) {
		t.Fatalf("marshal changed the alert:\n%s\n%s", env.Raw, again)
	}
}

// BenchmarkDecode is the classifier's per-request cost of reading an
// envelope (about 1.4 KB), the duplicate-key check included.
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"id":"70413a06-38d6-4c85-92b8-5ebc900d42e2","tinyId":"1791","alias":"event_573","message":"duplicator: Long garbage-collection time",` +
		`"status":"open","acknowledged":false,"tags":["syn.day","syn.duplicator","OverwritesQuietHours"],"count":79,` +
		`"createdAt":"2026-11-17T09:13:00.000Z","updatedAt":"2026-11-17T14:41:00.000Z","source":"Zabbix","priority":"P3",` +
		`"responders":[{"type":"team","id":"4513b7ea"},{"type":"user","id":"bb4d9938"}],` +
		`"description":"JVM reports Long garbage-collection time on duplicator; ` + strings.Repeat("detail text ", 50) + `",` +
		`"details":{"host":"app01.example.com","env":"prod","service":"duplicator","restarts":"2","region":"eu-west-1"},` +
		`"alexis":{"unique_key":"tinyId","unique_value":"1791","feed_type":"OpsGenie","feed_name":"incoming"}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCanonicalFeedType(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"opsgenie", FeedTypeOpsGenie, true},
		{" DYNATRACE ", FeedTypeDynatrace, true},
		{"OpsGenie", FeedTypeOpsGenie, true},
		{"jira", "jira", false},
	} {
		got, ok := CanonicalFeedType(tc.in, FeedTypeOpsGenie, FeedTypeDynatrace)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CanonicalFeedType(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
