// Command alexisctl is the Alexis command line: it reads executions,
// decisions (alerts) and rules, reports on them and runs an action, over
// the services' HTTP APIs with the person's own token. docs/cli.md is its
// manual.
//
//	alexisctl [connection flags] COMMAND [SUBCOMMAND] [flags] [ARGS]
//
// Exit status: 0 ok, 1 the thing failed, 2 usage, 3 not found, 4 auth
// refused, 5 unreachable or 5xx, 130 interrupted.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
