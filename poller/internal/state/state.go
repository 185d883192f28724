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
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// Store is the delivered-alert memory. It is safe for concurrent use.
type Store struct {
	path string

	mu    sync.Mutex
	feeds map[string]map[string]Entry
	dirty bool

	saveMu sync.Mutex // orders whole saves
}

// Open loads the state file at path; a missing file is an empty state.
func Open(path string) (*Store, error) {
	s := &Store{path: path, feeds: map[string]map[string]Entry{}, dirty: true}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
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
	return s, nil
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

// Mark remembers alert id of feed as delivered.
func (s *Store) Mark(feed, id string, e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
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

// Save writes the state if it changed since the last save.
func (s *Store) Save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
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
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
