// Package rulestest writes rule files for tests and benchmarks.
package rulestest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchAlert is the alert every benchmark classifies: service 7 of team 7.
const BenchAlert = `{"id": "70413a06-38d6-4c85-92b8-5ebc900d42e2", "tinyId": "42",
 "message": "svc0007: Long garbage-collection time on app01", "description": "Long garbage-collection time on app01 (12.5 s)",
 "tags": ["team.07", "svc.0007", "prod", "syn.day"], "count": 17, "priority": "P2",
 "details": {"host": "app01.example.com", "service": "svc0007", "gc_ms": "12500", "env": "prod"},
 "createdAt": "2026-11-22T11:50:00Z",
 "alexis": {"unique_key": "tinyId", "unique_value": "42", "feed_type": "OpsGenie", "feed_name": "incoming"}}`

// WriteBenchRules writes n rule files into dir, half v1 and half v2, each
// for one service (svc.NNNN, about five rules per service) of one of 20
// teams. When sameTags is true every rule requires only tags the benchmark
// alert has ("prod", "syn.day"), so no rule is skipped by the tag index and
// all n are evaluated: the worst case. Exactly one rule matches the alert
// (rule 7, a v1 rule: the alert is 10 minutes old, younger than the v2
// rules' min_age).
func WriteBenchRules(tb testing.TB, dir string, n int, sameTags bool) {
	tb.Helper()
	services := max(n/5, 8)
	for i := range n {
		svc := i % services
		team := fmt.Sprintf("team.%02d", svc%20)
		svcTag := fmt.Sprintf("svc.%04d", svc)
		if sameTags {
			team, svcTag = "prod", "syn.day"
		}
		// Rule 7 matches the alert; the others differ in their text.
		text := fmt.Sprintf(`Heap exhausted on node%04d \\(\\d+ s\\)`, i)
		if i == 7 {
			text = `Long garbage-collection time on \\w+`
		}
		var data string
		if i%2 == 1 {
			data = fmt.Sprintf(`{"enabled": "true", "os_type": "linux", "rule_name": "rule_%05d", "rule_version": "1",
 "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": [%q, %q], "search_key": "description", "search_text": "%s", "duration": "0m"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart app", "delay_after": "30s"}}],
 "entity_type": "explicit", "entities": ["app01.example.com"], "route_to_team": "ops"}`, i, team, svcTag, text)
		} else {
			data = fmt.Sprintf(`{"enabled": "true", "os_type": "linux", "rule_name": "rule_%05d", "rule_version": "2",
 "alert_feed": "OpsGenie",
 "when": {"all": [
   {"path": "tags", "op": "tags_include", "value": [%q, %q]},
   {"path": "description", "op": "regex", "value": "%s"},
   {"any": [{"path": "message", "op": "starts_with", "value": "svc%04d: "},
            {"path": "details.service", "op": "equals", "value": "svc%04d"}]},
   {"not": {"path": "details.env", "op": "equals", "value": "staging"}},
   {"path": "priority", "op": "in", "value": ["P1", "P2", "P3"]},
   {"path": "details.gc_ms", "op": "gte", "value": 1000}]},
 "min_age": "5m",
 "task_list": [{"task": {"task_type": "remote_ssh", "template": true, "run_command": "sudo systemctl restart {{ .details.service }}"}}],
 "entity_type": "path", "entity_path": "details.host", "route_to_team": "ops"}`, i, team, svcTag, text, svc, svc)
		}
		path := filepath.Join(dir, fmt.Sprintf("rule_%05d.json", i))
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
		// Written long ago, as rules in production are: no time is ambiguous.
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(path, old, old); err != nil {
			tb.Fatal(err)
		}
	}
}
