package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/alexis-ops/alexis/shared/rule"
)

// MaxFiles is the most rule files FromFiles takes.
const MaxFiles = 500

// ErrFileName means a name given to FromFiles cannot be a rule file's
// name in a rules directory; the error says which and why.
var ErrFileName = errors.New("bad rule file name")

// ErrTooManyFiles means FromFiles was given more than MaxFiles files.
var ErrTooManyFiles = fmt.Errorf("more than %d rule files", MaxFiles)

// FromFiles builds the Set that a Dir over a directory holding exactly
// these files (name → content) would load: the same compiler (Compile when
// nil), the same order (lexical by name), the same errors naming file and
// field (a file larger than MaxFileSize, a duplicate rule_name: the later
// file is invalid). Each name must be a plain file name as Dir reads it:
// ending in ".json", not starting with ".", without a path separator;
// otherwise FromFiles returns an error wrapping ErrFileName and no Set
// (ErrTooManyFiles for more than MaxFiles files).
// File paths in the Set are the names as given (a Dir has them joined to
// its directory); SHA256 is set, Modified is not.
func FromFiles(files map[string][]byte, compile Compiler) (*Set, error) {
	if compile == nil {
		compile = Compile
	}
	if len(files) > MaxFiles {
		return nil, ErrTooManyFiles
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if err := checkFileName(name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	items := make([]loaded, len(names))
	for i, name := range names {
		data := files[name]
		if len(data) > MaxFileSize {
			items[i].v = invalid(name, nil, rule.Errors{{Path: "$",
				Msg: fmt.Sprintf("cannot read file: file is larger than %d bytes", MaxFileSize)}})
			continue
		}
		sum := sha256.Sum256(data)
		items[i] = loaded{v: compileVersion(compile, name, data), sum: hex.EncodeToString(sum[:])}
	}
	return assemble(items), nil
}

// checkFileName refuses a name Dir would not read as a rule file of its
// directory.
func checkFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrFileName)
	case strings.ContainsAny(name, `/\`) || name == "." || name == "..":
		return fmt.Errorf("%w: %q: a file name, not a path", ErrFileName, name)
	case !isRuleFile(name):
		return fmt.Errorf("%w: %q: rule files end in .json and do not start with \".\"", ErrFileName, name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: %q: control characters", ErrFileName, name)
	}
	return nil
}
