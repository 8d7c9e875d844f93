package store_test

import (
	"errors"
	"testing"

	"github.com/cairnhub/cairn/manifest"
	blocks "github.com/ipfs/go-block-format"

	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

func openDisk(t *testing.T) *store.Store {
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openMem(t *testing.T) *store.Store {
	s, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuiteDisk(t *testing.T)     { storetest.Run(t, openDisk) }
func TestSuiteInMemory(t *testing.T) { storetest.Run(t, openMem) }

// TestSuiteReleasing runs the suite with the value-log mappings released
// after every access, so every read and write races a release.
func TestSuiteReleasing(t *testing.T) {
	defer store.SetReleaseEvery(1)()
	storetest.Run(t, openDisk)
}

// TestDiskFull asks for more free space than the disk has: writes fail
// with ErrDiskFull and leave the store as it was.
func TestDiskFull(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rev := storetest.BuildRevision(t, s, manifest.Model, "acme/full", []storetest.File{{Path: "a.bin", Data: storetest.Bytes(1, 100<<10)}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(store.Options{Dir: dir, MinFreeBytes: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := storetest.RawBlock(t, []byte("no room"))
	if err := s.Put(ctx, b); !errors.Is(err, store.ErrDiskFull) {
		t.Errorf("Put on a full disk = %v, want ErrDiskFull", err)
	}
	if ok, _ := s.Has(ctx, b.Cid()); ok {
		t.Errorf("block stored although Put failed")
	}
	if err := s.Commit(ctx, rev.Manifest, "main", rev.Blocks); !errors.Is(err, store.ErrDiskFull) {
		t.Errorf("Commit on a full disk = %v, want ErrDiskFull", err)
	}
	if _, err := s.Resolve(ctx, manifest.Model, "acme/full", "main"); !errors.Is(err, store.ErrRepoNotFound) {
		t.Errorf("Resolve after refused Commit = %v, want ErrRepoNotFound", err)
	}
	// Blocks already there cost nothing: putting them again succeeds.
	if err := s.PutMany(ctx, []blocks.Block{rev.Block(rev.Leaves[0])}); err != nil {
		t.Errorf("PutMany of present blocks on a full disk = %v, want nil", err)
	}
}
