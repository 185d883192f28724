package dynatracetest

import (
	"time"

	"github.com/alexis-ops/alexis/shared/vendortest"
)

// Command is the dynatrace-fake command (shared/cmd/dynatrace-fake):
//
//	dynatrace-fake -listen 127.0.0.1:9200 -api-token-file token.txt [-seed problems.json]
//
// The seed file is a JSON array of ProblemSpec objects, each with an
// optional "age" (a Go duration: the problem started that long ago).
func Command() vendortest.Command[ProblemSpec, *Server] {
	return vendortest.Command[ProblemSpec, *Server]{
		Name:        "dynatrace-fake",
		Listen:      "127.0.0.1:9200",
		SecretFlag:  "api-token-file",
		SecretUsage: "file holding the API token clients must send (required)",
		SeedUsage:   "JSON file with an array of problems to create at start",
		SeedEvent:   "problem_seeded",
		Validate:    ProblemSpec.Validate,
		Start: func(addr, token string, onRequest func(Request)) (*Server, error) {
			return New(Options{Addr: addr, Token: token, OnRequest: onRequest})
		},
		Seed: func(s *Server, spec ProblemSpec, started time.Time) string {
			if !started.IsZero() {
				spec.StartTime = started
			}
			return s.CreateProblem(spec).ProblemID
		},
	}
}
