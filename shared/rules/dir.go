package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
)

// MaxFileSize is the largest rule file read; a larger one is invalid.
const MaxFileSize = 1 << 20

// AmbiguousWindow is how close to the moment a file was read its
// modification time must be for a same-size, same-time file to be read
// again: a second write within the file system's time stamp granularity
// (nanoseconds on ext4, xfs, btrfs and tmpfs, but only as fine as the
// kernel's clock tick, and 1-2 s on some file systems) leaves size and time
// unchanged.
const AmbiguousWindow = 3 * time.Second

// DirOptions configure NewDir.
type DirOptions struct {
	Dir     string
	Log     zerolog.Logger
	Compile Compiler // nil means Compile
	Poll    bool     // stat every file on every Load even where inotify works
}

// Dir loads the rule files of one directory: the files named *.json
// directly in it (symbolic links followed, subdirectories not read), except
// names starting with "." (editor and atomic-write temp files, Kubernetes'
// ..data). Files are taken in lexical order of name; when two valid files
// have the same rule_name, the later one is invalid.
//
// Every Load re-checks the directory, so an added, edited or deleted file
// counts from the next Load on, and re-reads only what changed:
//
//   - With inotify (Linux), a Load reads the pending events of the
//     directory (one non-blocking read) and stats the directory path (to see
//     it replaced, e.g. a symbolic link switched). When something changed,
//     it lists the directory, stats every file and re-reads the files
//     events named, whose size or modification time changed, or whose
//     time is ambiguous (see AmbiguousWindow); a file whose content hash is
//     unchanged is not compiled again. The directories holding the targets
//     of symbolic links are watched too (Kubernetes ConfigMap volumes swap
//     their "..data" link inside the directory; a link to a file elsewhere
//     is seen when its target changes); if such a directory cannot be
//     watched, those files are stat'ed on every Load.
//   - Without inotify (not Linux, inotify limits reached, a network file
//     system such as NFS, where changes made on other hosts raise no event,
//     or with Poll), every Load lists the directory and stats every file,
//     with the same re-read rules.
//
// A file caught half-written fails to parse and is invalid for that Load:
// the previous version is not kept. Write elsewhere and rename into place
// to avoid that window. A Set, once returned, never changes; Loads run one
// at a time, so a Load never returns an older Set than one returned before
// it.
//
// A file's problems are logged when its content or problems change
// (event=rule_invalid), as are rule_loaded and rule_removed.
type Dir struct {
	dir     string
	log     zerolog.Logger
	compile Compiler
	poll    bool

	mu      sync.Mutex
	set     *Set
	entries map[string]*entry // by file name
	dirty   bool              // the next Load rescans everything
	w       watcher           // nil: poll
	mainID  dirID             // the directory watched
	targets map[string]bool   // link target directories watched
	polled  []*entry          // entries stat'ed on every Load even with a watcher
	logged  map[string]fileState
	closed  bool

	retryWatch  time.Time // no new watcher before then
	watchFailed bool      // the last attempt failed (logged once)
}

// WatchRetry is how long Dir polls before trying to set up inotify again
// after it failed (e.g. fs.inotify.max_user_instances reached).
const WatchRetry = time.Minute

// entry is what the last scan knew of one file.
type entry struct {
	name    string
	path    string
	target  string // resolved path when the entry is a symbolic link
	stat    statKey
	readAt  time.Time // when its content was last read
	sum     [sha256.Size]byte
	readErr bool // the content could not be read
	v       *version
}

type statKey struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
	sys   fileKey // device and inode where known
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
}

// NewDir returns a loader for o.Dir. Close releases its watcher.
func NewDir(o DirOptions) *Dir {
	if o.Compile == nil {
		o.Compile = Compile
	}
	return &Dir{
		dir:     o.Dir,
		log:     o.Log,
		compile: o.Compile,
		poll:    o.Poll,
		dirty:   true,
		entries: map[string]*entry{},
		targets: map[string]bool{},
		logged:  map[string]fileState{},
	}
}

// Mode says how changes are detected: "inotify" or "poll".
func (d *Dir) Mode() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil {
		return "inotify"
	}
	return "poll"
}

// Close releases the watcher. Loads after Close poll.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.w == nil {
		return nil
	}
	err := d.w.close()
	d.w = nil
	return err
}

