// Package cli is what every Alexis command's main does around its run
// function, so that each main.go is the same few lines:
//
//	func main() {
//		os.Exit(cli.Main(cli.Command{Name: service, Run: run, Usage: errUsage}))
//	}
//
// Run gets a context cancelled on SIGINT or SIGTERM (graceful shutdown),
// the arguments after the program name, stdout for what a subcommand
// prints (version, lint findings) and stderr for logs and messages.
// Main maps what it returns to the exit status:
//
//	nil, flag.ErrHelp               0
//	errors.Is(err, Usage)           2, "NAME: err" on stderr
//	errors.Is(err, Reported)        1, nothing more (run printed the problems)
//	any other error                 1, "NAME: err" on stderr
//
// os.Exit stays in main.go.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is a command's whole program.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Command is one binary.
type Command struct {
	Name string // prefixes error messages: "poller: ..."
	Run  RunFunc
	// Usage, when set, marks command-line mistakes (exit status 2).
	Usage error
	// Reported, when set, marks failures whose details run has already
	// printed (exit status 1 without a message).
	Reported error
}

// Main runs c with the process's arguments and streams, and returns the
// exit status for os.Exit.
func Main(c Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.Status(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// Status runs c and returns its exit status, printing the error on stderr
// as Main does.
func (c Command) Status(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := c.Run(ctx, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case c.Reported != nil && errors.Is(err, c.Reported):
		return 1
	case c.Usage != nil && errors.Is(err, c.Usage):
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return 1
	}
}
