// Package config loads a service's YAML configuration strictly: unknown keys
// are errors, defaults are set before decoding, and validation reports every
// problem at once, each naming its key path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Validator is implemented by service configs. Validate returns every
// problem joined with errors.Join, each prefixed by its key path
// ("feeds[1].query: required").
type Validator interface {
	Validate() error
}

// Load reads path into dst (which must already hold the defaults), rejecting
// unknown keys, then calls dst.Validate.
func Load(path string, dst Validator) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return Decode(data, path, dst)
}

// Decode is Load for bytes already read; name is used in error messages.
func Decode(data []byte, name string, dst Validator) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", name, err)
	}
	if err := dst.Validate(); err != nil {
		return fmt.Errorf("config %s: invalid:\n%w", name, err)
	}
	return nil
}

// Duration is a time.Duration written in YAML as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalYAML parses "30s", "5m", "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q: %v", n.Line, s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Secret is a value read from a file (a Docker secret in production). It
// never prints: String, GoString, MarshalJSON and MarshalYAML give "<secret>".
type Secret struct{ v string }

// NewSecret wraps a value (for tests and tokens built in code).
func NewSecret(v string) Secret { return Secret{v: v} }

// ReadSecret reads a secret file, trimming surrounding white space.
func ReadSecret(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return Secret{}, fmt.Errorf("secret file %s is empty", path)
	}
	return Secret{v: v}, nil
}

// Reveal returns the secret value for use on the wire. Never log it.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether no secret is set.
func (s Secret) Empty() bool { return s.v == "" }

func (s Secret) String() string   { return "<secret>" }
func (s Secret) GoString() string { return "<secret>" }

// MarshalJSON never reveals the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"<secret>"`), nil }

// MarshalYAML never reveals the value.
func (s Secret) MarshalYAML() (any, error) { return "<secret>", nil }

// Problems collects validation errors with their key paths.
type Problems struct{ errs []error }

// Addf records one problem at path.
func (p *Problems) Addf(path, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// Add records err (if not nil) as a problem at path.
func (p *Problems) Add(path string, err error) {
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", path, err))
	}
}

// Err returns every problem joined, or nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// File records a problem at key unless path names a regular file this
// process can open: "required" when path is empty, the open error, or that
// it is a directory. Every file a configuration names (tokens, keys, CA
// bundles, secrets) is checked this way, so a mistake is reported when the
// configuration loads, with its key, not when the file is first read.
func (p *Problems) File(key, path string) {
	if path == "" {
		p.Addf(key, "required")
		return
	}
	p.OptionalFile(key, path)
}

// OptionalFile is File for a key that may be left empty.
func (p *Problems) OptionalFile(key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.Addf(key, "%v", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		p.Addf(key, "%v", err)
	case st.IsDir():
		p.Addf(key, "%s is a directory, want a file", path)
	}
}
