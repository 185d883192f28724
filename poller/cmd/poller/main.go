// Command poller polls alert feeds (OpsGenie, ...) and delivers each new
// alert to the classifier.
//
//	poller [-config PATH]        poll every feed on its loop until SIGTERM
//	poller once [-config PATH]   poll every feed once and exit (non-zero if a feed failed)
//	poller healthcheck [-config PATH] [-url URL]
//	poller version               print the version
//
// The default configuration is /etc/alexis/poller.yaml. Logs go to stderr;
// the exit status is shared/cli's.
package main

import (
	"os"

	"github.com/alexis-ops/alexis/shared/cli"
)

func main() {
	os.Exit(cli.Main(cli.Command{Name: service, Run: run, Usage: errUsage}))
}
