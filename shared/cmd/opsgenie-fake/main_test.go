package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

func TestRunServesSeededAlerts(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("test-key-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-api-key-file", keyFile, "-seed", "testdata/seed.json"}, io.Discard, pw)
		pw.Close()
	}()

	var addr string
	lines := bufio.NewScanner(pr)
	for addr == "" && lines.Scan() {
		line := lines.Text()
		if strings.Contains(line, "test-key-123") {
			t.Errorf("log reveals the API key: %s", line)
		}
		if strings.Contains(line, "event=service_started") {
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "listen="); ok {
					addr = v
				}
			}
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatal("no service_started line with the listen address")
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/v2/alerts?query=teams:incoming&order=asc", nil)
	req.Header.Set("Authorization", "GenieKey test-key-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Message   string    `json:"message"`
			CreatedAt time.Time `json:"createdAt"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Data) != 2 || body.Data[0].Message != "duplicator: Long garbage-collection time" {
		t.Fatalf("listed %+v", body.Data)
	}
	if age := time.Since(body.Data[0].CreatedAt); age < 9*time.Minute {
		t.Errorf("seeded alert is %v old, want about 10m", age)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunRejects(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "no key file", args: nil, want: "-api-key-file is required"},
		{name: "missing key file", args: []string{"-api-key-file", "/nonexistent"}, want: "read secret file"},
		{name: "bad age", args: []string{"-api-key-file", keyFile, "-seed", "testdata/bad_age.json"}, want: "[0].age"},
		{name: "no message", args: []string{"-api-key-file", keyFile, "-seed", "testdata/no_message.json"}, want: "message: required"},
		{name: "not an array", args: []string{"-api-key-file", keyFile, "-seed", "testdata/not_array.json"}, want: "cannot unmarshal"},
		{name: "extra argument", args: []string{"-api-key-file", keyFile, "serve"}, want: "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// run runs the command as main does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return opsgenietest.Command().Run(ctx, args, stdout, stderr)
}
