package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/actionhandler/internal/task"
)

// refusingRunner refuses the steps named in describe (its Describe fails:
// the templates do not render) and in run (Run returns that error, as a
// runner does when a check before acting refuses); the others it runs.
type refusingRunner struct {
	*fakeRunner
	describe map[string]error // "entity index"
	run      map[string]error
}

func (r *refusingRunner) Describe(s task.Step) (string, error) {
	if err := r.describe[fmt.Sprintf("%s %d", s.Entity, s.Index)]; err != nil {
		return "", err
	}
	return r.fakeRunner.Describe(s)
}

func (r *refusingRunner) Run(ctx context.Context, s task.Step) task.Result {
	if err := r.run[fmt.Sprintf("%s %d", s.Entity, s.Index)]; err != nil {
		r.ev.add(fmt.Sprintf("refused %s %d", s.Entity, s.Index))
		return task.Result{ExitCode: -1, Err: err}
	}
	return r.fakeRunner.Run(ctx, s)
}

// destinationError is a refusal another package defines (e.g. an http
// destination check).
type destinationError struct{ host, word string }

func (d *destinationError) Error() string         { return "destination " + d.host + " is not allowed" }
func (d *destinationError) RefusalReason() string { return d.word }

func TestRefusedStep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tasks      string
		describe   map[string]error
		run        map[string]error
		wantReason string
		wantSteps  map[string]string
		wantRan    []string // what the runner did, sorted
		wantError  string   // in the refused step's error and the note
	}{
		{
			name:       "template does not render",
			tasks:      twoTasks,
			describe:   map[string]error{"app01 0": errors.New(`render run_command: value at "details.dir" is an array`)},
			wantReason: "value_refused",
			wantSteps:  map[string]string{"app01 0": "refused", "app01 1": "skipped", "app02 0": "success", "app02 1": "success"},
			wantRan:    []string{"run app02 0", "run app02 1"},
			wantError:  `value at "details.dir" is an array`,
		},
		{
			name:       "wrapped ErrRefused",
			tasks:      twoTasks,
			describe:   map[string]error{"app02 1": fmt.Errorf("details.restarts: not an integer: %w", ErrRefused)},
			wantReason: "value_refused",
			wantSteps:  map[string]string{"app01 0": "success", "app01 1": "success", "app02 0": "success", "app02 1": "refused"},
			wantRan:    []string{"run app01 0", "run app01 1", "run app02 0"},
			wantError:  "details.restarts: not an integer",
		},
		{
			name:       "a runner's own refusal at run time",
			tasks:      twoTasks,
			run:        map[string]error{"app01 0": fmt.Errorf("http: %w", &destinationError{"169.254.169.254", "destination_refused"})},
			wantReason: "destination_refused",
			wantSteps:  map[string]string{"app01 0": "refused", "app01 1": "skipped", "app02 0": "success", "app02 1": "success"},
			wantRan:    []string{"refused app01 0", "run app02 0", "run app02 1"},
			wantError:  "destination 169.254.169.254 is not allowed",
		},
		{
			name:       "a reason that is not a word",
			tasks:      twoTasks,
			run:        map[string]error{"app01 0": &destinationError{"x", "Bad reason=1 x"}},
			wantReason: "value_refused",
			wantSteps:  map[string]string{"app01 0": "refused", "app01 1": "skipped", "app02 0": "success", "app02 1": "success"},
			wantRan:    []string{"refused app01 0", "run app02 0", "run app02 1"},
			wantError:  "destination x is not allowed",
		},
		{
			name: "on_failure continue does not go on after a refusal",
			tasks: `[{"task": {"task_type": "remote_ssh", "run_command": "a", "on_failure": "continue", "action": "a"}},
			         {"task": {"task_type": "remote_ssh", "run_command": "b", "action": "b", "run_if": "failure"}}]`,
			describe:   map[string]error{"app01 0": errors.New("value refused")},
			wantReason: "value_refused",
			wantSteps:  map[string]string{"app01 0": "refused", "app01 1": "skipped", "app02 0": "success", "app02 1": "skipped"},
			wantRan:    []string{"run app02 0"},
			wantError:  "value refused",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rr *refusingRunner
			f := newFixture(t, func(o *Options) {
				rr = &refusingRunner{fakeRunner: o.Runners["remote_ssh"].(*fakeRunner), describe: tc.describe, run: tc.run}
				o.Runners["remote_ssh"] = rr
			})
			x := f.run(t, context.Background(), request(t, "OpsGenie", tc.tasks, "app01", "app02"), "app01", "app02")
			if x.Status != store.Refused || !strings.Contains(x.Reason, "refused: ") || !strings.Contains(x.Reason, tc.wantError) {
				t.Errorf("execution %s (%s)", x.Status, x.Reason)
			}
			if got := stepStatuses(x); !mapsEqual(got, tc.wantSteps) {
				t.Errorf("steps %v, want %v", got, tc.wantSteps)
			}
			for _, st := range x.Steps {
				if st.Status == store.Refused && (!strings.Contains(st.Error, tc.wantError) || st.ExitCode != -1) {
					t.Errorf("refused step %+v", st)
				}
			}
			ran := slices.DeleteFunc(f.ev.get(), func(e string) bool { return strings.HasPrefix(e, "sleep ") })
			slices.Sort(ran)
			if !slices.Equal(ran, tc.wantRan) {
				t.Errorf("ran %q, want %q", ran, tc.wantRan)
			}
			// One line with action_status and reason: execution_finished.
			var lines []string
			for _, l := range strings.Split(f.logs.String(), "\n") {
				if strings.Contains(l, " reason=") && strings.Contains(l, "action_status=") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "event=execution_finished") ||
				!strings.Contains(lines[0], "action_status=refused") || !strings.Contains(lines[0], " reason="+tc.wantReason+" ") {
				t.Errorf("lines with action_status and reason: %q", lines)
			}
			notes := strings.Join(calls(f.rec, "note"), "\n")
			if !strings.Contains(notes, "refused, nothing was run") || !strings.Contains(notes, tc.wantError) {
				t.Errorf("notes %q", notes)
			}
			if teams := calls(f.rec, "team"); !slices.Equal(teams, []string{"queue_needsinvestigation"}) {
				t.Errorf("teams %q", teams)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// dropRunner reports the remote process, then loses the connection.
type dropRunner struct{ fakeRunner }

func (d *dropRunner) Run(ctx context.Context, s task.Step) task.Result {
	s.RemoteStarted(4242, "777")
	return task.Result{ExitCode: -1, Err: fmt.Errorf("%w: the session closed without one", sshexec.ErrNoExitStatus)}
}

// A step whose SSH connection dropped while its command ran: the command
// is looked for again and killed (LeftoverKiller), and the step says what
// became of it; without a killer, the step says to check the host.
func TestDroppedConnectionKillsCommand(t *testing.T) {
	for _, tc := range []struct {
		name      string
		killer    LeftoverKiller
		entity    string
		wantError string
		wantEvent string
	}{
		{"killed", &fakeKiller{}, "app01", "no exit status: the session closed without one; its command (pid 4242) was still running and was killed", "event=remote_command_killed"},
		{"had ended", &fakeKiller{}, "app02", "its command (pid 4242) had ended", "event=remote_command_ended"},
		{"cannot tell", &fakeKiller{}, "app03", "could not check whether its command (pid 4242) still runs: dial tcp: connection refused", "event=remote_command_unknown"},
		{"no killer", nil, "app01", "its command (pid 4242) may still run: check the host", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				o.Runners["remote_ssh"] = &dropRunner{}
				if tc.killer != nil {
					o.Leftovers = tc.killer
				}
			})
			tasks := `[{"task": {"task_type": "remote_ssh", "run_command": "sleep 30", "action": "a"}}]`
			x := f.run(t, context.Background(), request(t, "OpsGenie", tasks, tc.entity), tc.entity)
			if x.Status != store.Failure || len(x.Steps) != 1 || !strings.Contains(x.Steps[0].Error, tc.wantError) {
				t.Fatalf("execution %s steps %+v, want a failure with %q", x.Status, x.Steps, tc.wantError)
			}
			if tc.wantEvent != "" && strings.Count(f.logs.String(), tc.wantEvent) != 1 {
				t.Errorf("want one %s:\n%s", tc.wantEvent, f.logs)
			}
			if k, ok := tc.killer.(*fakeKiller); ok && strings.Join(k.asked, ",") != tc.entity {
				t.Errorf("asked about %q", k.asked)
			}
		})
	}
}
