package rules_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/alexis-ops/alexis/shared/rules"
	"github.com/tidwall/gjson"
)

// toyTests counts the calls of the toy operator's Test: matching that did
// not go through the operator table would leave it at zero.
var toyTests atomic.Int64

// registerToy adds ends_with_digit through the public seam alone, once per
// test binary (RegisterOperator refuses a name twice).
var registerToy = sync.OnceValue(func() error {
	return rule.RegisterOperator(rule.Operator{
		Name:    "ends_with_digit",
		Operand: rule.OperandNone,
		Compile: func(rule.Arg) (rule.Test, error) {
			return rule.TestFunc(func(v gjson.Result, why bool) (bool, string) {
				toyTests.Add(1)
				if v.Type != gjson.String {
					return false, "value is " + rule.TypeName(v) + ", not a string"
				}
				s := v.Str
				if s != "" && s[len(s)-1] >= '0' && s[len(s)-1] <= '9' {
					return true, ""
				}
				return false, "no trailing digit"
			}), nil
		},
	})
})

func toyRule(t *testing.T, when string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"enabled": "true", "os_type": "linux", "rule_name": "toy", "alert_feed": "OpsGenie",
		"when":        json.RawMessage(when),
		"task_list":   []any{map[string]any{"task": map[string]any{"task_type": "remote_ssh", "run_command": "uptime"}}},
		"entity_type": "explicit", "entities": []string{"app01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toyAlert(t *testing.T, message string) *rules.Alert {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"id": "a1", "message": message, "priority": "P1", "tags": []string{"prod"},
		"alexis": map[string]any{"unique_key": "id", "unique_value": "a1", "feed_type": "OpsGenie"},
	})
	env, err := alert.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return rules.NewAlert(env)
}

// TestRegisteredOperator adds a toy operator through rule.RegisterOperator
// and nothing else, and runs it through parsing, compiling, matching and
// explaining, as the built-in ones run.
func TestRegisteredOperator(t *testing.T) {
	if err := registerToy(); err != nil {
		t.Fatal(err)
	}
	if _, ok := rule.LookupOperator("ends_with_digit"); !ok {
		t.Fatal("registered operator not in the table")
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	when := `{"all": [{"path": "tags", "op": "tags_include", "value": ["prod"]}, {"path": "message", "op": "ends_with_digit"}]}`

	// Parses (as the action handler would) and compiles.
	if _, err := rule.Parse(toyRule(t, when)); err != nil {
		t.Fatalf("parse: %v", err)
	}
	_, m, err := rules.Compile(toyRule(t, when))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}

	// Matches an alert through the operator's Test.
	before := toyTests.Load()
	if out, err := m.Match(toyAlert(t, "Disk full on db01"), now); err != nil || out != rules.Matched {
		t.Errorf("match = %s, %v; want matched", out, err)
	}
	if toyTests.Load() == before {
		t.Error("matching did not call the registered operator's Test")
	}
	if out, _ := m.Match(toyAlert(t, "Disk full"), now); out != rules.NoMatch {
		t.Errorf("match without a trailing digit = %s", out)
	}

	// Explain names it on a non-match, with its reason.
	out, f, err := m.Explain(toyAlert(t, "Disk full"), now)
	if err != nil || out != rules.NoMatch || f == nil {
		t.Fatalf("explain = %s, %+v, %v", out, f, err)
	}
	want := rules.Failure{RulePath: "when.all[1]", AlertPath: "message", Op: "ends_with_digit", Actual: `"Disk full"`, Reason: "no trailing digit"}
	if got, want := mustJSON(t, f), mustJSON(t, want); got != want {
		t.Errorf("failure\n got %s\nwant %s", got, want)
	}
	// A missing path is decided by the host, as for every operator.
	_, m2, err := rules.Compile(toyRule(t, `{"path": "details.host", "op": "ends_with_digit"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, f, _ = m2.Explain(toyAlert(t, "x1"), now); f == nil || f.Reason != "not in the alert" || f.Op != "ends_with_digit" {
		t.Errorf("missing value: %+v", f)
	}

	// Its operand kind is checked by parsing, with the kind's message.
	_, _, err = rules.Compile(toyRule(t, `{"path": "message", "op": "ends_with_digit", "value": 5}`))
	var errs rule.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "when.value" || errs[0].Msg != "ends_with_digit takes no value" {
		t.Errorf("value on ends_with_digit: %v", err)
	}
	// And it is listed among the known operators.
	_, _, err = rules.Compile(toyRule(t, `{"path": "message", "op": "ends_with_letter"}`))
	if err == nil || !strings.Contains(err.Error(), "ends_with_digit") {
		t.Errorf("unknown operator error does not list the registered one: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
