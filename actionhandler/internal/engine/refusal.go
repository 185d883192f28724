package engine

import (
	"errors"
	"regexp"

	"github.com/alexis-ops/alexis/shared/logging"
)

// Refusal is an error meaning a step was refused before anything ran on
// its host: an alert value that does not fit its template, a destination
// that is not allowed, ... Any package can mark its errors as refusals by
// implementing it (the engine finds it with errors.As, anywhere in the
// chain), without importing the engine. RefusalReason is a short
// machine-readable word for reporting (logging.Reason*, e.g.
// "value_refused"); one that is not a lower-case word of at most 32
// letters, digits and underscores is reported as value_refused.
//
// A step whose runner's Describe fails (its templates do not render) is
// refused too, with reason value_refused unless the error says otherwise:
// nothing can have run.
type Refusal interface {
	error
	RefusalReason() string
}

// ErrRefused marks an error as a refusal with reason value_refused:
// fmt.Errorf("details.restarts: not an integer: %w", engine.ErrRefused).
var ErrRefused error = refusalError{reason: logging.ReasonValueRefused}

type refusalError struct{ reason string }

func (r refusalError) Error() string         { return "refused before running" }
func (r refusalError) RefusalReason() string { return r.reason }

var reasonWord = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// refused says whether err is a Refusal, and its reason word.
func refused(err error) (reason string, ok bool) {
	var r Refusal
	if !errors.As(err, &r) {
		return "", false
	}
	if w := r.RefusalReason(); reasonWord.MatchString(w) {
		return w, true
	}
	return logging.ReasonValueRefused, true
}
