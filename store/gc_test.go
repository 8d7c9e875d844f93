package store_test

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
)

// diskUsage is the bytes dir's files occupy on disk (value-log files are
// sparse beyond what was written).
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += store.Allocated(fi)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGCReclaimsDisk deletes most blocks and checks that GC gives their
// value-log space back to the file system, and that what was kept reads
// back intact.
func TestGCReclaimsDisk(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := store.OpenSmallLog(dir, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := newBlockSource(256 << 10)
	var keep []blocks.Block
	for i := range 12 {
		batch := make([]blocks.Block, 16)
		for j := range batch {
			batch[j] = src.next()
			batch[j] = copyBlock(t, batch[j])
		}
		if err := s.PutMany(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			keep = append(keep, batch...)
		}
	}
	for _, b := range keep {
		if err := s.Pin(ctx, b.Cid(), "keep"); err != nil {
			t.Fatal(err)
		}
	}
	before := diskUsage(t, dir)
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := diskUsage(t, dir)
	if st.Blocks != 11*16 || st.Bytes != 11*16*256<<10 {
		t.Errorf("GC = %+v, want %d blocks of 256 KiB", st, 11*16)
	}
	freed := before - after
	if freed < st.Bytes/2 {
		t.Errorf("GC freed %d bytes on disk (%d -> %d) for %d bytes of deleted blocks, want at least half", freed, before, after, st.Bytes)
	}
	t.Logf("disk %d -> %d bytes after deleting %d bytes of blocks", before, after, st.Bytes)
	for _, b := range keep {
		got, err := s.Get(ctx, b.Cid())
		if err != nil || string(got.RawData()) != string(b.RawData()) {
			t.Fatalf("kept block %s after value-log GC: %v", b.Cid(), err)
		}
	}
}

func copyBlock(t *testing.T, b blocks.Block) blocks.Block {
	nb, err := blocks.NewBlockWithCid(append([]byte(nil), b.RawData()...), b.Cid())
	if err != nil {
		t.Fatal(err)
	}
	return nb
}
