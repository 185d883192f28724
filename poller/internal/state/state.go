// Package state is the poller's memory of what it delivered, kept in a
// small JSON file so a restart does not deliver the same alerts again.
//
// An alert is remembered (per feed, by its source id) once the classifier
// took it (matched or unmatched) or rejected it with a 4xx, and forgotten
// once it no longer matches its feed's query. Alerts answered "deferred" or
// that could not be delivered are not remembered, so they are offered again.
//
// The file is written atomically (temp file, fsync, rename, fsync of the
// directory); a corrupt file is an error at start, never silently reset.
//
// Between saves, each delivery is made durable on its own by Commit: one
// JSON line appended to a journal beside the file (PATH.journal) and
// fsynced before the next alert is delivered. Open replays the journal
// over the file, and Save folds it in and removes it. So a crash (even
// SIGKILL) loses no record of a delivery the classifier answered and the
// poller committed; at most the one alert whose answer was in flight is
// delivered again.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Version is the state file format.
const Version = 1

// Entry is one delivered alert.
type Entry struct {
	UniqueValue string    `json:"unique_value"`
	DeliveredAt time.Time `json:"delivered_at"`
	Result      string    `json:"result"`          // classifier result, or "rejected"
	Error       string    `json:"error,omitempty"` // why it was rejected
}

type file struct {
	Version int                         `json:"version"`
	Feeds   map[string]map[string]Entry `json:"feeds"` // feed name → alert id → entry
}

// Store is the delivered-alert memory. It is safe for concurrent use; one
// process owns a state file (two Stores on one file lose commits).
type Store struct {
	path string

	mu    sync.Mutex
	feeds map[string]map[string]Entry
	dirty bool

	// jmu orders journal appends and saves: a save folds in every
	// committed entry before it removes the journal.
	jmu     sync.Mutex
	journal *os.File // open for appending; nil until the first Commit after a save
}

// journalLine is one committed delivery in the journal.
type journalLine struct {
	Feed  string `json:"feed"`
	ID    string `json:"id"`
	Entry Entry  `json:"entry"`
}

// JournalPath is where the journal of the state file at path lives.
func JournalPath(path string) string { return path + ".journal" }

// Open loads the state file at path; a missing file is an empty state.
func Open(path string) (*Store, error) {
	s := &Store{path: path, feeds: map[string]map[string]Entry{}, dirty: true}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.replay(); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v): repair it, or remove it to deliver every alert in the feeds' windows again", path, err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("state file %s: version %d, want %d", path, f.Version, Version)
	}
	for name, alerts := range f.Feeds {
		if alerts != nil {
			s.feeds[name] = alerts
		}
	}
	s.dirty = false
	if err := s.replay(); err != nil {
		return nil, err
	}
	return s, nil
}

// replay applies the journal's entries. A last line cut short by a crash
// is the one write that did not complete, so it is ignored; a bad line
// before the last is corruption.
func (s *Store) replay() error {
	data, err := os.ReadFile(JournalPath(s.path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state journal: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var l journalLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Feed == "" || l.ID == "" {
			if i == len(lines)-1 { // no newline after it: the write was cut
				continue
			}
			return fmt.Errorf("state journal %s is corrupt at line %d: repair or remove it (removing it may deliver its alerts again)", JournalPath(s.path), i+1)
		}
		s.mark(l.Feed, l.ID, l.Entry)
	}
	return nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Delivered reports whether alert id of feed was delivered.
func (s *Store) Delivered(feed, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.feeds[feed][id]
	return ok
}

// Get returns the entry of alert id of feed.
func (s *Store) Get(feed, id string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.feeds[feed][id]
	return e, ok
}

// Mark remembers alert id of feed as delivered, in memory: the next Save
// makes it durable. Commit makes it durable at once.
func (s *Store) Mark(feed, id string, e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mark(feed, id, e)
}

// Commit remembers alert id of feed as delivered and makes that durable
// before it returns (journal append and fsync). On error the alert is
// still remembered in memory, and the next Save writes it.
func (s *Store) Commit(feed, id string, e Entry) error {
	line, err := json.Marshal(journalLine{Feed: feed, ID: id, Entry: e})
	if err != nil {
		return fmt.Errorf("commit delivery: %w", err)
	}
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.Mark(feed, id, e)
	if s.journal == nil {
		f, err := os.OpenFile(JournalPath(s.path), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("commit delivery: %w", err)
		}
		if err := syncDir(filepath.Dir(s.path)); err != nil {
			f.Close()
			return fmt.Errorf("commit delivery: %w", err)
		}
		s.journal = f
	}
	if _, err := s.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("commit delivery: %w", err)
	}
	if err := s.journal.Sync(); err != nil {
		return fmt.Errorf("commit delivery: %w", err)
	}
	return nil
}

// Close releases the journal. The store stays usable.
func (s *Store) Close() error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.journal == nil {
		return nil
	}
	err := s.journal.Close()
	s.journal = nil
	return err
}

// mark records an entry; s.mu is held.
func (s *Store) mark(feed, id string, e Entry) {
	if s.feeds[feed] == nil {
		s.feeds[feed] = map[string]Entry{}
	}
	s.feeds[feed][id] = e
	s.dirty = true
}

// Retain forgets the alerts of feed that are not in current (the alerts
// its query returns now) and returns how many it forgot.
func (s *Store) Retain(feed string, current map[string]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.feeds[feed] {
		if !current[id] {
			delete(s.feeds[feed], id)
			n++
		}
	}
	if n > 0 {
		s.dirty = true
	}
	return n
}

// Count returns how many alerts of feed are remembered.
func (s *Store) Count(feed string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.feeds[feed])
}

// Prune forgets feeds not in names (feeds removed from the configuration)
// and returns how many alerts that dropped.
func (s *Store) Prune(names []string) int {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for name, alerts := range s.feeds {
		if !keep[name] {
			n += len(alerts)
			delete(s.feeds, name)
			s.dirty = true
		}
	}
	return n
}

// Save writes the state if it changed since the last save, then removes
// the journal, whose entries the file now holds.
func (s *Store) Save() error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	data, err := json.MarshalIndent(file{Version: Version, Feeds: s.feeds}, "", "  ")
	s.dirty = false
	s.mu.Unlock()
	if err == nil {
		err = writeAtomic(s.path, append(data, '\n'))
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("save state: %w", err)
	}
	if s.journal != nil {
		s.journal.Close()
		s.journal = nil
	}
	if err := os.Remove(JournalPath(s.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save state: remove journal: %w", err)
	}
	return nil
}

// writeAtomic replaces path with data so that a crash leaves either the
// old or the new content.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries (a new or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
