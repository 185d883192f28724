package opsgenietest

import (
	"time"

	"github.com/alexis-ops/alexis/shared/vendortest"
)

// Command is the opsgenie-fake command (shared/cmd/opsgenie-fake):
//
//	opsgenie-fake -listen 127.0.0.1:9100 -api-key-file key.txt [-seed alerts.json]
//
// The seed file is a JSON array of AlertSpec objects, each with an
// optional "age" (a Go duration: the alert was created that long ago).
func Command() vendortest.Command[AlertSpec, *Server] {
	return vendortest.Command[AlertSpec, *Server]{
		Name:        "opsgenie-fake",
		Listen:      "127.0.0.1:9100",
		SecretFlag:  "api-key-file",
		SecretUsage: "file holding the GenieKey clients must send (required)",
		SeedUsage:   "JSON file with an array of alerts to create at start",
		SeedEvent:   "alert_seeded",
		Validate:    AlertSpec.Validate,
		Start: func(addr, key string, onRequest func(Request)) (*Server, error) {
			return New(Options{Addr: addr, APIKey: key, OnRequest: onRequest})
		},
		Seed: func(s *Server, spec AlertSpec, created time.Time) string {
			if !created.IsZero() {
				spec.CreatedAt = created
			}
			return s.CreateAlert(spec).ID
		},
	}
}
