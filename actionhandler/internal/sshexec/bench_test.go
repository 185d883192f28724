package sshexec

import (
	"context"
	"testing"

	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// BenchmarkRun measures connect + handshake + one command + close against
// a local sshd (go test -bench . -run ^$ ./internal/sshexec).
func BenchmarkRun(b *testing.B) {
	srv := sshdtest.StartT(b, sshdtest.Options{})
	e, err := New(Options{User: srv.User, KeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if r := e.Run(context.Background(), srv.Addr, "true"); r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16) // 16 × GOMAXPROCS connections at once
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if r := e.Run(context.Background(), srv.Addr, "true"); r.Err != nil {
					b.Error(r.Err)
					return
				}
			}
		})
	})
	b.Run("reused connection", func(b *testing.B) {
		c, err := e.Dial(context.Background(), srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for b.Loop() {
			if r := c.Run(context.Background(), "true"); r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	})
}
