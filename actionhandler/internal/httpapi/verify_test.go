package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
)

// An execution's verify steps are in its verification, never in its
// steps; verification is absent for an execution never verifying, has
// only verify_at while due, and the outcome once verified.
func TestExecutionVerification(t *testing.T) {
	due := time.Date(2026, 12, 3, 5, 2, 0, 0, time.UTC)
	task := store.Step{TaskIndex: 0, Entity: "app01", TaskType: "remote_ssh", Status: store.Success, ExitCode: 0}
	check := store.Step{TaskIndex: store.VerifyTaskIndex, Entity: "app01", TaskType: "remote_ssh", Action: "check_app",
		Status: store.Failure, ExitCode: 3}
	plain := Execution(&store.Execution{ID: "x", Status: store.Success, Steps: []store.Step{task}})
	if b, _ := json.Marshal(plain); plain.Verification != nil || strings.Contains(string(b), "verification") {
		t.Errorf("verification on a plain execution: %s", b)
	}
	dueX := Execution(&store.Execution{ID: "x", Status: store.Verifying, VerifyAt: due, Steps: []store.Step{task}})
	if v := dueX.Verification; v == nil || !v.VerifyAt.Equal(due) || v.VerifiedAt != nil || v.Outcome != "" || len(v.Steps) != 0 {
		t.Errorf("due: %+v", v)
	}
	ended := Execution(&store.Execution{ID: "x", Status: store.Ineffective, VerifyAt: due, VerifiedAt: due.Add(time.Second),
		Steps: []store.Step{task, check}})
	v := ended.Verification
	if v == nil || v.Outcome != store.Ineffective || v.VerifiedAt == nil || len(v.Steps) != 1 ||
		v.Steps[0].TaskIndex != -1 || *v.Steps[0].ExitCode != 3 || len(ended.Steps) != 1 || ended.Steps[0].TaskIndex != 0 {
		t.Fatalf("ended: %+v %+v", v, ended.Steps)
	}
	b, _ := json.Marshal(ended)
	if !strings.Contains(string(b), `"verification":{"verify_at":"2026-12-03T05:02:00Z","verified_at":"2026-12-03T05:02:01Z","outcome":"ineffective","steps":[{"task_index":-1`) {
		t.Errorf("json: %s", b)
	}
}
