package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// damage flips one byte in the middle of a packed block's body.
func damage(t *testing.T, s *Store, b blocks.Block) {
	t.Helper()
	l, _ := locOf(t, s, b)
	f, err := os.OpenFile(packPath(s, l.pack), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{^b.RawData()[l.n/2]}, l.off+int64(l.n/2)); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptBlockNeverReadAndHealed(t *testing.T) {
	ctx := t.Context()
	told := make(chan cid.Cid, 8)
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, OnCorrupt: func(c cid.Cid) { told <- c }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	bs := seq(t, 9, 100<<10, 100<<10)
	put(t, s, bs...)
	damage(t, s, bs[0])

	// Verified by default: no read hands out the damaged bytes.
	if _, err := s.Get(ctx, bs[0].Cid()); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Get of a damaged block = %v, want ErrHashMismatch", err)
	}
	for name, read := range map[string]func(func([]byte) error) error{
		"View":     func(fn func([]byte) error) error { return s.View(ctx, bs[0].Cid(), fn) },
		"ViewOnce": func(fn func([]byte) error) error { return s.ViewOnce(ctx, bs[0].Cid(), fn) },
		"ReadOnce": func(fn func([]byte) error) error {
			data, release, err := s.ReadOnce(ctx, bs[0].Cid())
			if err != nil {
				return err
			}
			defer release()
			return fn(data)
		},
	} {
		called := false
		if err := read(func([]byte) error { called = true; return nil }); !errors.Is(err, ErrHashMismatch) || called {
			t.Fatalf("%s of a damaged block = %v (fn called: %v)", name, err, called)
		}
	}
	if b, err := s.Get(ctx, bs[1].Cid()); err != nil || !bytes.Equal(b.RawData(), bs[1].RawData()) {
		t.Fatalf("the intact block: %v", err)
	}
	bad, err := s.BadBlocks(ctx)
	if err != nil || len(bad) != 1 || bad[0] != bs[0].Cid() {
		t.Fatalf("BadBlocks = %v, %v", bad, err)
	}
	select {
	case c := <-told:
		if c != bs[0].Cid() {
			t.Fatalf("OnCorrupt(%s), want %s", c, bs[0].Cid())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnCorrupt was not called")
	}

	// The mark outlives the process.
	s.Close()
	if s, err = Open(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if bad, _ := s.BadBlocks(ctx); len(bad) != 1 {
		t.Fatalf("after reopen BadBlocks = %v", bad)
	}

	// Good bytes under a wrong CID do not heal anything; the right ones do,
	// through PutMany as a re-import would.
	forged, _ := blocks.NewBlockWithCid(bs[1].RawData(), bs[0].Cid())
	if n, err := s.Repair(ctx, []blocks.Block{forged}); err != nil || n != 0 {
		t.Fatalf("Repair with wrong bytes = %d, %v", n, err)
	}
	if n, err := s.PutManyNew(ctx, []blocks.Block{bs[0]}); err != nil || n != int64(len(bs[0].RawData())) {
		t.Fatalf("PutMany of the pristine block = %d, %v (want it rewritten)", n, err)
	}
	if b, err := s.Get(ctx, bs[0].Cid()); err != nil || !bytes.Equal(b.RawData(), bs[0].RawData()) {
		t.Fatalf("Get after rewrite: %v", err)
	}
	if bad, _ := s.BadBlocks(ctx); len(bad) != 0 {
		t.Fatalf("BadBlocks after rewrite = %v", bad)
	}
	// Once healed, a PutMany of the same block is a no-op again.
	if n, err := s.PutManyNew(ctx, []blocks.Block{bs[0]}); err != nil || n != 0 {
		t.Fatalf("PutMany of a stored good block = %d, %v", n, err)
	}
}

func TestScrubFindsAndRepairHeals(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	bs := seq(t, 3, 64<<10, 200<<10, 300<<10)
	put(t, s, bs...)
	damage(t, s, bs[1])
	res, err := s.Scrub(ctx, ScrubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 3 || len(res.Bad) != 1 || !bytes.Equal(res.Bad[0].Hash(), bs[1].Cid().Hash()) {
		t.Fatalf("Scrub = %+v", res)
	}
	if n, err := s.Repair(ctx, []blocks.Block{bs[1], bs[2]}); err != nil || n != 1 {
		t.Fatalf("Repair = %d, %v (want the bad block rewritten, the good one left)", n, err)
	}
	if res, err := s.Scrub(ctx, ScrubOptions{}); err != nil || len(res.Bad) != 0 {
		t.Fatalf("Scrub after repair = %+v, %v", res, err)
	}
}

// Two repairs of one block at once (the daemon's worker and `cairn verify
// --repair`) heal it once: the count of bad blocks must not drift below
// the marks, or the next rot of that block would never be rewritten.
func TestConcurrentRepairsCountOnce(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	bs := seq(t, 5, 200<<10)
	put(t, s, bs...)
	for round := range 3 {
		damage(t, s, bs[0])
		if _, err := s.Get(ctx, bs[0].Cid()); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("round %d: Get of a damaged block = %v", round, err)
		}
		const repairs = 8
		healed := make(chan int, repairs)
		for range repairs {
			go func() {
				n, err := s.Repair(ctx, []blocks.Block{bs[0]})
				if err != nil {
					t.Error(err)
				}
				healed <- n
			}()
		}
		total := 0
		for range repairs {
			total += <-healed
		}
		if total != 1 {
			t.Fatalf("round %d: %d repairs report %d blocks rewritten, want 1", round, repairs, total)
		}
		if got := s.badCount.Load(); got != 0 {
			t.Fatalf("round %d: bad count %d after the repair, want 0", round, got)
		}
		if b, err := s.Get(ctx, bs[0].Cid()); err != nil || !bytes.Equal(b.RawData(), bs[0].RawData()) {
			t.Fatalf("round %d: Get after repair: %v", round, err)
		}
	}
}
