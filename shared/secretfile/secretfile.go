// Package secretfile checks the permissions of the files holding secrets:
// client token files, outbound tokens, API keys, DSNs and private keys
// (SSH, TLS). Each service checks every file its configuration names when
// it starts:
//
//   - a file group or others may read or write is logged once at warn,
//     event=insecure_file_mode with its config key (field), path and mode,
//     never its content;
//   - a private key (Kind Key) others may read refuses the start.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/rs/zerolog"
)

// Kind says how strict the check is.
type Kind int

const (
	Secret Kind = iota // token, API key, DSN: insecure modes are a warning
	Key                // private key: world-readable refuses the start
)

// File is one secret file named by a configuration.
type File struct {
	Field string // the config key naming it, e.g. "ssh.key_file"
	Path  string // "" : not configured, skipped
	Kind  Kind
}

// Event is the log event for a secret file with an insecure mode.
const Event = "insecure_file_mode"

// ErrWorldReadableKey is wrapped by the error for a private key others may
// read.
var ErrWorldReadableKey = errors.New("private key readable by every user")

// Check checks every file, logging each insecure one, and returns an error
// (every refused key, joined) when a private key is world-readable. A file
// that cannot be stat'ed is left to the code that reads it, which names
// the problem.
func Check(log zerolog.Logger, files ...File) error {
	var errs []error
	for _, f := range files {
		if f.Path == "" {
			continue
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		if err := check(log, f, fi.Mode()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Read reads one secret file after checking the mode of the file it opened
// (so the check and the read are of the same file).
func Read(log zerolog.Logger, f File) ([]byte, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Field, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Field, err)
	}
	if err := check(log, f, fi.Mode()); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", f.Field, f.Path, err)
	}
	return b, nil
}

func check(log zerolog.Logger, f File, mode os.FileMode) error {
	perm := mode.Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if f.Kind == Key && perm&0o004 != 0 {
		return fmt.Errorf("%s %s: mode %04o: %w; chmod 600 it", f.Field, f.Path, perm, ErrWorldReadableKey)
	}
	log.Warn().Str(logging.Event, Event).Str(logging.Field, f.Field).Str(logging.Path, f.Path).
		Str(logging.Mode, fmt.Sprintf("%04o", perm)).Msg("secret file readable or writable by group or others; chmod 600 it")
	return nil
}
