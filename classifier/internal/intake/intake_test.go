package intake

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAlertmanagerItems(t *testing.T) {
	n, err := DecodeAlertmanager(readFile(t, "../../testdata/alertmanager/notification.json"))
	if err != nil {
		t.Fatal(err)
	}
	items := n.Items("")
	if len(items) != 3 {
		t.Fatalf("%d items, want 3", len(items))
	}

	disk := items[0]
	if disk.Env == nil || disk.Err != nil || disk.Skip != "" {
		t.Fatalf("first alert: %+v", disk)
	}
	if disk.ID != "3e9c5d1fb2a67c40-1795348200" || disk.Env.ID() != disk.ID || disk.Unique != "3e9c5d1fb2a67c40" {
		t.Errorf("ids: item %q unique %q envelope %q", disk.ID, disk.Unique, disk.Env.ID())
	}
	if m := disk.Env.Meta; m.FeedType != "Alertmanager" || m.FeedName != "alexis" || m.UniqueKey != "fingerprint" || m.UniqueValue != "3e9c5d1fb2a67c40" {
		t.Errorf("meta %+v", m)
	}
	for path, want := range map[string]string{
		"id":                         "3e9c5d1fb2a67c40-1795348200",
		"fingerprint":                "3e9c5d1fb2a67c40",
		"status":                     "firing",
		"alertname":                  "DiskFull",
		"message":                    "/var is 97% full on app01.example.com",
		"description":                "Only 1.2 GiB left on /var.",
		"host":                       "app01.example.com",
		"labels.mountpoint":          "/var",
		"annotations.summary":        "/var is 97% full on app01.example.com",
		"createdAt":                  "2026-11-22T11:50:00.123Z",
		"startsAt":                   "2026-11-22T11:50:00.123Z",
		"generatorURL":               "http://prometheus.example.com:9090/graph?g0.expr=disk_free",
		"receiver":                   "alexis",
		"groupKey":                   `{}:{alertname="DiskFull"}`,
		"groupLabels.alertname":      "DiskFull",
		"commonLabels.severity":      "page",
		"externalURL":                "http://alertmanager.example.com:9093",
		"alexis.feed_type":           "Alertmanager",
		"tags.#(=\"severity=page\")": "severity=page",
	} {
		if got := disk.Env.Get(path).String(); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := disk.Env.Tags(); !reflect.DeepEqual(got, []string{"alertname=DiskFull", "host=app01.example.com", "mountpoint=/var", "severity=page"}) {
		t.Errorf("tags %q", got)
	}
	if disk.Env.Get("endsAt").Exists() {
		t.Errorf("endsAt of a firing alert (Go's zero time) is kept: %s", disk.Env.Get("endsAt").Raw)
	}

	// No summary: the message is the alert name; the host is the instance
	// without its exporter port.
	load := items[1]
	if load.Env.Get("message").Str != "HighLoad" || load.Env.Get("host").Str != "app02.example.com" ||
		load.Env.Get("description").Str != "" || !load.Env.Get("annotations").IsObject() {
		t.Errorf("second alert: %s", load.Env.Raw)
	}

	// Resolved alerts are never classified.
	res := items[2]
	if res.Env != nil || res.Skip == "" || res.Status != StatusResolved || res.Unique != "77aa88bb99cc0011" {
		t.Errorf("resolved alert: %+v", res)
	}

	// A configured feed name wins over the receiver.
	if got := n.Items("prometheus-prod")[0].Env.Meta.FeedName; got != "prometheus-prod" {
		t.Errorf("feed name %q", got)
	}
}

func TestAlertmanagerRefireIsANewAlert(t *testing.T) {
	first := `{"version":"4","receiver":"r","alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"f1","startsAt":"2026-11-22T10:00:00Z"}]}`
	repeat := strings.Replace(first, `"receiver":"r"`, `"receiver":"r","groupKey":"again"`, 1)
	refire := strings.Replace(first, "10:00:00Z", "13:00:00Z", 1)
	id := func(s string) string {
		n, err := DecodeAlertmanager([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return n.Items("")[0].ID
	}
	if id(first) != id(repeat) {
		t.Errorf("a repeated notification of one firing has another id: %s, %s", id(first), id(repeat))
	}
	if id(first) == id(refire) {
		t.Errorf("firing again after resolving has the same id %s: the action handler would not act again", id(first))
	}
}

func TestAlertmanagerProblems(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // request error
		itemErr string // error of the first item
	}{
		{name: "empty", body: "", wantErr: "body must be a JSON object"},
		{name: "array", body: "[]", wantErr: "body must be a JSON object"},
		{name: "malformed", body: `{"version": "4",`, wantErr: "malformed JSON"},
		{name: "old version", body: `{"version": "3", "alerts": []}`, wantErr: `version: want "4"`},
		{name: "no version", body: `{"alerts": []}`, wantErr: `version: want "4"`},
		{name: "alerts not a list", body: `{"version": "4", "alerts": {}}`, wantErr: "alerts: want"},
		{name: "bad time", body: `{"version": "4", "alerts": [{"startsAt": "yesterday"}]}`, wantErr: "malformed JSON"},
		{name: "no fingerprint", body: `{"version": "4", "alerts": [{"status": "firing", "labels": {}}]}`, itemErr: "alerts[0].fingerprint: missing"},
		{name: "duplicate label", body: `{"version": "4", "alerts": [{"status": "firing", "fingerprint": "f", "labels": {"env": "staging", "env": "prod"}}]}`,
			wantErr: `duplicate key "env" at $.alerts[0].labels`},
		{name: "duplicate alerts", body: `{"version": "4", "alerts": [], "alerts": [{"status": "firing", "fingerprint": "f"}]}`, wantErr: `duplicate key "alerts" at $`},
		{name: "NUL in fingerprint", body: `{"version": "4", "alerts": [{"status": "firing", "fingerprint": "f\u0000g"}]}`, itemErr: "control character U+0000"},
		{name: "odd status", body: `{"version": "4", "alerts": [{"status": "pending", "fingerprint": "f"}]}`, itemErr: `alerts[0].status: want firing or resolved, got "pending"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := DecodeAlertmanager([]byte(tc.body))
			if tc.wantErr != "" {
				var re *RequestError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want a RequestError with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			it := n.Items("")[0]
			if it.Env != nil || it.Err == nil || !strings.Contains(it.Err.Error(), tc.itemErr) {
				t.Errorf("item %+v, want error %q", it, tc.itemErr)
			}
		})
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"host": "db01", "instance": "x:9100"}, "db01"},
		{map[string]string{"host": "127.0.0.2:2222"}, "127.0.0.2:2222"},
		{map[string]string{"instance": "app01:9100"}, "app01"},
		{map[string]string{"instance": "[::1]:9100"}, "::1"},
		{map[string]string{"instance": "app01"}, "app01"},
		{map[string]string{}, ""},
	}
	for _, tc := range tests {
		if got := Host(tc.labels); got != tc.want {
			t.Errorf("Host(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func TestWebhook(t *testing.T) {
	grafana := readFile(t, "../../testdata/webhook/grafana.json")
	tests := []struct {
		name    string
		feed    WebhookFeed
		body    string
		wantIDs []string
		wantErr string
	}{
		{name: "items", feed: WebhookFeed{Name: "grafana", FeedType: "Grafana", IDPath: "fingerprint", ItemsPath: "alerts"},
			body: string(grafana), wantIDs: []string{"c0ffee0011223344", "c0ffee5566778899"}},
		{name: "one object, nested id", feed: WebhookFeed{Name: "c", FeedType: "Custom", IDPath: "event.key"},
			body: `{"event": {"key": "k-1"}, "text": "disk full"}`, wantIDs: []string{"k-1"}},
		{name: "numeric id", feed: WebhookFeed{Name: "c", FeedType: "Custom", IDPath: "n"},
			body: `{"n": 12345}`, wantIDs: []string{"12345"}},
		{name: "no items", feed: WebhookFeed{Name: "g", FeedType: "G", IDPath: "id", ItemsPath: "alerts"},
			body: `{"alerts": []}`, wantIDs: []string{}},
		{name: "missing id", feed: WebhookFeed{Name: "c", FeedType: "Custom", IDPath: "event.key"},
			body: `{"event": {}}`, wantErr: `id_path "event.key": want a non-empty string or a number, got nothing there`},
		{name: "empty id", feed: WebhookFeed{Name: "c", FeedType: "Custom", IDPath: "id"},
			body: `{"id": ""}`, wantErr: `id_path "id": want a non-empty string or a number`},
		{name: "object id", feed: WebhookFeed{Name: "c", FeedType: "Custom", IDPath: "id"},
			body: `{"id": {"a": 1}}`, wantErr: `got an object`},
		{name: "missing id in an item", feed: WebhookFeed{Name: "g", FeedType: "G", IDPath: "fingerprint", ItemsPath: "alerts"},
			body: `{"alerts": [{"fingerprint": "a"}, {"labels": {}}]}`, wantErr: `alerts[1]: id_path "fingerprint"`},
		{name: "items not a list", feed: WebhookFeed{Name: "g", FeedType: "G", IDPath: "id", ItemsPath: "alerts"},
			body: `{"alerts": {"id": "x"}}`, wantErr: `items_path "alerts": want an array of alerts, got an object`},
		{name: "item not an object", feed: WebhookFeed{Name: "g", FeedType: "G", IDPath: "id", ItemsPath: "alerts"},
			body: `{"alerts": ["x"]}`, wantErr: `alerts[0]: want a JSON object, got JSON "x"`},
		{name: "duplicate id", feed: WebhookFeed{Name: "c", FeedType: "C", IDPath: "id"}, body: `{"id": "a", "text": "x", "id": "b"}`,
			wantErr: `duplicate key "id" at $`},
		{name: "duplicate in an item", feed: WebhookFeed{Name: "g", FeedType: "G", IDPath: "id", ItemsPath: "alerts"},
			body: `{"alerts": [{"id": "a"}, {"id": "b", "labels": {"host": "x", "host": "y"}}]}`, wantErr: `duplicate key "host" at $.alerts[1].labels`},
		{name: "control character in id", feed: WebhookFeed{Name: "c", FeedType: "C", IDPath: "id"}, body: `{"id": "a\u2028b"}`,
			wantErr: "control character U+2028"},
		{name: "not an object", feed: WebhookFeed{Name: "c", FeedType: "C", IDPath: "id"}, body: `[{"id": "x"}]`, wantErr: "body must be a JSON object"},
		{name: "malformed", feed: WebhookFeed{Name: "c", FeedType: "C", IDPath: "id"}, body: `{"id": "x"`, wantErr: "body must be a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, err := Webhook(tc.feed, []byte(tc.body))
			if tc.wantErr != "" {
				var re *RequestError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want a RequestError with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, it := range items {
				ids = append(ids, it.Unique)
				m := it.Env.Meta
				if m.FeedType != tc.feed.FeedType || m.FeedName != tc.feed.Name || m.UniqueKey != tc.feed.IDPath || it.ID != it.Env.ID() {
					t.Errorf("item %+v meta %+v", it, m)
				}
			}
			if !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("ids %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}

// The posted record is kept whole: rules read any field of it.
func TestWebhookKeepsRecord(t *testing.T) {
	items, err := Webhook(WebhookFeed{Name: "g", FeedType: "Grafana", IDPath: "fingerprint", ItemsPath: "alerts"},
		readFile(t, "../../testdata/webhook/grafana.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := items[1].Env
	if env.Get("labels.queue").Str != "billing" || !strings.Contains(env.Get("valueString").Str, "9120") ||
		env.Get("alexis.feed_name").Str != "g" {
		t.Errorf("record %s", env.Raw)
	}
}

func FuzzAlertmanager(f *testing.F) {
	f.Add(readFile(f, "../../testdata/alertmanager/notification.json"))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","fingerprint":"f","labels":{"instance":"[::1"}}]}`))
	f.Add([]byte(`{"version":"4","alerts":[null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeAlertmanager(data)
		if err != nil {
			return
		}
		for _, it := range n.Items("") {
			if it.Env != nil && (it.Env.Meta.UniqueValue == "" || it.Env.Meta.FeedType != FeedTypeAlertmanager) {
				t.Fatalf("envelope without id: %+v", it.Env.Meta)
			}
		}
	})
}

func FuzzWebhook(f *testing.F) {
	f.Add(readFile(f, "../../testdata/webhook/grafana.json"), "fingerprint", "alerts")
	f.Add([]byte(`{"id": 1}`), "id", "")
	f.Add([]byte(`{"a": [{"b": {"c": "x"}}]}`), "b.c", "a")
	f.Fuzz(func(t *testing.T, data []byte, idPath, itemsPath string) {
		items, err := Webhook(WebhookFeed{Name: "f", FeedType: "F", IDPath: idPath, ItemsPath: itemsPath}, data)
		if err != nil {
			return
		}
		for _, it := range items {
			if it.Env == nil || it.Unique == "" {
				t.Fatalf("item without envelope or id: %+v", it)
			}
		}
	})
}
