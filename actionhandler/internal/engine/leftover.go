package engine

import (
	"context"
	"fmt"
	"strconv"

	"github.com/alexis-ops/alexis/actionhandler/internal/sshexec"
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
)

// LeftoverKiller kills a remote process left by a replica that died, if it
// is still the same process (sshexec.Executor): the one given, or, when
// none is (the pid never reached the store), the one the step's file on
// the host names (key: sshexec.StepKey).
type LeftoverKiller interface {
	KillLeftover(ctx context.Context, entity, key string, p sshexec.Process) (sshexec.Leftover, error)
}

// KillLeftovers deals with what x, an execution taken over as interrupted
// from a replica that died, may have left running: for each remote_ssh
// step that was running, the process its host reported (stored, or
// recorded on the host under the step's key) is killed if it still runs.
// The outcome is recorded as the step's error (and so appears in the note)
// and logged.
func (e *Engine) KillLeftovers(ctx context.Context, x *store.Execution) {
	if e.o.Leftovers == nil || x.Status != store.Interrupted {
		return
	}
	log := e.logFor(x)
	for i, st := range x.Steps {
		if st.TaskType != rule.TaskRemoteSSH || st.Status != store.Interrupted {
			continue
		}
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		found, err := e.o.Leftovers.KillLeftover(kctx, st.Entity, sshexec.StepKey(x.ID, st.TaskIndex, st.Entity),
			sshexec.Process{PID: st.RemotePID, Start: st.RemoteStart})
		cancel()
		if found.Process.PID > 1 {
			st.RemotePID, st.RemoteStart = found.Process.PID, found.Process.Start
		}
		cmd := "its command"
		if st.RemotePID > 1 {
			cmd += " (pid " + strconv.Itoa(st.RemotePID) + ")"
		}
		ev := log.Info().Str(logging.Event, "remote_command_ended")
		switch {
		case err != nil:
			st.Error = fmt.Sprintf("could not check whether %s still runs: %s", cmd, e.o.Redact.String(err.Error()))
			ev = log.Error().Str(logging.Event, "remote_command_unknown").Str(logging.ErrorKey, e.o.Redact.String(err.Error()))
		case found.Killed:
			st.Error = cmd + " was still running and was killed"
			ev = log.Warn().Str(logging.Event, "remote_command_killed")
		case st.RemotePID > 1:
			st.Error = cmd + " had ended"
		default:
			st.Error = "its command had ended or never started (no record of it on the host)"
		}
		ev.Str(logging.Entity, st.Entity).Int(logging.TaskIndex, st.TaskIndex).Msg(st.Error)
		x.Steps[i] = st
		e.save(ctx, log, x.ID, st)
	}
}
