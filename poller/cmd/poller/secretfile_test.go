package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexis-ops/alexis/shared/logging/logtest"
	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
)

// The poller checks its secret files when it starts: each one group or
// others can read is named (config key, path, mode) in an
// insecure_file_mode warning, never with its content.
func TestRunChecksSecretFileModes(t *testing.T) {
	og := opsgenietest.NewT(t)
	cl := newClassifier(t)
	og.CreateAlert(opsgenietest.AlertSpec{Message: "m", Teams: []string{"incoming"}, CreatedAt: time.Now().Add(-time.Minute)})
	cfg, dir := setup(t, og, cl, og.APIKey(), "")
	for name, mode := range map[string]os.FileMode{"classifier_token": 0o640, "opsgenie_key": 0o604} {
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logtest.Buffer{}
	if err := run(context.Background(), []string{"once", "-config", cfg}, io.Discard, logs); err != nil {
		t.Fatalf("once: %v\n%s", err, logs)
	}
	l := logs.String()
	for _, want := range []string{
		`event=insecure_file_mode field=classifier.token_file mode=0640 path=` + filepath.Join(dir, "classifier_token"),
		`event=insecure_file_mode field=feeds[0].opsgenie.api_key_file mode=0604 path=` + filepath.Join(dir, "opsgenie_key"),
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s:\n%s", want, l)
		}
	}
	if n := len(regexp.MustCompile(`event=insecure_file_mode`).FindAllString(l, -1)); n != 2 {
		t.Errorf("%d insecure_file_mode warnings, want 2 (tokens_file is 0600):\n%s", n, l)
	}
	if strings.Contains(l, outToken) || strings.Contains(l, og.APIKey()) || strings.Contains(l, userToken) {
		t.Error("a secret reached the log")
	}
}
