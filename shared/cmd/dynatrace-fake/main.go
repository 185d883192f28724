// Command dynatrace-fake runs the local Dynatrace-compatible server of
// package dynatracetest as a process, for demos and manual testing:
//
//	dynatrace-fake -listen 127.0.0.1:9200 -api-token-file token.txt [-seed problems.json]
//
// Point an Alexis service at it with `dynatrace: {api_url:
// http://127.0.0.1:9200, api_token_file: token.txt}`. The seed file is a
// JSON array of problems:
//
//	[{"title": "db01: disk almost full", "severityLevel": "RESOURCE_CONTENTION",
//	  "impactedEntities": [{"entityId": {"id": "HOST-0000000000000001", "type": "HOST"}, "name": "db01"}],
//	  "entityTags": ["[Environment]team:db"], "age": "10m"}]
//
// with the keys of dynatracetest.ProblemSpec plus "age" (a Go duration: the
// problem started that long ago). It logs one line per request and stops
// on SIGINT or SIGTERM. The command is vendortest.Main around
// dynatracetest.Command.
package main

import (
	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
	"github.com/alexis-ops/alexis/shared/vendortest"
)

func main() { vendortest.Main(dynatracetest.Command()) }
