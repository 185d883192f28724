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
// is still the same process (sshexec.Executor).
type LeftoverKiller interface {
	KillLeftover(ctx context.Context, entity string, p sshexec.Process) (killed bool, err error)
}

// KillLeftovers deals with what x, an execution taken over as interrupted
// from a replica that died, may have left running: each remote_ssh step
// that was running, whose process its host reported, is killed if that
// process still runs. The outcome is recorded as the step's error (and so
// appears in the note) and logged.
func (e *Engine) KillLeftovers(ctx context.Context, x *store.Execution) {
	if e.o.Leftovers == nil || x.Status != store.Interrupted {
		return
	}
	log := e.logFor(x)
	for i, st := range x.Steps {
		if st.TaskType != rule.TaskRemoteSSH || st.Status != store.Interrupted || st.RemotePID <= 1 {
			continue
		}
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		killed, err := e.o.Leftovers.KillLeftover(kctx, st.Entity, sshexec.Process{PID: st.RemotePID, Start: st.RemoteStart})
		cancel()
		pid := strconv.Itoa(st.RemotePID)
		ev := log.Info().Str(logging.Event, "remote_command_ended")
		switch {
		case err != nil:
			st.Error = fmt.Sprintf("could not check whether its command (pid %s) still runs: %s", pid, e.o.Redact.String(err.Error()))
			ev = log.Error().Str(logging.Event, "remote_command_unknown").Str(logging.ErrorKey, e.o.Redact.String(err.Error()))
		case killed:
			st.Error = "its command (pid " + pid + ") was still running and was killed"
			ev = log.Warn().Str(logging.Event, "remote_command_killed")
		default:
			st.Error = "its command (pid " + pid + ") had ended"
		}
		ev.Str(logging.Entity, st.Entity).Int(logging.TaskIndex, st.TaskIndex).Msg(st.Error)
		x.Steps[i] = st
		e.save(ctx, log, x.ID, st)
	}
}
