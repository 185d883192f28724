package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/secretfile"
)

// service is how a service embeds the block: inline, beside its own keys.
type service struct {
	Config `yaml:",inline"`
	Queue  string `yaml:"queue"`
	listen Listen
}

func (s *service) Validate() error { return s.Config.Validate(s.listen) }

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("a:b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name    string
		listen  Listen
		yaml    string
		want    []string // every one in the error; none: valid
		wantNot []string
	}{
		{name: "defaults and tokens", yaml: "tokens_file: " + tokens + "\n"},
		{name: "own keys beside the block", yaml: "listen: 0.0.0.0:1\ntokens_file: " + tokens + "\nqueue: q\nbody_limit: 10\n"},
		{name: "every problem at once", yaml: "listen: nope\nbody_limit: 0\nlog: {format: xml}\ntls: {cert_file: " + missing + "}\n",
			want: []string{`listen: want host:port, got "nope"`, "tokens_file: required", "body_limit: must be a positive",
				"log.format: must be logfmt or json", "tls.key_file: required with tls.cert_file"},
			wantNot: []string{"tls: tls."}},
		{name: "tokens_file not a file", yaml: "tokens_file: " + dir + "\n", want: []string{"tokens_file: " + dir + " is a directory"}},
		{name: "tokens_file missing", yaml: "tokens_file: " + missing + "\n", want: []string{"tokens_file: open " + missing}},
		{name: "required listen empty", yaml: "listen: ''\ntokens_file: " + tokens + "\n", want: []string{`listen: want host:port, got ""`}},
		{name: "optional listen empty: no tokens needed", listen: ListenOptional, yaml: "listen: ''\n"},
		{name: "optional listen empty: tokens_file still checked", listen: ListenOptional, yaml: "listen: ''\ntokens_file: " + missing + "\n",
			want: []string{"tokens_file: open"}},
		{name: "optional listen set: tokens required", listen: ListenOptional, yaml: "listen: 127.0.0.1:0\n", want: []string{"tokens_file: required"}},
		{name: "unknown key", yaml: "tokens_file: " + tokens + "\nlisen: x\n", want: []string{"field lisen not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := "127.0.0.1:8081"
			if tc.listen == ListenOptional {
				listen = ""
			}
			s := &service{Config: Defaults(listen), listen: tc.listen}
			err := sconfig.Decode([]byte(tc.yaml), "test.yaml", s)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q has %q", err, w)
				}
			}
		})
	}
}

func TestConfigDefaultsAndSecretFiles(t *testing.T) {
	c := Defaults("127.0.0.1:1")
	if c.Listen != "127.0.0.1:1" || c.BodyLimit != DefaultBodyLimit || c.Log.Format != "logfmt" || c.Log.Level != "info" {
		t.Errorf("defaults %+v", c)
	}
	c.TokensFile, c.TLS.KeyFile = "/t", "/k"
	got := c.SecretFiles()
	want := []secretfile.File{{Field: "tokens_file", Path: "/t"}, {Field: "tls.key_file", Path: "/k", Kind: secretfile.Key}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("SecretFiles = %+v, want %+v", got, want)
	}
}
