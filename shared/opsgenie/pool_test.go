package opsgenie

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
)

// TestWritebacksReuseConnections sends many concurrent write-backs through
// New's client and counts the TCP connections the server accepted: kept
// alive and pooled, they are at most one per concurrent caller. With
// http.DefaultTransport (2 idle connections per host) most calls opened a
// new connection.
func TestWritebacksReuseConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("X-RateLimit-State", "OK")
		w.Header().Set("X-Response-Time", "0.001")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"result":"Request will be processed","took":0.001,"requestId":"req-1"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: strings.TrimPrefix(srv.URL, "http://"), APIKeyFile: keyFile, Retries: 1}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				id := fmt.Sprintf("alert-%d-%d", w, i)
				if i%2 == 0 {
					errs <- c.AddNote(context.Background(), id, "note")
				} else {
					errs <- c.AddTeam(context.Background(), id, "ops")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n > 2*workers {
		t.Errorf("%d write-backs by %d callers opened %d connections, want at most %d", workers*calls, workers, n, 2*workers)
	}
}
