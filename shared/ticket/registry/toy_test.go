package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/alexis-ops/alexis/shared/ticket"
	"github.com/rs/zerolog"
)

// The toy ticket system is written as a new system's package would be,
// against package ticket alone: its block, its secrets, its client, its
// errors, its status. TestToySystem registers it with the one line a new
// system adds to systems, and drives it through the registry.

type toyConfig struct {
	URL     string `yaml:"url"`
	KeyFile string `yaml:"key_file"`
	Queue   string `yaml:"queue"`
}

func (c *toyConfig) Validate(prefix string) error {
	var p config.Problems
	if c.URL == "" {
		p.Addf(prefix+"url", "required")
	}
	if c.KeyFile == "" {
		p.Addf(prefix+"key_file", "required")
	}
	return p.Err()
}

func (c *toyConfig) SecretFiles() []secretfile.File {
	return []secretfile.File{{Field: "key_file", Path: c.KeyFile}}
}

func (c *toyConfig) Build(zerolog.Logger) (ticket.Ticket, error) {
	key, err := config.ReadSecret(c.KeyFile)
	if err != nil {
		return nil, err
	}
	return &toyClient{url: c.URL, key: key.Reveal(), queue: c.Queue}, nil
}

var toyRegistration = ticket.System{
	Name: "toy", FeedType: "Toy",
	NewConfig: func() ticket.SystemConfig { return &toyConfig{Queue: "default"} },
}

type toyClient struct{ url, key, queue string }

func (c *toyClient) send(ctx context.Context, method, path, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, strings.NewReader(body))
	if err != nil {
		return "", ticket.NewError("toy", method, 0, err)
	}
	req.Header.Set("X-Key", c.key)
	req.Header.Set("X-Queue", c.queue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", ticket.NewError("toy", method, 0, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", ticket.NewError("toy", method, resp.StatusCode, errors.New("toy: "+resp.Status))
	}
	return string(b), nil
}

func (c *toyClient) AddNote(ctx context.Context, id, note string) error {
	_, err := c.send(ctx, http.MethodPost, "/"+id+"/notes", note)
	return err
}

func (c *toyClient) AddTeam(ctx context.Context, id, team string) error {
	_, err := c.send(ctx, http.MethodPost, "/"+id+"/teams", team)
	return err
}

func (c *toyClient) IsOpen(ctx context.Context, id string) (bool, error) {
	s, err := c.send(ctx, http.MethodGet, "/"+id, "")
	return err != nil || s != "closed", err
}

// toyServer is the toy system's API: it answers status and records what
// it was sent, with the key and queue.
type toyServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []string
}

func newToyServer(t *testing.T) *toyServer {
	s := &toyServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		if r.Method == http.MethodGet {
			io.WriteString(w, "closed")
			return
		}
		b, _ := io.ReadAll(r.Body)
		s.got = append(s.got, r.Header.Get("X-Key")+" "+r.Header.Get("X-Queue")+" "+r.URL.Path+" "+string(b))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *toyServer) answer(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func TestToySystem(t *testing.T) {
	// The one registry line, as a new system adds it.
	defer func(prev []ticket.System) { systems = prev }(systems)
	systems = append(slices.Clone(systems), toyRegistration)

	dir := t.TempDir()
	srv := newToyServer(t)
	ch := newChat(t)
	key := write(t, dir, "toy", "toy-secret-key-0123")
	var svc service

	// Its block is decoded strictly and validated with key paths.
	err := config.Decode([]byte("tickets:\n  toy: {url: x, colour: red}\n"), "test", &svc)
	if err == nil || !strings.Contains(err.Error(), "field colour not found") {
		t.Errorf("unknown key in the toy block: %v", err)
	}
	err = config.Decode([]byte("tickets:\n  toy: {queue: q}\n  feeds:\n    eu: {toy: {url: x}}\n"), "test", &svc)
	for _, w := range []string{"tickets.toy.url: required", "tickets.toy.key_file: required", "tickets.feeds.eu.toy.key_file: required"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}

	cfg := `tickets:
  toy: {url: "` + srv.URL + `", key_file: ` + key + `}
  webhooks:
    - {name: chat, url: "` + ch.URL + `", feed_types: [Toy]}
  feeds:
    eu: {toy: {url: "` + srv.URL + `", key_file: ` + key + `, queue: eu}}
`
	svc = service{}
	if err := config.Decode([]byte(cfg), "test", &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Tickets.Empty() {
		t.Error("a config with only the toy system is Empty")
	}
	if !slices.Contains(FeedTypes(), "Toy") {
		t.Errorf("FeedTypes %v lack Toy", FeedTypes())
	}

	// Its secret file is listed for the permission check and redaction.
	var fields []string
	for _, f := range svc.Tickets.SecretFiles("tickets.") {
		if f.Path == key {
			fields = append(fields, f.Field)
		}
	}
	if want := []string{"tickets.toy.key_file", "tickets.feeds.eu.toy.key_file"}; !slices.Equal(fields, want) {
		t.Errorf("secret files %q, want %q", fields, want)
	}

	// A note reaches it, with the chat webhook as mirror; the feed's own
	// block is its own account.
	set, err := Build(svc.Tickets, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tk, ok := set.ForFeed("Toy", "any")
	if !ok {
		t.Fatal("no ticket for feed type Toy")
	}
	if err := ticket.Do(ctx, tk, "T1", ticket.Op{Kind: ticket.KindNote, Value: "fixed"}); err != nil {
		t.Fatal(err)
	}
	eu, _ := set.ForFeed("Toy", "eu")
	if err := ticket.Do(ctx, eu, "T2", ticket.Op{Kind: ticket.KindAddTeam, Value: "ops"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"toy-secret-key-0123 default /T1/notes fixed", "toy-secret-key-0123 eu /T2/teams ops"}; !slices.Equal(srv.got, want) {
		t.Errorf("toy server got %q, want %q", srv.got, want)
	}
	if got := ch.texts(); len(got) == 0 || !strings.Contains(got[0], "Toy alert T1: fixed") {
		t.Errorf("chat mirror got %q", got)
	}

	// StatusOf finds its IsOpen through the Multi (and Observe's wrapper).
	if _, isMulti := tk.(*ticket.Multi); !isMulti {
		t.Fatalf("ticket %T, want a Multi with the chat mirror", tk)
	}
	obs := ticket.Observe(set, func(string, string, error) {})
	tkObs, _ := obs.ForFeed("Toy", "")
	sr, ok := ticket.StatusOf(tkObs)
	if !ok {
		t.Fatal("StatusOf finds no StatusReader for the toy system")
	}
	if open, err := sr.IsOpen(ctx, "T1"); open || err != nil {
		t.Errorf("IsOpen = %v, %v; want closed", open, err)
	}

	// Its 4xx is final, its 5xx worth another try.
	for status, temporary := range map[int]bool{400: false, 404: false, 500: true, 503: true} {
		srv.answer(status)
		err := ticket.Do(ctx, tk, "T1", ticket.Op{Kind: ticket.KindNote, Value: "again"})
		if err == nil || ticket.Temporary(err) != temporary {
			t.Errorf("answer %d: err %v, Temporary %v; want %v", status, err, ticket.Temporary(err), temporary)
		}
	}
}
