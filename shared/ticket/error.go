package ticket

import (
	"context"
	"errors"
	"net/http"
)

// Error is the failure of a call to a ticket system. Every ticket system
// returns its failures as *Error (wrapped or not), so that callers decide
// whether to try again with Temporary and never look at a vendor's own
// error types. Its message is Err's: the system's prefix is already there.
type Error struct {
	System    string // the system's name ("opsgenie", "dynatrace", "webhook")
	Op        string // what was asked ("add note", "close", ...)
	Status    int    // the HTTP status of the answer, 0 when there was none
	Temporary bool   // trying the same call again later may succeed
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// NewError wraps err (nil stays nil) as an *Error of system for op, with
// the HTTP status of the answer (0 for none). It is Temporary when
// TemporaryStatus(status) says so and err is not an unsupported operation.
func NewError(system, op string, status int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{System: system, Op: op, Status: status, Err: err,
		Temporary: TemporaryStatus(status) && !errors.Is(err, ErrUnsupported)}
}

// TemporaryStatus reports whether a call answered with HTTP status code
// may succeed later: no answer at all (0: network, timeout), or an answer
// saying "later" (408, 425, 429, 5xx). Other answers (unknown alert, bad
// key, bad request) would fail the same way again.
func TemporaryStatus(code int) bool {
	switch {
	case code == 0, code >= 500:
		return true
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return true
	}
	return false
}

// Temporary reports whether trying err's operation again may succeed. An
// operation the system lacks (ErrUnsupported) never does; an *Error says
// for itself (the first one found, for joined errors); any other error
// came without an answer and is temporary.
func Temporary(err error) bool {
	if errors.Is(err, ErrUnsupported) {
		return false
	}
	var te *Error
	if errors.As(err, &te) {
		return te.Temporary
	}
	return true
}

// StatusReader is a Ticket whose system can tell whether an alert is still
// open. IsOpen reports true (and the error) when it cannot tell.
type StatusReader interface {
	IsOpen(ctx context.Context, id string) (bool, error)
}

// Wrapper is a Ticket wrapping another (Multi its primary, Observe's
// wrapper the original), for StatusOf and other optional interfaces.
type Wrapper interface {
	Unwrap() Ticket
}

// StatusOf returns the StatusReader of t, looking through wrappers, when
// its system has one.
func StatusOf(t Ticket) (StatusReader, bool) {
	for t != nil {
		if sr, ok := t.(StatusReader); ok {
			return sr, true
		}
		w, ok := t.(Wrapper)
		if !ok {
			break
		}
		t = w.Unwrap()
	}
	return nil, false
}

// Unwrap returns the primary.
func (m *Multi) Unwrap() Ticket { return m.Primary }
