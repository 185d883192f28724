package rule

import (
	"fmt"

	"github.com/alexis-ops/alexis/shared/command"
)

// Command returns the command line the task runs for an alert (the
// envelope's JSON): RunCommand as written, or, for a template task, rendered
// from the alert with every value shell-quoted. A value the template needs
// that is missing, null, not a single value or holds a NUL byte is an
// error: the task must then fail, not run something else.
func (t Task) Command(alertJSON []byte) (string, error) {
	if !t.Template {
		return t.RunCommand, nil
	}
	tmpl, err := command.Parse(t.RunCommand)
	if err != nil {
		return "", fmt.Errorf("run_command: %w", err)
	}
	return tmpl.Render(alertJSON)
}
