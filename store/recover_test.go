package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A process killed between badger creating a memtable file and sizing it
// leaves an empty *.mem file; the store still opens, its blocks intact.
func TestOpenAfterKillLeftEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	bs := seq(t, 3, 100, 100)
	put(t, s, bs...)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "00009.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Options{Dir: dir}); err != nil {
		t.Fatalf("Open with an empty memtable file = %v", err)
	}
	defer s.Close()
	for _, b := range bs {
		got, err := s.Get(t.Context(), b.Cid())
		if err != nil || !bytes.Equal(got.RawData(), b.RawData()) {
			t.Fatalf("Get %s after reopen = %v", b.Cid(), err)
		}
	}
}
