package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// Secret files are checked when the service starts: a token file others
// can read is a warning naming its path (never its content); a private
// key others can read refuses the start.
func TestSecretFileModesCheckedAtStart(t *testing.T) {
	fleet := sshdtest.StartT(t, sshdtest.Options{Addr: "127.0.0.2:0"})
	for _, tc := range []struct {
		name                string
		tokensMode, keyMode os.FileMode
		secretMode          os.FileMode
		warn                []string // fields warned about
		refused             string   // "" : starts
	}{
		{name: "all 0600", tokensMode: 0o600, keyMode: 0o600, secretMode: 0o600},
		{name: "readable token file and secret", tokensMode: 0o644, keyMode: 0o600, secretMode: 0o640, warn: []string{"tokens_file", "secrets.lb_token"}},
		{name: "group-readable key", tokensMode: 0o600, keyMode: 0o640, secretMode: 0o600, warn: []string{"ssh.key_file"}},
		{name: "world-readable key", tokensMode: 0o600, keyMode: 0o644, secretMode: 0o600, refused: "ssh.key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, content string, mode os.FileMode) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, mode); err != nil { // explicit: the umask cuts WriteFile's mode
					t.Fatal(err)
				}
				return p
			}
			pem, err := os.ReadFile(fleet.ClientKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			secret := "lb-secret-value-7d1e0c9a55"
			cfg := write("actionhandler.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
tokens_file: %s
investigation_queue: queue_needsinvestigation
store: {sqlite_path: %s}
secrets: {lb_token: %s}
ssh: {user: %s, key_file: %s, known_hosts_file: %s}
`, write("tokens", "oncall:"+token+"\n", tc.tokensMode), filepath.Join(dir, "ah.db"), write("lb_token", secret, tc.secretMode),
				fleet.User, write("id_key", string(pem), tc.keyMode), fleet.KnownHostsFile), 0o600)

			logs := &logtest.Buffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- run(ctx, []string{"-config", cfg}, logs, logs) }()
			started := regexp.MustCompile(`event=service_started`)
			deadline := time.After(60 * time.Second)
			var runErr error
		wait:
			for {
				select {
				case runErr = <-errc:
					break wait
				case <-deadline:
					t.Fatalf("neither started nor refused:\n%s", logs)
				case <-time.After(20 * time.Millisecond):
					if started.MatchString(logs.String()) {
						cancel()
						runErr = <-errc
						if tc.refused != "" {
							t.Fatalf("started with a world-readable key:\n%s", logs)
						}
						break wait
					}
				}
			}
			if tc.refused != "" {
				if runErr == nil || !strings.Contains(runErr.Error(), tc.refused) || !strings.Contains(runErr.Error(), "readable by every user") {
					t.Fatalf("run error %v, want a refusal naming %s", runErr, tc.refused)
				}
			} else if runErr != nil {
				t.Fatalf("run: %v\n%s", runErr, logs)
			}
			l := logs.String()
			warnings := regexp.MustCompile(`event=insecure_file_mode field=(\S+)`).FindAllStringSubmatch(l, -1)
			var got []string
			for _, w := range warnings {
				got = append(got, w[1])
			}
			if strings.Join(got, ",") != strings.Join(tc.warn, ",") {
				t.Errorf("warned about %v, want %v:\n%s", got, tc.warn, l)
			}
			for _, f := range tc.warn {
				if !regexp.MustCompile(`field=` + regexp.QuoteMeta(f) + ` mode=0\d{3} path=` + regexp.QuoteMeta(dir) + `/\S+`).MatchString(l) {
					t.Errorf("the warning about %s lacks its path and mode:\n%s", f, l)
				}
			}
			for _, s := range []string{token, secret, "PRIVATE KEY"} {
				if strings.Contains(l, s) || runErr != nil && strings.Contains(runErr.Error(), s) {
					t.Errorf("a secret reached the log or the error")
				}
			}
		})
	}
}
