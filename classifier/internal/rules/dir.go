package rules

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
)

// MaxFileSize is the largest rule file read; a larger one is invalid.
const MaxFileSize = 1 << 20

// DirOptions configure NewDir.
type DirOptions struct {
	Dir     string
	Log     zerolog.Logger
	Compile Compiler // nil means Compile (v1)
}

// Dir loads the rule files of one directory on every Load: the files named
// *.json directly in it (symbolic links followed, subdirectories not read),
// except names starting with "." (editor and atomic-write temp files,
// Kubernetes' ..data). Files are taken in lexical order of name; when two
// valid files have the same rule_name, the later one is invalid.
//
// Every file is read on every Load, so an edit is never missed whatever the
// file system's time stamps; compiling is cached by path and content hash,
// so an unchanged file costs a read and a hash, not a parse.
//
// A file's problems are logged once per version (event=rule_invalid), not on
// every Load; rule_loaded and rule_removed are logged likewise.
type Dir struct {
	dir     string
	log     zerolog.Logger
	compile Compiler

	mu       sync.Mutex
	cache    map[cacheKey]*version
	seq      uint64               // Loads started
	reported uint64               // the latest Load whose findings were logged
	state    map[string]fileState // path → what was last logged about it
}

type cacheKey struct {
	path string
	sum  [sha256.Size]byte
}

// version is one compiled version of one rule file.
type version struct {
	file File  // Errors hold compile errors only
	rule *Rule // nil when invalid
}

// fileState is what was last logged about a path.
type fileState struct {
	sum     [sha256.Size]byte
	invalid bool
	msg     string
	seen    uint64 // seq of the latest Load that found the file
}

// NewDir returns a loader for o.Dir.
func NewDir(o DirOptions) *Dir {
	if o.Compile == nil {
		o.Compile = Compile
	}
	return &Dir{
		dir:     o.Dir,
		log:     o.Log,
		compile: o.Compile,
		cache:   map[cacheKey]*version{},
		state:   map[string]fileState{},
	}
}

// errNotRule marks directory entries that are not rule files after all.
var errNotRule = errors.New("not a regular file")

// Load implements Loader.
func (d *Dir) Load(ctx context.Context) (*Set, error) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()

	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("read rules directory: %w", err)
	}
	set := &Set{}
	keys := make([]cacheKey, 0, len(entries))
	first := map[string]string{} // rule_name → file defining it
	for _, de := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !isRuleFile(de.Name()) {
			continue
		}
		path := filepath.Join(d.dir, de.Name())
		data, err := readRuleFile(path, de)
		if errors.Is(err, errNotRule) || errors.Is(err, fs.ErrNotExist) {
			continue // a directory, a device, or deleted since ReadDir
		}
		var key cacheKey
		var v *version
		if err != nil {
			v = invalid(path, nil, rule.Errors{{Path: "$", Msg: "cannot read file: " + unwrapPath(err)}})
		} else {
			key = cacheKey{path: path, sum: sha256.Sum256(data)}
			v = d.version(key, data)
		}
		keys = append(keys, key)

		f := v.file
		if v.rule != nil {
			if prev, dup := first[f.RuleName]; dup {
				f.Status = StatusInvalid
				f.Errors = rule.Errors{{Path: "rule_name",
					Msg: fmt.Sprintf("duplicate rule_name %q, first defined in %s", f.RuleName, prev)}}
			} else {
				first[f.RuleName] = path
				set.Rules = append(set.Rules, v.rule)
			}
		}
		if f.Errors == nil {
			f.Errors = rule.Errors{}
		}
		set.Files = append(set.Files, f)
	}
	d.report(seq, set, keys)
	return set, nil
}

// version returns the compiled version for key, compiling data on a miss.
func (d *Dir) version(key cacheKey, data []byte) *version {
	d.mu.Lock()
	v, ok := d.cache[key]
	d.mu.Unlock()
	if ok {
		return v
	}
	def, m, err := d.compile(data)
	if err != nil {
		var errs rule.Errors
		if !errors.As(err, &errs) {
			errs = rule.Errors{{Path: "$", Msg: err.Error()}}
		}
		v = invalid(key.path, data, errs)
	} else {
		v = &version{
			file: File{Path: key.path, RuleName: def.Name, RuleVersion: def.Version,
				Enabled: bool(def.Enabled), Status: StatusOK},
			rule: &Rule{File: key.path, Def: def, Matcher: m},
		}
	}
	d.mu.Lock()
	d.cache[key] = v
	d.mu.Unlock()
	return v
}

// invalid describes an invalid file, with what can be read of its name,
// version and enabled flag.
func invalid(path string, data []byte, errs rule.Errors) *version {
	f := File{Path: path, Status: StatusInvalid, Errors: errs}
	if gjson.ValidBytes(data) {
		if v := gjson.GetBytes(data, "rule_name"); v.Type == gjson.String {
			f.RuleName = v.Str
		}
		if v := gjson.GetBytes(data, "rule_version"); v.Type == gjson.String {
			f.RuleVersion = v.Str
		}
		var en rule.Flag
		if v := gjson.GetBytes(data, "enabled"); v.Exists() && en.UnmarshalJSON([]byte(v.Raw)) == nil {
			f.Enabled = bool(en)
		}
	}
	return &version{file: f}
}

// report logs what changed since the last reported Load and drops cache
// entries this Load did not use. Findings of a Load that finished after a
// newer one are not logged, so a quick edit never logs old state last.
func (d *Dir) report(seq uint64, set *Set, keys []cacheKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq < d.reported {
		return
	}
	d.reported = seq
	for i, f := range set.Files {
		st := fileState{sum: keys[i].sum, invalid: f.Status != StatusOK, seen: seq}
		if st.invalid {
			st.msg = f.Errors.Error()
		}
		old, known := d.state[f.Path]
		d.state[f.Path] = st
		if known && old.sum == st.sum && old.invalid == st.invalid && old.msg == st.msg {
			continue
		}
		if st.invalid {
			ev := d.log.Error().Str(logging.Event, "rule_invalid").Str(logging.RuleFile, f.Path)
			if f.RuleName != "" {
				ev = ev.Str(logging.RuleName, f.RuleName)
			}
			ev.Str(logging.ErrorKey, st.msg).Msg("rule file skipped")
			continue
		}
		d.log.Info().Str(logging.Event, "rule_loaded").Str(logging.RuleFile, f.Path).
			Str(logging.RuleName, f.RuleName).Send()
	}
	for path, st := range d.state {
		if st.seen != seq {
			delete(d.state, path)
			d.log.Info().Str(logging.Event, "rule_removed").Str(logging.RuleFile, path).Send()
		}
	}
	if len(d.cache) > len(keys) {
		used := make(map[cacheKey]bool, len(keys))
		for _, k := range keys {
			used[k] = true
		}
		for k := range d.cache {
			if !used[k] {
				delete(d.cache, k)
			}
		}
	}
}

func isRuleFile(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".")
}

// readRuleFile reads a rule file, refusing anything but a regular file (a
// FIFO would block) and anything larger than MaxFileSize.
func readRuleFile(path string, de fs.DirEntry) ([]byte, error) {
	if !de.Type().IsRegular() {
		st, err := os.Stat(path) // follows a symbolic link
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, errNotRule
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 0
	if st, err := f.Stat(); err == nil {
		if st.Size() > MaxFileSize {
			return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
		}
		size = int(st.Size())
	}
	data := make([]byte, 0, size+1) // +1: reading to EOF needs no second buffer
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if len(data) > MaxFileSize {
			return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
