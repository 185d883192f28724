package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/stack"
)

// buildOrder is the pipeline's order, the order the builds are shown in.
var buildOrder = []string{"poller", "classifier", "actionhandler"}

// build compiles the three services into bin, one at a time, saying which
// one and, every tick while one takes long (the first build downloads
// modules and compiles everything), that it is still going.
func build(ctx context.Context, out io.Writer, bin string, tick time.Duration) error {
	start := time.Now()
	for i, svc := range buildOrder {
		say(out, "building %s (%d/%d)…", svc, i+1, len(buildOrder))
		t0 := time.Now()
		done := make(chan error, 1)
		go func() { done <- stack.BuildService(ctx, bin, svc) }()
		ticker := time.NewTicker(tick)
		var err error
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-ticker.C:
				fmt.Fprintf(out, "    … still building %s (%d/%d), %s so far\n", svc, i+1, len(buildOrder), seconds(time.Since(t0)))
			}
		}
		ticker.Stop()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "    built %s in %s\n", svc, seconds(time.Since(t0)))
	}
	say(out, "built the three services in %s", seconds(time.Since(start)))
	return nil
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
}
