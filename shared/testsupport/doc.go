// Package testsupport states where the repository's test doubles live and
// holds the test that keeps them out of the product; it has no code.
//
// A test-support package is one whose name ends in "test", after
// net/http/httptest:
//
//	shared/vendortest                    base of the fake vendor servers (listen, auth check, fault injection, request log, the fake command)
//	shared/opsgenie/opsgenietest         OpsGenie-compatible server (Alert API v2), on vendortest
//	shared/dynatrace/dynatracetest       Dynatrace-compatible server (Problems API v2), on vendortest
//	shared/sshdtest                      real OpenSSH servers on loopback addresses, with generated keys
//	shared/pgtest                        a throwaway PostgreSQL cluster and databases
//	shared/tlstest                       a throwaway CA and server certificate as PEM files
//	shared/auth/authtest                 the scope matrix: every route against every scope
//	shared/logging/logtest               reading a service's log lines
//	shared/ticket/tickettest             an in-memory ticket for unit tests
//	shared/rules/rulestest               rule files for tests and benchmarks
//
// The commands under shared/cmd (opsgenie-fake, dynatrace-fake) are test
// support too. Tools may use test doubles (actionhandler/cmd/sshbench,
// everything under deploy/); the service binaries and every product
// package may not: TestProductImportsNoTestDouble fails if one does.
package testsupport
