package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Note sizes: command output is trimmed to OutputNoteLimit per step, and a
// whole note to NoteLimit (OpsGenie accepts notes of up to 25000
// characters).
const (
	OutputNoteLimit = 1024
	NoteLimit       = 24000
)

// writeBack adds one note per host and routes the alert: to the rule's
// route_to_team when every host succeeded, to the investigation queue when
// any failed. Development mode adds notes only.
func (e *Engine) writeBack(ctx context.Context, log zerolog.Logger, x Execution, rep *Report) {
	feed := x.Request.Alert.Meta.FeedType
	tk, ok := e.o.Tickets.For(feed)
	if !ok {
		log.Info().Str(logging.Event, "writeback_skipped").Str(logging.FeedType, feed).
			Msg("no ticket system configured for this feed")
		return
	}
	// Write back even when the execution was cancelled, within bounds.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.o.WritebackTimeout)
	defer cancel()
	id := x.Request.Alert.ID()
	for _, h := range rep.Hosts {
		if err := tk.AddNote(ctx, id, e.Note(x.Request.Rule.Name, h)); err != nil {
			log.Warn().Str(logging.Event, "writeback_failed").Str(logging.Entity, h.Entity).
				Str(logging.ErrorKey, err.Error()).Msg("add note failed")
		}
	}
	team := ""
	switch rep.Status {
	case logging.StatusSuccess:
		team = x.Request.Rule.RouteToTeam
	case logging.StatusFailure:
		team = e.o.InvestigationQueue
	}
	if team == "" {
		return
	}
	if err := tk.AddTeam(ctx, id, team); err != nil {
		log.Warn().Str(logging.Event, "writeback_failed").Str(logging.Team, team).
			Str(logging.ErrorKey, err.Error()).Msg("add team failed")
		return
	}
	log.Info().Str(logging.Event, "team_added").Str(logging.Team, team).
		Str(logging.ActionStatus, rep.Status).Msg("alert routed")
}

// Note is the text written on the alert for one host: a line per task,
// each followed by the trimmed output of the command.
//
//	Alexis rule day_gc: restart_service on app01: success (exit 0, 1.2s)
//	stdout...
func (e *Engine) Note(ruleName string, h *HostReport) string {
	var b strings.Builder
	for i, st := range h.Steps {
		if i > 0 {
			b.WriteString("\n\n")
		}
		label := st.Task.Action
		if label == "" {
			label = fmt.Sprintf("task %d (%s)", st.Index+1, st.Task.TaskType)
		}
		fmt.Fprintf(&b, "Alexis rule %s: ", ruleName)
		switch st.Status {
		case logging.StatusDryRun:
			fmt.Fprintf(&b, "[development mode] would %s on %s", st.Description, h.Entity)
		case logging.StatusSkipped:
			fmt.Fprintf(&b, "%s on %s: skipped (an earlier task failed)", label, h.Entity)
		default:
			fmt.Fprintf(&b, "%s on %s: %s (%s, %s)", label, h.Entity, st.Status, detail(st), seconds(st.Result.Elapsed))
			if out := output(st); out != "" {
				b.WriteString("\n" + out)
			}
		}
	}
	return logging.Trim(b.String(), NoteLimit)
}

func detail(st Step) string {
	if st.Result.ExitCode >= 0 {
		return fmt.Sprintf("exit %d", st.Result.ExitCode)
	}
	if st.Result.Err != nil {
		return st.Result.Err.Error()
	}
	return "no exit status"
}

func output(st Step) string {
	out := strings.TrimSpace(st.Result.Stdout)
	if errOut := strings.TrimSpace(st.Result.Stderr); errOut != "" {
		if out != "" {
			out += "\n"
		}
		out += "stderr:\n" + errOut
	}
	if out == "" {
		return ""
	}
	out = logging.Trim(out, OutputNoteLimit)
	if st.Result.Truncated && !strings.HasSuffix(out, "[trimmed]") {
		out += "…[trimmed]"
	}
	return out
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
