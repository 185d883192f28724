// Command actionhandler runs the Alexis action handler: it takes matched
// alert+rule requests over HTTP, runs the rule's tasks on the entities over
// SSH and writes the outcome back onto the alert.
//
//	actionhandler [-config /etc/alexis/actionhandler.yaml]
//	actionhandler report [--since 24h] [--rule R] [--entity E] [LOGFILE ...]
//	actionhandler healthcheck [-config PATH] [-url URL]
//	actionhandler version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alexis-ops/alexis/actionhandler/internal/report"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "report" {
		os.Exit(report.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "actionhandler:", err)
		os.Exit(1)
	}
}
