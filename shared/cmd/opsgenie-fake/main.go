// Command opsgenie-fake runs the local OpsGenie-compatible server of
// package opsgenietest as a process, for demos and manual testing:
//
//	opsgenie-fake -listen 127.0.0.1:9100 -api-key-file key.txt [-seed alerts.json]
//
// Point an Alexis service at it with `opsgenie: {api_url: 127.0.0.1:9100,
// api_key_file: key.txt}`. The seed file is a JSON array of alerts:
//
//	[{"message": "db01: disk almost full", "teams": ["incoming"],
//	  "tags": ["syn.db"], "details": {"host": "db01"}, "entity": "db01",
//	  "age": "10m"}]
//
// with the keys of opsgenietest.AlertSpec plus "age" (a Go duration: the
// alert was created that long ago). It logs one line per request and stops
// on SIGINT or SIGTERM. The command is vendortest.Main around
// opsgenietest.Command.
package main

import (
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/vendortest"
)

func main() { vendortest.Main(opsgenietest.Command()) }
