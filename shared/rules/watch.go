package rules

// watcher reports changes in watched directories without blocking. Dir
// reads it synchronously at the start of every Load: the kernel queues an
// event during the writer's own system call, so a Load that starts after a
// write returned sees the event, and a directory check costs one read.
type watcher interface {
	// read drains pending events.
	read() (changes, error)
	// watch adds a directory; main marks the rules directory itself.
	watch(dir string, main bool) error
	// unwatch drops a directory added with watch.
	unwatch(dir string)
	close() error
}

// changes is what a watcher saw since the last read.
type changes struct {
	any      bool     // something changed: rescan
	names    []string // names of entries in the rules directory that changed
	targets  []string // paths of entries in other watched directories that changed
	overflow bool     // events were lost: re-read everything
	lost     bool     // the rules directory itself was deleted or moved
}

// newWatcher is set by the platform's file (inotify on Linux); nil means
// Dir stats every file on every Load.
var newWatcher func() (watcher, error)
