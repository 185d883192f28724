package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() { newWatcher = newInotify }

// remoteFS names file systems whose changes made elsewhere (another NFS
// client, the SMB server) produce no inotify event here.
var remoteFS = map[int64]string{
	0x6969:     "nfs",
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
	0x517B:     "smb",
	0x65735546: "fuse",
	0x01021997: "9p",
	0x00C36400: "ceph",
	0x47504653: "gpfs",
	0x013111A8: "ibrix",
	0x0BD00BD0: "lustre",
}

// watchable returns why inotify cannot be trusted for dir, or nil.
func watchable(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err
	}
	if name, ok := remoteFS[int64(st.Type)]; ok {
		return fmt.Errorf("%s is on a network file system (%s): inotify does not see changes made on other hosts", dir, name)
	}
	return nil
}

// inotify watches directories with one non-blocking inotify descriptor.
type inotify struct {
	fd   int
	main int32            // watch descriptor of the rules directory (-1: none)
	wds  map[int32]string // watch descriptor → directory
	dirs map[string]int32
	buf  []byte
}

const inotifyMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ONLYDIR

func newInotify() (watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	return &inotify{fd: fd, main: -1, wds: map[int32]string{}, dirs: map[string]int32{},
		buf: make([]byte, 64<<10)}, nil
}

func (w *inotify) watch(dir string, main bool) error {
	wd, err := unix.InotifyAddWatch(w.fd, dir, inotifyMask)
	if err != nil {
		return fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	w.wds[int32(wd)] = dir
	w.dirs[dir] = int32(wd)
	if main {
		w.main = int32(wd)
	}
	return nil
}

func (w *inotify) unwatch(dir string) {
	wd, ok := w.dirs[dir]
	if !ok {
		return
	}
	delete(w.dirs, dir)
	if wd == w.main {
		// The same directory may be watched as a link target too; keep it.
		w.dirs[dir] = wd
		return
	}
	delete(w.wds, wd)
	_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
}

func (w *inotify) read() (changes, error) {
	var ch changes
	for {
		n, err := unix.Read(w.fd, w.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return ch, nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return ch, fmt.Errorf("read inotify: %w", err)
		case n <= 0:
			return ch, nil
		}
		w.parse(w.buf[:n], &ch)
	}
}

func (w *inotify) parse(b []byte, ch *changes) {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			ch.overflow = true
			return
		}
		name := string(trimNUL(b[unix.SizeofInotifyEvent:end]))
		b = b[end:]
		ch.any = true
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			ch.overflow = true
			continue
		}
		dir, known := w.wds[ev.Wd]
		if ev.Wd == w.main && ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0 {
			ch.lost = true
		}
		if ev.Mask&unix.IN_IGNORED != 0 && known {
			delete(w.wds, ev.Wd)
			if w.dirs[dir] == ev.Wd {
				delete(w.dirs, dir)
			}
			continue
		}
		switch {
		case name == "":
		case ev.Wd == w.main:
			ch.names = append(ch.names, name)
		case known:
			ch.targets = append(ch.targets, filepath.Join(dir, name))
		}
	}
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func (w *inotify) close() error { return unix.Close(w.fd) }

// dirID identifies a directory by device and inode, following links.
type dirID struct{ dev, ino uint64 }

// statDirID stats path (one system call, following links).
func statDirID(path string) (dirID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return dirID{}, err
	}
	return dirID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// fileKey is a file's device and inode.
type fileKey struct{ dev, ino uint64 }

func sysKey(st fs.FileInfo) fileKey {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return fileKey{dev: uint64(s.Dev), ino: s.Ino}
	}
	return fileKey{}
}
