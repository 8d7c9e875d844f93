package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
	blocks "github.com/ipfs/go-block-format"
)

// TestConcurrent runs imports, reads, listings, ref deletions and GC at
// once, with value-log mappings released on every access and value-log
// files small enough to rotate often, and checks every committed revision
// reads back whole.
func TestConcurrent(t *testing.T) {
	defer store.SetReleaseEvery(1 << 20)()
	s, err := store.OpenSmallLog(t.TempDir(), 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 2 {
		wg.Go(func() {
			for i := range 8 {
				release, err := s.Hold(ctx)
				if err != nil {
					errs <- err
					return
				}
				files := []storetest.File{{Path: "w.bin", Data: storetest.Bytes(uint64(w*100+i), 700<<10), Chunk: 128 << 10}}
				rev := storetest.BuildRevision(t, s, manifest.Model, fmt.Sprintf("acme/w%d", w), files)
				err = s.Commit(ctx, rev.Manifest, fmt.Sprintf("r%d", i), rev.Blocks)
				release()
				if err != nil {
					errs <- err
					return
				}
				if i%3 == 2 {
					if err := s.DeleteRef(ctx, manifest.Model, fmt.Sprintf("acme/w%d", w), fmt.Sprintf("r%d", i-1)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 6 {
			if _, err := s.GC(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			ch, errf, err := s.AllKeysChanWithErr(ctx)
			if err != nil {
				errs <- err
				return
			}
			for c := range ch {
				// A block may be deleted by GC between listing and reading.
				if err := s.View(ctx, c, func([]byte) error { return nil }); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs <- err
				}
			}
			if err := errf(); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		loose := storetest.RawBlock(t, storetest.Bytes(999, 300<<10))
		for range 30 {
			if err := s.PutMany(ctx, []blocks.Block{loose}); err != nil {
				errs <- err
				return
			}
			if _, err := s.Stat(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	refs, err := s.Refs(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2*(8-2) {
		t.Errorf("%d refs, want %d", len(refs), 2*(8-2))
	}
	for _, r := range refs {
		m, err := s.Resolve(ctx, r.Kind, r.Repo, r.Revision)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			h := sha256.New()
			if err := readDAG(ctx, s, f.CID, func(b []byte) { h.Write(b) }); err != nil {
				t.Fatalf("%s@%s: %v", r.Repo, r.Revision, err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
				t.Errorf("%s@%s %s: sha256 %s, want %s", r.Repo, r.Revision, f.Path, got, f.SHA256)
			}
		}
	}
}
