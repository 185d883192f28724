package registry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/alexis-ops/alexis/shared/ticket/webhook"
	"github.com/rs/zerolog"
)

// service is a service configuration holding a tickets block.
type service struct {
	Tickets Config `yaml:"tickets"`
}

func (s *service) Validate() error { return s.Tickets.Validate("tickets.") }

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// chat records webhook messages by feed type.
type chat struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []webhook.Message
}

func newChat(t *testing.T) *chat {
	c := &chat{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhook.Message
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &m)
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *chat) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		out = append(out, m.Text)
	}
	return out
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	og := opsgenietest.NewT(t)
	ogEU := opsgenietest.NewT(t)
	dt := dynatracetest.NewT(t)
	ch := newChat(t)
	cfg := `tickets:
  opsgenie: {api_url: "` + og.Host() + `", api_key_file: ` + write(t, dir, "og", og.APIKey()) + `, retries: 1}
  dynatrace: {api_url: "` + dt.URL() + `", api_token_file: ` + write(t, dir, "dt", dt.Token()) + `}
  webhooks:
    - {name: chat, url: "` + ch.URL + `", feed_types: ["*"], kinds: [note, close]}
  feeds:
    eu-incoming:
      opsgenie: {api_url: "` + ogEU.Host() + `", api_key_file: ` + write(t, dir, "ogeu", ogEU.APIKey()) + `, retries: 1}
`
	var svc service
	if err := config.Decode([]byte(cfg), "test", &svc); err != nil {
		t.Fatal(err)
	}
	set, err := Build(svc.Tickets, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := og.CreateAlert(opsgenietest.AlertSpec{Message: "m"})
	b := ogEU.CreateAlert(opsgenietest.AlertSpec{Message: "eu"})
	p := dt.CreateProblem(dynatracetest.ProblemSpec{Title: "p"})

	apply := func(feedType, feedName, id string, ops ...ticket.Op) {
		t.Helper()
		tk, ok := set.ForFeed(feedType, feedName)
		if !ok {
			t.Fatalf("no ticket for %s/%s", feedType, feedName)
		}
		if errs := ticket.Apply(ctx, tk, id, ops); errs != nil {
			t.Fatalf("%s: %v", feedType, errs)
		}
	}
	apply("OpsGenie", "incoming", a.ID, ticket.Op{Kind: "note", Value: "n1"}, ticket.Op{Kind: "escalate", Value: "db"}, ticket.Op{Kind: "close"})
	apply("OpsGenie", "eu-incoming", b.ID, ticket.Op{Kind: "add_team", Value: "eu-ops"})
	apply("Dynatrace", "problems", p.ProblemID, ticket.Op{Kind: "note", Value: "n2"}, ticket.Op{Kind: "close", Note: "done"})
	apply("Alertmanager", "am", "fp-1", ticket.Op{Kind: "note", Value: "n3"})

	if got, _ := og.Alert(a.ID); got.Status != "closed" || !slices.Equal(got.Escalations, []string{"db"}) || !slices.Equal(og.Notes(a.ID), []string{"n1"}) {
		t.Errorf("opsgenie alert %+v notes %q", got, og.Notes(a.ID))
	}
	if !slices.Equal(ogEU.Teams(b.ID), []string{"eu-ops"}) {
		t.Errorf("eu alert teams %q: the feed's own account", ogEU.Teams(b.ID))
	}
	if got, _ := dt.Problem(p.ProblemID); got.Status != "CLOSED" || len(got.Comments) != 2 {
		t.Errorf("dynatrace problem %+v", got)
	}
	want := []string{
		"Alexis on OpsGenie alert " + a.ID + ": n1",
		"Alexis closed OpsGenie alert " + a.ID + ".",
		"Alexis on Dynatrace alert " + p.ProblemID + ": n2",
		"Alexis closed Dynatrace alert " + p.ProblemID + ". done",
		"Alexis on alert fp-1: n3",
	}
	if got := ch.texts(); !slices.Equal(got, want) {
		t.Errorf("chat got\n%q\nwant\n%q", got, want)
	}

	if !set.Supports("OpsGenie", "escalate") || set.Supports("Dynatrace", "escalate") || !set.Supports("Dynatrace", "add_team") ||
		set.Supports("Alertmanager", "escalate") || !set.Supports("Alertmanager", "close") {
		t.Error("Supports per feed type")
	}
}

func TestValidate(t *testing.T) {
	cfg := `tickets:
  opsgenie: {api_url: "https://api.opsgenie.com/v2"}
  dynatrace: {api_url: "abc.live.dynatrace.com"}
  webhooks:
    - {name: chat, url: "https://x", feed_types: ["*"]}
    - {name: chat, url: "", feed_types: []}
  feeds:
    eu: {}
`
	var svc service
	err := config.Decode([]byte(cfg), "test", &svc)
	for _, w := range []string{
		"tickets.opsgenie.api_key_file: required", "tickets.opsgenie.api_url", "tickets.dynatrace.api_url",
		"tickets.dynatrace.api_token_file: required", `tickets.webhooks[1].name: "chat" is already`, "tickets.webhooks[1].url: required",
		"tickets.webhooks[1].feed_types: required", "tickets.feeds.eu: names no ticket system",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if err := config.Decode([]byte("tickets:\n  jira: {}\n"), "test", &svc); err == nil || !strings.Contains(err.Error(), "jira") {
		t.Errorf("unknown system: %v", err)
	}
	if !(Config{}).Empty() || svc.Tickets.Empty() {
		t.Error("Empty")
	}
}

func TestNullBlockConfiguresNothing(t *testing.T) {
	var svc service
	if err := config.Decode([]byte("tickets:\n  opsgenie: ~\n  feeds:\n    eu: {dynatrace: ~, opsgenie: {api_key_file: k}}\n"), "test", &svc); err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Tickets.Systems["opsgenie"]; ok || len(svc.Tickets.Feeds["eu"]) != 1 {
		t.Errorf("systems %v, feeds %v: a null block configures nothing", svc.Tickets.Systems, svc.Tickets.Feeds)
	}
}
