package benchrig

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Rules are n v1 rule files, about five per service tag (like
// BenchmarkClassify's indexed mix): rule i matches an alert tagged
// team.XX and svc.YYYY whose description says "Heap exhausted on nodeNNNNN"
// (i), and acts with Command on the alert's details.host.
type Rules struct {
	Dir      string
	N        int
	Command  string
	services int
}

// WriteRules writes n rule files into dir.
func WriteRules(dir string, n int, command string) (*Rules, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	r := &Rules{Dir: dir, N: n, Command: command, services: max(n/5, 8)}
	for i := range n {
		b, err := json.Marshal(r.Rule(i))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("rule_%05d.json", i)), append(b, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	}
	return r, nil
}

func (r *Rules) tags(i int) (team, svc string) {
	s := i % r.services
	return fmt.Sprintf("team.%02d", s%20), fmt.Sprintf("svc.%04d", s)
}

// Rule is rule i as a JSON object.
func (r *Rules) Rule(i int) map[string]any {
	team, svc := r.tags(i)
	return map[string]any{
		"enabled": "true", "os_type": "linux", "rule_name": fmt.Sprintf("rule_%05d", i), "rule_version": "1",
		"alert_feed": "OpsGenie",
		"evaluation_list": []any{map[string]any{"evaluation": map[string]any{
			"tags": []string{team, svc}, "search_key": "description", "search_text": fmt.Sprintf("Heap exhausted on node%05d", i),
		}}},
		"task_list": []any{map[string]any{"task": map[string]any{
			"task_type": "remote_ssh", "run_command": r.Command, "action": "bench", "action_reason": "bench",
		}}},
		"entity_type": "keyvalue", "entity_keyvalue": []string{"details", "host"},
	}
}

// Alert is an OpsGenie envelope. Matched: rule (i mod N) matches it
// (exactly that rule); otherwise no rule does (its tags select the same
// candidate rules, whose description test then fails). id must be unique
// per alert; host goes to details.host.
func (r *Rules) Alert(id string, i int, matched bool, host string) []byte {
	rule := i % r.N
	team, svc := r.tags(rule)
	desc := fmt.Sprintf("Heap exhausted on node%05d (42 s)", rule)
	if !matched {
		desc = "Disk usage 93% on /var"
	}
	b, _ := json.Marshal(map[string]any{
		"id": id, "tinyId": id, "message": "bench alert", "description": desc,
		"tags": []string{team, svc, "prod"}, "priority": "P2",
		"details":   map[string]string{"host": host},
		"createdAt": "2026-01-01T00:00:00Z",
		"alexis":    map[string]string{"unique_key": "tinyId", "unique_value": id, "feed_type": "OpsGenie", "feed_name": "incoming"},
	})
	return b
}

// Action is what the classifier forwards to the action handler for a
// matched alert: the envelope with "rule" appended as the last key.
func (r *Rules) Action(id string, i int, host string) []byte {
	env := r.Alert(id, i, true, host)
	rule, _ := json.Marshal(r.Rule(i % r.N))
	out := append(env[:len(env)-1:len(env)-1], `,"rule":`...)
	out = append(out, rule...)
	return append(out, '}')
}
