package secretfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/logging/logtest"
)

const content = "tok-3f9a1c0de5b7aa42e1"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		kind    Kind
		warn    bool
		refused bool
	}{
		{"secret 0600", 0o600, Secret, false, false},
		{"secret 0400", 0o400, Secret, false, false},
		{"secret 0640", 0o640, Secret, true, false},
		{"secret 0644", 0o644, Secret, true, false},
		{"secret 0602 (world-writable)", 0o602, Secret, true, false},
		{"key 0600", 0o600, Key, false, false},
		{"key 0640", 0o640, Key, true, false},
		{"key 0644", 0o644, Key, false, true},
		{"key 0604", 0o604, Key, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			// Set the mode explicitly: WriteFile's is cut by the umask.
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			f := File{Field: "ssh.key_file", Path: path, Kind: tc.kind}
			for _, read := range []bool{false, true} {
				logs := &logtest.Buffer{}
				log := logging.New(logs, "test", logging.Options{})
				var err error
				if read {
					var b []byte
					b, err = Read(log, f)
					if err == nil && string(b) != content {
						t.Fatalf("read %q", b)
					}
				} else {
					err = Check(log, f, File{Field: "unset"}, File{Field: "missing", Path: filepath.Join(t.TempDir(), "none")})
				}
				if tc.refused != errors.Is(err, ErrWorldReadableKey) {
					t.Fatalf("read=%t: err = %v, refused want %t", read, err, tc.refused)
				}
				if tc.refused && (!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "ssh.key_file")) {
					t.Errorf("refusal does not name the file: %v", err)
				}
				l := logs.String()
				if warned := strings.Contains(l, "event="+Event); warned != tc.warn {
					t.Fatalf("read=%t: warned %t, want %t:\n%s", read, warned, tc.warn, l)
				}
				if tc.warn {
					for _, kv := range []string{"path=" + path, "field=ssh.key_file", fmt.Sprintf("mode=%04o", tc.mode)} {
						if !strings.Contains(l, kv) {
							t.Errorf("warning lacks %s: %s", kv, l)
						}
					}
				}
				if strings.Contains(l, content) || err != nil && strings.Contains(err.Error(), content) {
					t.Fatal("the secret reached a log or an error")
				}
			}
		})
	}
}