// Load implements Loader.
func (d *Dir) Load(ctx context.Context) (*Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	switch {
	case d.dirty:
		return d.rescan(nil, true)
	case d.w == nil:
		return d.rescan(nil, false) // poll: stat everything
	}
	ch, err := d.w.read()
	if err != nil {
		d.log.Warn().Str(logging.Event, "rules_watch_failed").Str(logging.ErrorKey, err.Error()).Msg("polling the rules directory")
		d.stopWatching()
		return d.rescan(nil, true)
	}
	if id, err := statDirID(d.dir); err != nil || id != d.mainID {
		ch.lost = true
	}
	switch {
	case ch.lost:
		d.stopWatching() // watched again by the rescan
		return d.rescan(nil, true)
	case ch.overflow:
		return d.rescan(nil, true)
	case ch.any:
		return d.rescan(&ch, false)
	}
	for _, e := range d.polled {
		if st, err := os.Stat(e.path); err != nil || keyOf(st) != e.stat || e.ambiguous() {
			return d.rescan(nil, false)
		}
	}
	return d.set, nil
}

// stopWatching drops the watcher; the next rescan starts a new one.
func (d *Dir) stopWatching() {
	if d.w != nil {
		_ = d.w.close()
		d.w = nil
	}
	d.targets = map[string]bool{}
}

// rescan lists the directory and publishes a new Set. Files named in ch,
// or every file when all, are read again whatever their stat says.
func (d *Dir) rescan(ch *changes, all bool) (*Set, error) {
	if d.w == nil && !d.poll && !d.closed && newWatcher != nil && !time.Now().Before(d.retryWatch) {
		d.startWatching()
	}
	des, err := os.ReadDir(d.dir)
	if err != nil {
		d.dirty = true
		return nil, fmt.Errorf("read rules directory: %w", err)
	}
	d.dirty = false
	forced := map[string]bool{}
	if ch != nil {
		for _, n := range ch.names {
			forced[n] = true
		}
		for _, t := range ch.targets {
			forced[t] = true
		}
	}

	realDir, _ := filepath.EvalSymlinks(d.dir)
	entries := make(map[string]*entry, len(des))
	var polled []*entry
	wantTargets := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		if !isRuleFile(name) {
			continue
		}
		path := filepath.Join(d.dir, name)
		st, err := os.Stat(path) // follows a symbolic link
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir, or a dangling link
		}
		if err == nil && !st.Mode().IsRegular() {
			continue // a directory, a FIFO, a device
		}
		e := &entry{name: name, path: path}
		if de.Type()&fs.ModeSymlink != 0 {
			e.target, _ = filepath.EvalSymlinks(path)
		}
		old := d.entries[name]
		switch {
		case err != nil:
			e.readErr = true
			e.v = invalid(path, nil, rule.Errors{{Path: "$", Msg: "cannot read file: " + unwrapPath(err)}})
		case old != nil && !all && !forced[name] && (e.target == "" || !forced[e.target]) &&
			old.target == e.target && !old.readErr && old.stat == keyOf(st) && !old.ambiguous():
			e = old // unchanged
		default:
			e.stat = keyOf(st)
			d.read(e, old)
		}
		entries[name] = e

		if e.target != "" {
			if td := filepath.Dir(e.target); td != realDir {
				if d.w != nil && !d.targets[td] && !wantTargets[td] {
					err := watchable(td)
					if err == nil {
						err = d.w.watch(td, false)
					}
					if err != nil {
						d.log.Warn().Str(logging.Event, "rules_watch_failed").Str(logging.RuleFile, path).
							Str(logging.ErrorKey, err.Error()).Msg("link target checked on every load")
						polled = append(polled, e)
						continue
					}
				}
				wantTargets[td] = true
			}
		}
	}
	if d.w != nil {
		for td := range d.targets {
			if !wantTargets[td] {
				d.w.unwatch(td)
			}
		}
		d.targets = wantTargets
		d.polled = polled
	}
	changed := d.set == nil || len(entries) != len(d.entries)
	for name, e := range entries {
		if old := d.entries[name]; old == nil || old.v != e.v || old.stat.mtime != e.stat.mtime {
			changed = true
			break
		}
	}
	d.entries = entries // re-read entries carry their new read time
	if !changed {
		return d.set, nil
	}

	// Files in order, with duplicates of an earlier valid rule_name invalid.
	items := make([]loaded, 0, len(entries))
	for _, de := range des {
		e, ok := entries[de.Name()]
		if !ok {
			continue
		}
		it := loaded{v: e.v}
		if !e.readErr {
			it.sum = hex.EncodeToString(e.sum[:])
			it.modified = e.stat.mtime.UTC()
		}
		items = append(items, it)
	}
	d.set = assemble(items)
	files := d.set.Files
	d.report(files, entries)
	return d.set, nil
}

// loaded is one file's compiled version as a Set is assembled from it.
type loaded struct {
	v        *version
	sum      string    // hex sha256 of the content; "" when unread
	modified time.Time // zero when unknown
}

