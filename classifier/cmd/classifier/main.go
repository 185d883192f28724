// Command classifier matches alerts against rule files and pushes matched
// rules to the action handler.
//
//	classifier [-config PATH]          serve (default config /etc/alexis/classifier.yaml)
//	classifier lint [-config PATH] [-json] [DIR]
//	                                   check rule files; exit 1 if any is invalid
//	classifier explain [-rules DIR | -config PATH] [-json] [-now TIME] [-feed-type TYPE] ALERT.json
//	                                   say what every rule decides for an alert, and why
//	classifier version                 print the version
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
	case errors.Is(err, errProblems):
		os.Exit(1) // the findings are printed
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "classifier:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "classifier:", err)
		os.Exit(1)
	}
}
