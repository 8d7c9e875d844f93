package store

import (
	"bytes"
	"errors"
	"testing"

	blocks "github.com/ipfs/go-block-format"
)

func lend(t *testing.T, s *Store, b blocks.Block) ([]byte, func()) {
	t.Helper()
	d, release, err := s.Lend(t.Context(), b.Cid())
	if err != nil {
		t.Fatalf("Lend(%d-byte block) = %v", len(b.RawData()), err)
	}
	return d, release
}

func TestLend(t *testing.T) {
	s := openStore(t, t.TempDir())
	bs := seq(t, 7, 5, 1000, 16<<10, 100<<10+3, 1<<20, 3<<20+1)
	put(t, s, bs...)
	for _, b := range bs {
		d, release := lend(t, s, b)
		if !bytes.Equal(d, b.RawData()) {
			t.Errorf("Lend(%d-byte block) = %d other bytes", len(b.RawData()), len(d))
		}
		release()
	}
	if _, _, err := s.Lend(t.Context(), seq(t, 99, 20<<10)[0].Cid()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lend(absent) = %v, want ErrNotFound", err)
	}
	if len(s.packs.lent) != 0 {
		t.Errorf("after every release, %d blocks still counted as lent", len(s.packs.lent))
	}
}

// TestLendThroughGC: bytes lent out stay what was checked while GC deletes
// their block and gives pack space back around them; released, their
// range goes at the next GC.
func TestLendThroughGC(t *testing.T) {
	old := packMax
	packMax = packSlack + 1<<20 // small packs: pack 0 fills and is left
	t.Cleanup(func() { packMax = old })
	s := openStore(t, t.TempDir())
	keep := seq(t, 1, 64<<10)
	put(t, s, keep...)
	pin(t, s, keep...)
	bs := seq(t, 2, 1<<20, 1<<20)
	put(t, s, bs[0])
	for i := 0; len(packIDs(t, s)) == 1 && i < 100; i++ {
		put(t, s, seq(t, uint64(100+i), 1<<20)...) // dead too, punched
	}
	put(t, s, bs[1]) // in the pack being written
	if l, _ := locOf(t, s, bs[0]); l.pack != 0 || len(packIDs(t, s)) != 2 {
		t.Fatalf("block at %+v, packs %v; want pack 0 of [0 1]", l, packIDs(t, s))
	}
	var lent [][]byte
	var releases []func()
	for _, b := range bs {
		d, release := lend(t, s, b)
		lent, releases = append(lent, d), append(releases, release)
	}
	gc(t, s)
	for i, b := range bs {
		if !bytes.Equal(lent[i], b.RawData()) {
			t.Errorf("lent bytes of block %d changed when GC deleted it", i)
		}
	}
	for _, release := range releases {
		release()
	}
	before := allocatedAt(t, packPath(s, 0))
	gc(t, s)
	if after := allocatedAt(t, packPath(s, 0)); punching && after > before-1<<20 {
		t.Errorf("pack 0 allocates %d bytes after GC, %d before: the released block's range stayed", after, before)
	}
}
