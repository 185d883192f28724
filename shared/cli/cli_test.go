package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
)

func TestStatus(t *testing.T) {
	errUsage := errors.New("usage: x [-config PATH]")
	errProblems := errors.New("problems found")
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantStderr string
	}{
		{name: "success", err: nil, wantStatus: 0},
		{name: "help", err: fmt.Errorf("parse: %w", flag.ErrHelp), wantStatus: 0},
		{name: "usage", err: fmt.Errorf("%w (unexpected %q)", errUsage, "y"), wantStatus: 2,
			wantStderr: "x: usage: x [-config PATH] (unexpected \"y\")\n"},
		{name: "reported", err: errProblems, wantStatus: 1},
		{name: "failure", err: errors.New("config x.yaml: invalid"), wantStatus: 1, wantStderr: "x: config x.yaml: invalid\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotArgs []string
			c := Command{Name: "x", Usage: errUsage, Reported: errProblems,
				Run: func(_ context.Context, args []string, stdout, _ io.Writer) error {
					gotArgs = args
					fmt.Fprint(stdout, "out")
					return tc.err
				}}
			var stdout, stderr bytes.Buffer
			if got := c.Status(context.Background(), []string{"a", "b"}, &stdout, &stderr); got != tc.wantStatus {
				t.Errorf("status %d, want %d", got, tc.wantStatus)
			}
			if stderr.String() != tc.wantStderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.wantStderr)
			}
			if stdout.String() != "out" || len(gotArgs) != 2 || gotArgs[0] != "a" {
				t.Errorf("run got args %q, wrote %q", gotArgs, stdout.String())
			}
		})
	}
}

// Without Usage or Reported every error is status 1 with its message.
func TestStatusWithoutMarkers(t *testing.T) {
	c := Command{Name: "x", Run: func(context.Context, []string, io.Writer, io.Writer) error { return errors.New("boom") }}
	var stderr bytes.Buffer
	if got := c.Status(context.Background(), nil, io.Discard, &stderr); got != 1 || stderr.String() != "x: boom\n" {
		t.Errorf("status %d, stderr %q", got, stderr.String())
	}
}
