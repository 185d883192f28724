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

	"github.com/alexis-ops/alexis/shared/dynatrace/dynatracetest"
)

func TestRunServesSeededProblems(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("dt0c01.test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-api-token-file", tokenFile, "-seed", "testdata/seed.json"}, io.Discard, pw)
		pw.Close()
	}()

	var addr string
	lines := bufio.NewScanner(pr)
	for addr == "" && lines.Scan() {
		line := lines.Text()
		if strings.Contains(line, "dt0c01.test-token") {
			t.Errorf("log reveals the token: %s", line)
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

	req, _ := http.NewRequest("GET", "http://"+addr+`/api/v2/problems?from=now-1h&problemSelector=entityTags("team:db")`, nil)
	req.Header.Set("Authorization", "Api-Token dt0c01.test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Problems []struct {
			Title     string `json:"title"`
			StartTime int64  `json:"startTime"`
		} `json:"problems"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Problems) != 1 || body.Problems[0].Title != "db01: disk almost full" {
		t.Fatalf("listed %+v", body.Problems)
	}
	if age := time.Since(time.UnixMilli(body.Problems[0].StartTime)); age < 9*time.Minute {
		t.Errorf("seeded problem is %v old, want about 10m", age)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunRejects(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok\n"), 0o600)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "no token file", args: []string{"-listen", "127.0.0.1:0"}, want: "-api-token-file is required"},
		{name: "missing seed", args: []string{"-api-token-file", tokenFile, "-seed", "testdata/nope.json"}, want: "read seed file"},
		{name: "not an array", args: []string{"-api-token-file", tokenFile, "-seed", "testdata/not_array.json"}, want: "cannot unmarshal"},
		{name: "no title", args: []string{"-api-token-file", tokenFile, "-seed", "testdata/no_title.json"}, want: "[0]: title: required"},
		{name: "bad age", args: []string{"-api-token-file", tokenFile, "-seed", "testdata/bad_age.json"}, want: "[0].age"},
		{name: "extra argument", args: []string{"-api-token-file", tokenFile, "now"}, want: "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want %q", err, tc.want)
			}
		})
	}
}

// run runs the command as main does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dynatracetest.Command().Run(ctx, args, stdout, stderr)
}
