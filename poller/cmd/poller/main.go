// Command poller polls alert feeds (OpsGenie, ...) and delivers each new
// alert to the classifier.
//
//	poller [-config PATH]        poll every feed on its loop until SIGTERM
//	poller once [-config PATH]   poll every feed once and exit (non-zero if a feed failed)
//	poller version               print the version
//
// The default configuration is /etc/alexis/poller.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "poller:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "poller:", err)
		os.Exit(1)
	}
}
