package dynatrace

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
)

// TestCommentsReuseConnections sends many concurrent comments through New's
// client and counts the TCP connections the server accepted: at most one
// per concurrent caller, as connections are pooled and kept alive. With a
// clone of http.DefaultTransport (2 idle connections per host) most calls
// opened a new connection.
func TestCommentsReuseConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("dt0c01.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: srv.URL, APITokenFile: tokenFile}, zerolog.Nop())
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
				errs <- c.AddNote(context.Background(), fmt.Sprintf("P-%d-%d", w, i), "note")
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
		t.Errorf("%d comments by %d callers opened %d connections, want at most %d", workers*calls, workers, n, 2*workers)
	}
}
