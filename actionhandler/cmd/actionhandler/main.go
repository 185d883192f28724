// Command actionhandler runs the Alexis action handler: it takes matched
// alert+rule requests over HTTP, runs the rule's tasks on the entities over
// SSH and writes the outcome back onto the alert.
//
//	actionhandler [-config /etc/alexis/actionhandler.yaml]
//	actionhandler report [--since 24h] [--rule R] [--entity E] [LOGFILE ...]
//	actionhandler healthcheck [-config PATH] [-url URL]
//	actionhandler version
//
// Logs go to stderr; the exit status is shared/cli's (report's: its own).
package main

import (
	"os"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
	"github.com/alexis-ops/alexis/shared/cli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "report" {
		// report reads standard input, which run does not get.
		os.Exit(report.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(cli.Main(cli.Command{Name: service, Run: run}))
}
