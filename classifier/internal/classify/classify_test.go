package classify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/alexis-ops/alexis/shared/ticket/tickettest"
	"github.com/rs/zerolog"
)

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no handler", fmt.Errorf("%w for os_type %q", ErrNoHandler, "aix"), false},
		{"500", fmt.Errorf("push: %w", &httpclient.StatusError{Code: 500}), true},
		{"503", &httpclient.StatusError{Code: 503}, true},
		{"429", &httpclient.StatusError{Code: 429}, true},
		{"400", &httpclient.StatusError{Code: 400}, false},
		{"401", &httpclient.StatusError{Code: 401}, false},
		{"transport", errors.New("dial tcp: connection refused"), true},
		{"deadline", context.DeadlineExceeded, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Temporary(tc.err); got != tc.want {
				t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func testRequest(t *testing.T) *action.Request {
	t.Helper()
	envData, err := os.ReadFile("../../testdata/alerts/gc_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	env, err := alert.Decode(envData)
	if err != nil {
		t.Fatal(err)
	}
	ruleData, err := os.ReadFile("../../testdata/rules/gc_restart.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rule.Parse(ruleData)
	if err != nil {
		t.Fatal(err)
	}
	return &action.Request{Alert: env, Rule: r}
}

// An action handler that accepted the rule but answered garbage has the
// rule running: pushing it again would run it twice.
func TestPushAcceptedUnreadableAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, "<html>accepted</html>")
	}))
	defer srv.Close()
	client, err := httpclient.New(httpclient.Options{Token: config.NewSecret("t")})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p := NewActionHandlers(map[string]string{"LINUX": srv.URL}, client, logging.New(&logs, "classifier", logging.Options{}))
	acc, err := p.Push(context.Background(), testRequest(t))
	if err != nil || acc.ExecutionID != "" {
		t.Fatalf("push = %+v, %v; want accepted without execution id", acc, err)
	}
	if !strings.Contains(logs.String(), "event=action_answer_unreadable") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

type brokenLoader struct{}

func (brokenLoader) Load(context.Context) (*rules.Set, error) {
	return nil, errors.New("read rules directory: permission denied")
}

// Without rules nothing is decided: the alert is offered again, not routed.
func TestClassifyRulesUnavailable(t *testing.T) {
	rec := &tickettest.Recorder{}
	c := New(Options{Rules: brokenLoader{}, Actions: nopPusher{}, Queue: "ops", Log: zerolog.Nop()})
	c.o.Tickets.Add("OpsGenie", rec)
	_, err := c.Classify(context.Background(), testRequest(t).Alert)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error = %v, want ErrUnavailable naming the cause", err)
	}
	if len(rec.Calls()) != 0 {
		t.Errorf("wrote %v", rec.Calls())
	}
}