// assemble builds the Set of files in order: a valid file whose rule_name
// an earlier valid file has is invalid.
func assemble(items []loaded) *Set {
	first := map[string]string{} // rule_name → file defining it
	files := make([]File, 0, len(items))
	var valid []*Rule
	for _, it := range items {
		f := it.v.file
		if it.v.rule != nil {
			if prev, dup := first[f.RuleName]; dup {
				f.Status = StatusInvalid
				f.Errors = rule.Errors{{Path: "rule_name",
					Msg: fmt.Sprintf("duplicate rule_name %q, first defined in %s", f.RuleName, prev)}}
			} else {
				first[f.RuleName] = f.Path
				valid = append(valid, it.v.rule)
			}
		}
		if f.Errors == nil {
			f.Errors = rule.Errors{}
		}
		f.SHA256, f.Modified = it.sum, it.modified
		files = append(files, f)
	}
	return NewSet(files, valid)
}

// startWatching sets up the watcher on the directory, or logs why not.
func (d *Dir) startWatching() {
	err := watchable(d.dir)
	var w watcher
	if err == nil {
		w, err = newWatcher()
	}
	if err == nil {
		if err = w.watch(d.dir, true); err != nil {
			_ = w.close()
		}
	}
	if err == nil {
		d.mainID, err = statDirID(d.dir)
		if err != nil {
			_ = w.close()
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // the directory is gone: try again on the next Load
		}
		// E.g. the inotify limits are reached: poll, and try again later
		// rather than on every Load.
		d.retryWatch = time.Now().Add(WatchRetry)
		if !d.watchFailed {
			d.log.Warn().Str(logging.Event, "rules_watch_failed").Str(logging.ErrorKey, err.Error()).
				Msg("polling the rules directory")
		}
		d.watchFailed = true
		return
	}
	if d.watchFailed {
		d.log.Info().Str(logging.Event, "rules_watch_started").Msg("watching the rules directory again")
	}
	d.watchFailed = false
	d.w = w
	d.targets = map[string]bool{}
}

// read reads and compiles e's file, reusing old's compiled version when
// the content is the same.
func (d *Dir) read(e, old *entry) {
	e.readAt = time.Now()
	data, err := readRuleFile(e.path)
	if err != nil {
		e.readErr = true
		e.v = invalid(e.path, nil, rule.Errors{{Path: "$", Msg: "cannot read file: " + unwrapPath(err)}})
		return
	}
	e.sum = sha256.Sum256(data)
	if old != nil && !old.readErr && old.sum == e.sum {
		e.v = old.v
		return
	}
	e.v = compileVersion(d.compile, e.path, data)
}

// ambiguous reports whether the file may have changed since it was read
// without its size or modification time changing.
func (e *entry) ambiguous() bool {
	return !e.stat.mtime.Before(e.readAt.Add(-AmbiguousWindow))
}

func keyOf(st fs.FileInfo) statKey {
	return statKey{size: st.Size(), mtime: st.ModTime(), mode: st.Mode(), sys: sysKey(st)}
}

// compileVersion compiles one file's content with compile.
func compileVersion(compile Compiler, path string, data []byte) *version {
	def, m, err := compile(data)
	if err != nil {
		var errs rule.Errors
		if !errors.As(err, &errs) {
			errs = rule.Errors{{Path: "$", Msg: err.Error()}}
		}
		return invalid(path, data, errs)
	}
	return &version{
		file: File{Path: path, RuleName: def.Name, RuleVersion: def.Version,
			Enabled: bool(def.Enabled), Status: StatusOK},
		rule: &Rule{File: path, Def: def, Matcher: m},
	}
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

// report logs what changed since the last published Set.
func (d *Dir) report(files []File, entries map[string]*entry) {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		seen[f.Path] = true
		st := fileState{invalid: f.Status != StatusOK}
		if e := entries[filepath.Base(f.Path)]; e != nil {
			st.sum = e.sum
		}
		if st.invalid {
			st.msg = f.Errors.Error()
		}
		old, known := d.logged[f.Path]
		d.logged[f.Path] = st
		if known && old == st {
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
	for path := range d.logged {
		if !seen[path] {
			delete(d.logged, path)
			d.log.Info().Str(logging.Event, "rule_removed").Str(logging.RuleFile, path).Send()
		}
	}
}

func isRuleFile(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".")
}

// readRuleFile reads a rule file, refusing anything but a regular file (a
// FIFO would block) and anything larger than MaxFileSize.
func readRuleFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	data := make([]byte, 0, st.Size()+1) // +1: reading to EOF needs no second buffer
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
