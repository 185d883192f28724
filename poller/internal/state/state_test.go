package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	s.Mark("incoming", "id-1", Entry{UniqueValue: "1", DeliveredAt: at, Result: "matched"})
	s.Mark("incoming", "id-2", Entry{UniqueValue: "2", DeliveredAt: at, Result: "rejected", Error: "status 400: bad"})
	s.Mark("other", "id-9", Entry{UniqueValue: "9", DeliveredAt: at, Result: "unmatched"})
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v (%v), want 0600", st.Mode(), err)
	}

	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Delivered("incoming", "id-1") || !again.Delivered("other", "id-9") || again.Delivered("incoming", "id-9") {
		t.Error("delivered alerts not restored per feed")
	}
	if e, _ := again.Get("incoming", "id-2"); e.Result != "rejected" || e.Error != "status 400: bad" || !e.DeliveredAt.Equal(at) {
		t.Errorf("entry %+v", e)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the state file (temp files left?)", len(entries))
	}
}

func TestRetainAndPrune(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		s.Mark("f", id, Entry{UniqueValue: id})
	}
	s.Mark("gone", "x", Entry{UniqueValue: "x"})
	if n := s.Retain("f", map[string]bool{"b": true, "new": true}); n != 2 {
		t.Errorf("Retain forgot %d, want 2", n)
	}
	if s.Count("f") != 1 || !s.Delivered("f", "b") || s.Delivered("f", "new") {
		t.Errorf("after Retain: count %d", s.Count("f"))
	}
	if n := s.Prune([]string{"f"}); n != 1 || s.Count("gone") != 0 {
		t.Errorf("Prune dropped %d", n)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content string
		want    string
	}{
		{name: "corrupt", content: `{"version":1,"feeds":{`, want: "is corrupt"},
		{name: "not an object", content: `[]`, want: "is corrupt"},
		{name: "wrong version", content: `{"version":7,"feeds":{}}`, want: "version 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("Open: %v, want an error naming the file and %q", err, tc.want)
			}
		})
	}
	if _, err := Open(dir); err == nil {
		t.Error("Open of a directory succeeded")
	}
}

func TestSaveFailureKeepsChanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	s, err := Open(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.Mark("f", "a", Entry{UniqueValue: "a"})
	if err := s.Save(); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(filepath.Join(dir, "state.json"))
	if err != nil || !again.Delivered("f", "a") {
		t.Errorf("change lost after a failed save: %v", err)
	}
}

func TestSaveWritesOnlyWhenChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, _ := Open(path)
	if err := s.Save(); err != nil { // a new state is written once
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("unchanged state was written again")
	}
}

// FuzzOpen checks loading arbitrary state files never panics.
func FuzzOpen(f *testing.F) {
	f.Add(`{"version":1,"feeds":{"a":{"x":{"unique_value":"1","result":"matched"}}}}`)
	f.Add(`{"version":1,"feeds":{"a":null}}`)
	f.Add(`{}`)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data string) {
		p := filepath.Join(dir, "s.json")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(p); err == nil {
			s.Count("a")
			s.Delivered("a", "x")
		}
	})
}

func TestCommitIsDurableWithoutSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Commit("incoming", id, Entry{UniqueValue: id, Result: "matched"}); err != nil {
			t.Fatal(err)
		}
	}
	// No Save: the process dies here. A new process sees both deliveries.
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Delivered("incoming", "a") || !again.Delivered("incoming", "b") {
		t.Fatal("committed deliveries lost without a save")
	}
	if err := again.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(JournalPath(path)); !os.IsNotExist(err) {
		t.Errorf("journal left after a save: %v", err)
	}
	third, err := Open(path)
	if err != nil || third.Count("incoming") != 2 {
		t.Errorf("after folding the journal in: count %d, %v", third.Count("incoming"), err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestJournalReplay(t *testing.T) {
	line := `{"feed":"f","id":"a","entry":{"unique_value":"1","delivered_at":"2024-05-01T12:00:00Z","result":"matched"}}`
	cases := []struct {
		name    string
		journal string
		want    []string // delivered ids
		err     string
	}{
		{name: "whole lines", journal: line + "\n" + strings.Replace(line, `"a"`, `"b"`, 1) + "\n", want: []string{"a", "b"}},
		{name: "last line cut by a crash", journal: line + "\n" + line[:40], want: []string{"a"}},
		{name: "empty", journal: "", want: nil},
		{name: "corrupt middle line", journal: "garbage\n" + line + "\n", err: "corrupt at line 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(JournalPath(path), []byte(tc.journal), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Count("f") != len(tc.want) {
				t.Errorf("count %d, want %d", s.Count("f"), len(tc.want))
			}
			for _, id := range tc.want {
				if !s.Delivered("f", id) {
					t.Errorf("%s not delivered", id)
				}
			}
		})
	}
}
