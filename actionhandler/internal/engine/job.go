package engine

import (
	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/alexis-ops/alexis/shared/action"
	"github.com/alexis-ops/alexis/shared/rule"
)

// job is one execution as the engine works on it: the stored execution
// and its request, decoded once where the engine takes the execution up
// (Execute, Report, Escalate) and handed down to running, write-back and
// escalation, which never decode it again.
type job struct {
	x *store.Execution
	// req is x.Request decoded; nil when it cannot be read (err says why).
	req *action.Request
	err error
}

// newJob decodes x's request (Options.decode, action.Decode by default).
func (e *Engine) newJob(x *store.Execution) *job {
	req, err := e.o.decode(x.Request)
	if err != nil {
		req = nil
	}
	return &job{x: x, req: req, err: err}
}

// rule is the job's rule, nil when the request cannot be read.
func (j *job) rule() *rule.Rule {
	if j.req == nil {
		return nil
	}
	return j.req.Rule
}

// alert is the alert (the envelope's JSON object) templates read.
func (j *job) alert() []byte {
	if j.req == nil {
		return nil
	}
	return j.req.Alert.Raw
}

// with returns the job for x, the same execution as recorded since (its
// end): the request is not decoded again.
func (j *job) with(x *store.Execution) *job {
	c := *j
	c.x = x
	return &c
}
