package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type sample struct {
	Listen   string   `yaml:"listen"`
	Interval Duration `yaml:"interval"`
}

func (s *sample) Validate() error {
	var p Problems
	if s.Listen == "" {
		p.Addf("listen", "required")
	}
	if s.Interval <= 0 {
		p.Addf("interval", "must be positive")
	}
	return p.Err()
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"defaults kept", "listen: ':1'\n", nil},
		{"duration", "listen: x\ninterval: 2m\n", nil},
		{"unknown key", "listen: x\nlisen: y\n", []string{"field lisen not found"}},
		{"bad duration", "listen: x\ninterval: soon\n", []string{`bad duration "soon"`}},
		{"every problem at once", "listen: ''\ninterval: 0s\n", []string{"listen: required", "interval: must be positive"}},
		{"empty document uses defaults", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sample{Listen: "default", Interval: Duration(time.Minute)}
			err := Decode([]byte(tc.yaml), "test.yaml", s)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tok")
	if err := os.WriteFile(path, []byte("  s3cr3t-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reveal() != "s3cr3t-value" {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
	j, _ := json.Marshal(struct{ S Secret }{s})
	y, _ := yaml.Marshal(struct{ S Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), string(j), string(y)} {
		if strings.Contains(out, "s3cr3t") {
			t.Fatalf("secret leaked in %q", out)
		}
	}
}

func TestReadSecretErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := ReadSecret(empty); err == nil {
		t.Fatal("empty secret accepted")
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing secret accepted")
	}
}

func TestProblemsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("x"), 0o600)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name     string
		path     string
		optional bool
		want     string // "": no problem
	}{
		{name: "file", path: file},
		{name: "optional file", path: file, optional: true},
		{name: "empty required", want: "k: required"},
		{name: "empty optional", optional: true},
		{name: "missing", path: missing, want: "k: open " + missing},
		{name: "missing optional", path: missing, optional: true, want: "k: open " + missing},
		{name: "directory", path: dir, want: "k: " + dir + " is a directory, want a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Problems
			if tc.optional {
				p.OptionalFile("k", tc.path)
			} else {
				p.File("k", tc.path)
			}
			err := p.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
