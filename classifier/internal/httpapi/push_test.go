package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/classifier/internal/intake"
	"github.com/alexis-ops/alexis/shared/alert"
)

// toyPush is a push feed defined outside package intake: lines of
// "id message" posted to /v1/toy, each one alert of feed type Toy.
type toyPush struct{ reads *int }

func (p toyPush) Read(body []byte) (intake.Batch, error) {
	*p.reads++
	b := intake.Batch{FeedType: "Toy", FeedName: "toy"}
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		id, msg, ok := strings.Cut(string(line), " ")
		if !ok || id == "" {
			return intake.Batch{}, &intake.RequestError{Msg: "want lines of \"id message\""}
		}
		env, err := alert.New([]byte(`{"id":"`+id+`","message":"`+msg+`"}`),
			alert.Meta{UniqueKey: "id", UniqueValue: id, FeedType: b.FeedType, FeedName: b.FeedName})
		if err != nil {
			return intake.Batch{}, err
		}
		b.Items = append(b.Items, intake.Item{Env: env, ID: env.ID(), Unique: id})
	}
	return b, nil
}

// toyConfig is the toy kind's configuration block: an intake.Kind.
type toyConfig struct {
	FeedName string `yaml:"feed_name"`
	reads    *int
}

func (c toyConfig) Validate(key string) error {
	if c.FeedName == "" {
		return fmt.Errorf("%sfeed_name: required", key)
	}
	return nil
}

func (c toyConfig) Route() intake.Route {
	return intake.Route{Path: "/v1/toy", Feed: func(string) (intake.Push, bool) { return toyPush{c.reads}, true }}
}

var _ intake.Kind = toyConfig{}

const toyRule = `{"enabled": "true", "os_type": "linux", "rule_name": "toy_restart", "alert_feed": "Toy",
 "when": {"all": [{"path": "message", "op": "equals", "value": "disk-full"}]},
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart toy"}}],
 "entity_type": "explicit", "entities": ["worker01.example.com"]}`

// TestToyPushFeed adds a push feed kind through the seam alone (its block
// an intake.Kind, its feed an intake.Push, its route served beside the
// built-in ones as run.go serves intake.Feeds.Routes()): what is posted
// to its route is read by it, classified against the rules of its feed
// type and pushed to the action handler as its envelope.
func TestToyPushFeed(t *testing.T) {
	reads := 0
	kind := toyConfig{reads: &reads}
	if err := kind.Validate("toy."); err == nil || err.Error() != "toy.feed_name: required" {
		t.Errorf("Validate: %v", err)
	}
	kind.FeedName = "toy"
	if err := kind.Validate("toy."); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{ruleJSON: map[string]string{"toy.json": toyRule},
		intake: Intake{Push: append(intake.Feeds{}.Routes(), kind.Route())}})

	rec := h.do(t, http.MethodPost, "/v1/toy", []byte("t1 disk-full\nt2 all-good\n"), clientToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	a := decodeIntake(t, rec.Body.Bytes())
	if reads != 1 || a.FeedType != "Toy" || a.FeedName != "toy" || strings.Join(results(a), ",") != "matched,unmatched" ||
		a.Alerts[0].Matched[0].RuleName != "toy_restart" {
		t.Errorf("reads %d, answer %s", reads, rec.Body)
	}
	got := h.ah.got()
	if len(got) != 1 || got[0].Alert.Meta.FeedType != "Toy" || got[0].Alert.Meta.UniqueValue != "t1" ||
		got[0].Alert.Get("message").Str != "disk-full" {
		t.Fatalf("pushed %+v", got)
	}

	for _, tc := range []struct {
		name, body, token string
		want              int
	}{
		{"bad body", "no-message", clientToken, http.StatusBadRequest},
		{"no token", "t3 disk-full", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := h.do(t, http.MethodPost, "/v1/toy", []byte(tc.body), tc.token); rec.Code != tc.want {
				t.Errorf("status %d body %s, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
	if got := h.ah.got(); len(got) != 1 {
		t.Errorf("pushed %d, want only the first", len(got))
	}
}

// TestPushRouteCannotReplaceAPI: a push route on an API route's path is
// not served.
func TestPushRouteCannotReplaceAPI(t *testing.T) {
	reads := 0
	h := newHarness(t, setup{intake: Intake{Push: []intake.Route{{Path: "/v1/classifier",
		Feed: func(string) (intake.Push, bool) { return toyPush{&reads}, true }}}}})
	h.do(t, http.MethodPost, "/v1/classifier", []byte("t1 disk-full"), clientToken)
	if reads != 0 {
		t.Error("push route replaced POST /v1/classifier")
	}
}
