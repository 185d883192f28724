// Command classifier matches alerts against rule files and pushes matched
// rules to the action handler.
//
//	classifier [-config PATH]          serve (default config /etc/alexis/classifier.yaml)
//	classifier lint [-config PATH] [-json] [DIR]
//	                                   check rule files; exit 1 if any is invalid
//	classifier explain [-rules DIR | -config PATH] [-json] [-now TIME] [-feed-type TYPE] ALERT.json
//	                                   say what every rule decides for an alert, and why
//	classifier healthcheck [-config PATH] [-url URL]
//	classifier version                 print the version
//
// Logs go to stderr; the exit status is shared/cli's.
package main

import (
	"os"

	"github.com/alexis-ops/alexis/shared/cli"
)

func main() {
	os.Exit(cli.Main(cli.Command{Name: service, Run: run, Usage: errUsage, Reported: errProblems}))
}
