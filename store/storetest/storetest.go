package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Opener returns a new, empty store. The suite closes it.
type Opener func(t *testing.T) *store.Store

// Run runs the whole suite against stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, *store.Store)
	}{
		{"Blocks", testBlocks},
		{"Sizes", testSizes},
		{"Aliasing", testAliasing},
		{"View", testView},
		{"ReadInto", testReadInto},
		{"AllKeysChan", testAllKeys},
		{"Commit", testCommit},
		{"CommitMissingBlocks", testCommitMissing},
		{"CommitIdempotent", testCommitIdempotent},
		{"RefLifecycle", testRefLifecycle},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ResolveErrors", testResolveErrors},
		{"InvalidArguments", testInvalidArgs},
		{"ReposOf", testReposOf},
		{"Pins", testPins},
		{"GC", testGC},
		{"GCWaitsForHold", testGCHold},
		{"Stat", testStat},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func testBlocks(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := RawBlock(t, []byte("alpha")), RawBlock(t, Bytes(1, 300<<10))
	if ok, err := s.Has(ctx, a.Cid()); err != nil || ok {
		t.Fatalf("Has(absent) = %v, %v; want false, nil", ok, err)
	}
	_, err := s.Get(ctx, a.Cid())
	if !errors.Is(err, store.ErrNotFound) || !ipld.IsNotFound(err) {
		t.Fatalf("Get(absent) error = %v; want ErrNotFound and ipld.IsNotFound", err)
	}
	if _, err := s.GetSize(ctx, a.Cid()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSize(absent) error = %v; want ErrNotFound", err)
	}
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany(ctx, []blocks.Block{b, a, b}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []blocks.Block{a, b} {
		got, err := s.Get(ctx, want.Cid())
		if err != nil {
			t.Fatalf("Get(%s): %v", want.Cid(), err)
		}
		if !bytes.Equal(got.RawData(), want.RawData()) || !got.Cid().Equals(want.Cid()) {
			t.Errorf("Get(%s) = %d bytes cid %s, want %d bytes", want.Cid(), len(got.RawData()), got.Cid(), len(want.RawData()))
		}
		if ok, err := s.Has(ctx, want.Cid()); err != nil || !ok {
			t.Errorf("Has(%s) = %v, %v; want true", want.Cid(), ok, err)
		}
		if n, err := s.GetSize(ctx, want.Cid()); err != nil || n != len(want.RawData()) {
			t.Errorf("GetSize(%s) = %d, %v; want %d", want.Cid(), n, err, len(want.RawData()))
		}
	}
	// Get copies: changing the result does not change the store.
	got, _ := s.Get(ctx, a.Cid())
	got.RawData()[0] ^= 0xff
	again, _ := s.Get(ctx, a.Cid())
	if !bytes.Equal(again.RawData(), a.RawData()) {
		t.Errorf("Get result aliases stored bytes")
	}
	if err := s.DeleteBlock(ctx, a.Cid()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, a.Cid()); ok {
		t.Errorf("Has after DeleteBlock = true")
	}
	if err := s.DeleteBlock(ctx, a.Cid()); err != nil {
		t.Errorf("DeleteBlock(absent) = %v, want nil", err)
	}
	n, err := s.PutManyNew(ctx, []blocks.Block{a, b})
	if err != nil || n != int64(len(a.RawData())) {
		t.Errorf("PutManyNew(a, b) = %d, %v; want %d (only a is new)", n, err, len(a.RawData()))
	}
	if err := s.PutMany(ctx, nil); err != nil {
		t.Errorf("PutMany(nil) = %v", err)
	}
}

// sizeClasses straddle the inline/value-log threshold and varint widths.
var sizeClasses = []int{0, 1, 127, 128, 1000, 1023, 1024, 1025, 16383, 16384, 16385, 256 << 10, 1<<20 - 1, 1 << 20}

func testSizes(t *testing.T, s *store.Store) {
	ctx := t.Context()
	var total int64
	for i, n := range sizeClasses {
		b := RawBlock(t, Bytes(uint64(100+i), n))
		if err := s.Put(ctx, b); err != nil {
			t.Fatalf("Put(%d bytes): %v", n, err)
		}
		total += int64(n)
		if got, err := s.GetSize(ctx, b.Cid()); err != nil || got != n {
			t.Errorf("GetSize(%d-byte block) = %d, %v", n, got, err)
		}
		g, err := s.Get(ctx, b.Cid())
		if err != nil || !bytes.Equal(g.RawData(), b.RawData()) {
			t.Errorf("Get(%d-byte block) = %v, mismatch or error %v", n, g, err)
		}
	}
	st, err := s.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != int64(len(sizeClasses)) || st.BlockBytes != total {
		t.Errorf("Stat = %d blocks %d bytes, want %d blocks %d bytes", st.Blocks, st.BlockBytes, len(sizeClasses), total)
	}
}

func testAliasing(t *testing.T, s *store.Store) {
	ctx := t.Context()
	nd := merkledag.NodeWithData([]byte("some dag-pb node"))
	v0 := nd.Cid()
	if v0.Version() != 0 {
		t.Fatalf("fixture CID %s is not v0", v0)
	}
	v1 := cid.NewCidV1(cid.DagProtobuf, v0.Hash())
	raw := cid.NewCidV1(cid.Raw, v0.Hash())
	if err := s.Put(ctx, nd); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cid.Cid{v0, v1, raw} {
		b, err := s.Get(ctx, c)
		if err != nil {
			t.Fatalf("Get(%s) after Put(v0): %v", c, err)
		}
		if !b.Cid().Equals(c) {
			t.Errorf("Get(%s).Cid() = %s, want the CID asked for", c, b.Cid())
		}
		if !bytes.Equal(b.RawData(), nd.RawData()) {
			t.Errorf("Get(%s) bytes differ", c)
		}
		if ok, _ := s.Has(ctx, c); !ok {
			t.Errorf("Has(%s) = false", c)
		}
	}
	st, _ := s.Stat(ctx)
	if st.Blocks != 1 {
		t.Errorf("Stat.Blocks = %d after storing one block under three CIDs, want 1", st.Blocks)
	}
	if err := s.DeleteBlock(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, v0); ok {
		t.Errorf("Has(v0) after DeleteBlock(raw alias) = true")
	}
}

func testView(t *testing.T, s *store.Store) {
	ctx := t.Context()
	b := RawBlock(t, Bytes(7, 512<<10))
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := s.View(ctx, b.Cid(), func(v []byte) error { got = bytes.Clone(v); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.RawData()) {
		t.Errorf("View bytes differ")
	}
	sentinel := errors.New("stop")
	if err := s.View(ctx, b.Cid(), func([]byte) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("View callback error = %v, want %v", err, sentinel)
	}
	called := false
	err := s.View(ctx, RawBlock(t, []byte("absent")).Cid(), func([]byte) error { called = true; return nil })
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Errorf("View(absent) = %v, called %v; want ErrNotFound, not called", err, called)
	}
	// HashOnRead catches a block stored under a CID it does not match.
	liar, _ := blocks.NewBlockWithCid([]byte("not what the cid says"), RawBlock(t, []byte("other")).Cid())
	if err := s.Put(ctx, liar); err != nil {
		t.Fatal(err)
	}
	s.HashOnRead(true)
	defer s.HashOnRead(false)
	if _, err := s.Get(ctx, liar.Cid()); !errors.Is(err, store.ErrHashMismatch) {
		t.Errorf("Get(corrupt) with HashOnRead = %v, want ErrHashMismatch", err)
	}
	if _, err := s.Get(ctx, b.Cid()); err != nil {
		t.Errorf("Get(good) with HashOnRead = %v", err)
	}
}

// testReadInto reads every size class into exact and larger buffers, and
// refuses a buffer too small, an absent block and (with HashOnRead) a
// block that does not match its CID.
func testReadInto(t *testing.T, s *store.Store) {
	ctx := t.Context()
	buf := make([]byte, 1<<20+10)
	for i, n := range sizeClasses {
		b := RawBlock(t, Bytes(uint64(200+i), n))
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		for _, dst := range [][]byte{buf[:n], buf} {
			clear(dst)
			if got, err := s.ReadInto(ctx, b.Cid(), dst); err != nil || got != n || !bytes.Equal(dst[:got], b.RawData()) {
				t.Errorf("ReadInto(%d-byte block, %d-byte buffer) = %d, %v, or wrong bytes", n, len(dst), got, err)
			}
		}
		if n > 0 {
			if _, err := s.ReadInto(ctx, b.Cid(), buf[:n-1]); !errors.Is(err, io.ErrShortBuffer) {
				t.Errorf("ReadInto(%d-byte block, %d-byte buffer) = %v, want io.ErrShortBuffer", n, n-1, err)
			}
		}
	}
	if _, err := s.ReadInto(ctx, RawBlock(t, []byte("absent")).Cid(), buf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadInto(absent) = %v, want ErrNotFound", err)
	}
	for _, n := range []int{100, 300 << 10} { // in badger, in a pack
		liar, _ := blocks.NewBlockWithCid(Bytes(uint64(n), n), RawBlock(t, []byte("other")).Cid())
		if err := s.Put(ctx, liar); err != nil {
			t.Fatal(err)
		}
		s.HashOnRead(true)
		if _, err := s.ReadInto(ctx, liar.Cid(), buf); !errors.Is(err, store.ErrHashMismatch) {
			t.Errorf("ReadInto(%d-byte block stored under another CID) with HashOnRead = %v, want ErrHashMismatch", n, err)
		}
		s.HashOnRead(false)
		if err := s.DeleteBlock(ctx, liar.Cid()); err != nil {
			t.Fatal(err)
		}
	}
}

func testAllKeys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	var want []cid.Cid
	for i := range 50 {
		b := RawBlock(t, Bytes(uint64(i), 100+i))
		want = append(want, b.Cid())
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := s.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []cid.Cid
	for c := range ch {
		got = append(got, c)
	}
	if !slices.Equal(sortedStrings(got), sortedStrings(want)) {
		t.Errorf("AllKeysChan gave %d keys, want the %d stored", len(got), len(want))
	}
	// Cancelling stops the listing.
	cctx, cancel := context.WithCancel(ctx)
	ch, errf, err := s.AllKeysChanWithErr(cctx)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	for range ch {
	}
	if err := errf(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("AllKeysChanWithErr after cancel: %v", err)
	}
	// A listing nobody reads does not keep Close waiting.
	if _, err := s.AllKeysChan(ctx); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close with an abandoned listing = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Close hangs on an abandoned AllKeysChan")
	}
}

func files(seed uint64) []File {
	return []File{
		{Path: "config.json", Data: []byte(fmt.Sprintf(`{"seed": %d}`, seed))},
		{Path: "model.safetensors", Data: Bytes(seed, 300<<10), Chunk: 100 << 10},
	}
}

func testCommit(t *testing.T, s *store.Store) {
	ctx := t.Context()
	rev := BuildRevision(t, s, manifest.Model, "acme/tiny", files(1))
	m := rev.Manifest
	if err := s.Commit(ctx, m, "main", rev.Blocks); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"main", m.Commit} {
		got, err := s.Resolve(ctx, manifest.Model, "acme/tiny", r)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", r, err)
		}
		if got.Commit != m.Commit || !got.Root.Equals(m.Root) || len(got.Files) != 2 {
			t.Errorf("Resolve(%s) = commit %s root %s, want %s %s", r, got.Commit, got.Root, m.Commit, m.Root)
		}
	}
	got, err := s.Manifest(ctx, manifest.Model, "acme/tiny", m.Commit)
	if err != nil || got.Commit != m.Commit {
		t.Fatalf("Manifest = %v, %v", got, err)
	}
	refs, err := s.Refs(ctx, manifest.Model, "acme/tiny")
	if err != nil || len(refs) != 1 {
		t.Fatalf("Refs = %v, %v; want one", refs, err)
	}
	r := refs[0]
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	if r.Kind != manifest.Model || r.Repo != "acme/tiny" || r.Revision != "main" || r.Commit != m.Commit ||
		!r.Root.Equals(m.Root) || r.Size != size || time.Since(r.Updated) > time.Hour {
		t.Errorf("Refs[0] = %+v, want main -> %s size %d", r, m.Commit, size)
	}
	pins, err := s.Pins(ctx)
	if err != nil || len(pins) != 1 || !pins[0].CID.Equals(m.Root) || !strings.HasPrefix(pins[0].Name, "rev:") {
		t.Errorf("Pins after Commit = %v, %v; want the root pinned by its revision", pins, err)
	}
	// The same repo name as a dataset is another namespace.
	if _, err := s.Resolve(ctx, manifest.Dataset, "acme/tiny", "main"); !errors.Is(err, store.ErrRepoNotFound) {
		t.Errorf("Resolve(dataset acme/tiny) = %v, want ErrRepoNotFound", err)
	}
}

func testCommitMissing(t *testing.T, s *store.Store) {
	ctx := t.Context()
	rev := BuildRevision(t, nil, manifest.Model, "acme/missing", files(2))
	// Store every block but the second leaf.
	missing := rev.Leaves[1]
	for _, c := range rev.Blocks {
		if c.Equals(missing) {
			continue
		}
		b := mustBlockFor(t, rev, c)
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Commit(ctx, rev.Manifest, "main", rev.Blocks)
	if !errors.Is(err, store.ErrMissingBlocks) || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("Commit with a missing block = %v, want ErrMissingBlocks naming %s", err, missing)
	}
	// The DAG is walked: leaving the block out of the list does not help.
	err = s.Commit(ctx, rev.Manifest, "main", nil)
	if !errors.Is(err, store.ErrMissingBlocks) || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("Commit with a missing block, no block list = %v, want ErrMissingBlocks naming %s", err, missing)
	}
	// A listed block outside the DAG must be there too.
	stray := RawBlock(t, []byte("listed but never stored")).Cid()
	must(t, s.Put(ctx, mustBlockFor(t, rev, missing)))
	err = s.Commit(ctx, rev.Manifest, "main", append(slices.Clone(rev.Blocks), stray))
	if !errors.Is(err, store.ErrMissingBlocks) || !strings.Contains(err.Error(), stray.String()) {
		t.Fatalf("Commit listing an absent block = %v, want ErrMissingBlocks naming %s", err, stray)
	}
	if _, err := s.Resolve(ctx, manifest.Model, "acme/missing", "main"); !errors.Is(err, store.ErrRepoNotFound) {
		t.Errorf("Resolve after refused Commit = %v, want ErrRepoNotFound", err)
	}
	if repos, _ := s.ReposOf(ctx, rev.Leaves[0]); len(repos) != 0 {
		t.Errorf("ReposOf after refused Commit = %v, want none", repos)
	}
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Errorf("Pins after refused Commit = %v, want none", pins)
	}
	// With every block there and no list, the walk alone builds the index.
	must(t, s.Commit(ctx, rev.Manifest, "main", nil))
	for _, c := range rev.Blocks {
		if repos, err := s.ReposOf(ctx, c); err != nil || !slices.Equal(repos, []string{"acme/missing"}) {
			t.Fatalf("ReposOf(%s) after Commit without a list = %v, %v", c, repos, err)
		}
	}
}

func mustBlockFor(t *testing.T, rev Revision, c cid.Cid) blocks.Block {
	t.Helper()
	b := rev.Block(c)
	if b == nil {
		t.Fatalf("no fixture block %s", c)
	}
	return b
}

func testCommitIdempotent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	rev := BuildRevision(t, s, manifest.Dataset, "acme/data", files(3))
	for i := range 3 {
		if err := s.Commit(ctx, rev.Manifest, "main", rev.Blocks); err != nil {
			t.Fatalf("Commit #%d: %v", i+1, err)
		}
	}
	refs, err := s.Refs(ctx, manifest.Dataset, "")
	if err != nil || len(refs) != 1 {
		t.Fatalf("Refs after 3 identical commits = %v, %v; want one", refs, err)
	}
	st, _ := s.Stat(ctx)
	if st.Revisions != 1 || st.Commits != 1 || st.Repos != 1 {
		t.Errorf("Stat after 3 identical commits = %+v", st)
	}
	pins, _ := s.Pins(ctx)
	if len(pins) != 1 {
		t.Errorf("Pins after 3 identical commits = %v, want 1", pins)
	}
}

func testRefLifecycle(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const repo = "acme/life"
	r1 := BuildRevision(t, s, manifest.Model, repo, files(10))
	r2 := BuildRevision(t, s, manifest.Model, repo, files(11))
	must(t, s.Commit(ctx, r1.Manifest, "main", r1.Blocks))
	must(t, s.Commit(ctx, r1.Manifest, "v1.0", r1.Blocks))
	// Moving main keeps r1 alive through v1.0.
	must(t, s.Commit(ctx, r2.Manifest, "main", r2.Blocks))
	if m, err := s.Resolve(ctx, manifest.Model, repo, "main"); err != nil || m.Commit != r2.Manifest.Commit {
		t.Fatalf("Resolve(main) after move = %v, %v; want %s", m, err, r2.Manifest.Commit)
	}
	if m, err := s.Resolve(ctx, manifest.Model, repo, r1.Manifest.Commit); err != nil || m.Commit != r1.Manifest.Commit {
		t.Fatalf("Resolve(r1 commit) while v1.0 holds it = %v, %v", m, err)
	}
	refs, _ := s.Refs(ctx, manifest.Model, repo)
	if names := refNames(refs); !slices.Equal(names, []string{"main", "v1.0"}) {
		t.Errorf("Refs = %v, want [main v1.0]", names)
	}
	// Deleting v1.0 drops r1's manifest.
	must(t, s.DeleteRef(ctx, manifest.Model, repo, "v1.0"))
	if _, err := s.Resolve(ctx, manifest.Model, repo, r1.Manifest.Commit); !errors.Is(err, store.ErrRevisionNotFound) {
		t.Errorf("Resolve(r1 commit) after its last ref went = %v, want ErrRevisionNotFound", err)
	}
	if _, err := s.Manifest(ctx, manifest.Model, repo, r1.Manifest.Commit); !errors.Is(err, store.ErrRevisionNotFound) {
		t.Errorf("Manifest(r1) after its last ref went = %v, want ErrRevisionNotFound", err)
	}
	if err := s.DeleteRef(ctx, manifest.Model, repo, "v1.0"); !errors.Is(err, store.ErrRevisionNotFound) {
		t.Errorf("DeleteRef(v1.0) twice = %v, want ErrRevisionNotFound", err)
	}
	must(t, s.DeleteRef(ctx, manifest.Model, repo, "main"))
	if _, err := s.Resolve(ctx, manifest.Model, repo, "main"); !errors.Is(err, store.ErrRepoNotFound) {
		t.Errorf("Resolve after every ref went = %v, want ErrRepoNotFound", err)
	}
	if _, err := s.Refs(ctx, manifest.Model, repo); !errors.Is(err, store.ErrRepoNotFound) {
		t.Errorf("Refs(gone repo) = %v, want ErrRepoNotFound", err)
	}
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Errorf("Pins after every ref went = %v, want none", pins)
	}
	// Listing across kinds and repos.
	d := BuildRevision(t, s, manifest.Dataset, "acme/set", files(12))
	must(t, s.Commit(ctx, r1.Manifest, "main", r1.Blocks))
	must(t, s.Commit(ctx, d.Manifest, "main", d.Blocks))
	all, err := s.Refs(ctx, "", "")
	if err != nil || len(all) != 2 || all[0].Kind != manifest.Dataset || all[1].Kind != manifest.Model {
		t.Errorf("Refs(all) = %+v, %v; want the dataset then the model", all, err)
	}
}

// testConcurrentCommits moves one ref from many goroutines at once: in the
// end the ref names one of the commits and every other manifest and root
// pin is gone (the transactions conflict and retry, none is lost half-way).
func testConcurrentCommits(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const n = 6
	revs := make([]Revision, n)
	for i := range revs {
		revs[i] = BuildRevision(t, s, manifest.Model, "acme/race", files(uint64(80+i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range revs {
		wg.Go(func() { errs <- s.Commit(ctx, revs[i].Manifest, "main", revs[i].Blocks) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Commit: %v", err)
		}
	}
	m, err := s.Resolve(ctx, manifest.Model, "acme/race", "main")
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, r := range revs {
		_, err := s.Manifest(ctx, manifest.Model, "acme/race", r.Manifest.Commit)
		switch {
		case err == nil:
			live++
			if r.Manifest.Commit != m.Commit {
				t.Errorf("manifest %s outlives the ref that moved away from it", r.Manifest.Commit)
			}
		case !errors.Is(err, store.ErrRevisionNotFound):
			t.Errorf("Manifest(%s) = %v", r.Manifest.Commit, err)
		}
	}
	pins, _ := s.Pins(ctx)
	if live != 1 || len(pins) != 1 || !pins[0].CID.Equals(m.Root) {
		t.Errorf("after racing commits: %d live manifests, pins %v; want 1 and the root of %s", live, pins, m.Commit)
	}
}

func refNames(refs []store.Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Revision)
	}
	return out
}

func testResolveErrors(t *testing.T, s *store.Store) {
	ctx := t.Context()
	rev := BuildRevision(t, s, manifest.Model, "acme/err", files(20))
	must(t, s.Commit(ctx, rev.Manifest, "main", rev.Blocks))
	tests := []struct {
		kind     manifest.Kind
		repo     string
		revision string
		want     error
	}{
		{manifest.Model, "acme/err", "dev", store.ErrRevisionNotFound},
		{manifest.Model, "acme/err", strings.Repeat("a", 40), store.ErrRevisionNotFound},
		{manifest.Model, "acme/other", "main", store.ErrRepoNotFound},
		{manifest.Dataset, "acme/err", "main", store.ErrRepoNotFound},
		{manifest.Model, "../x", "main", store.ErrInvalidArgument},
		{"weights", "acme/err", "main", store.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s_%s@%s", tc.kind, tc.repo, tc.revision), func(t *testing.T) {
			_, err := s.Resolve(ctx, tc.kind, tc.repo, tc.revision)
			if !errors.Is(err, tc.want) {
				t.Errorf("Resolve(%s, %s, %s) = %v, want %v", tc.kind, tc.repo, tc.revision, err, tc.want)
			}
			if tc.want != store.ErrInvalidArgument && !strings.Contains(fmt.Sprint(err), tc.repo) {
				t.Errorf("error %q does not name the repo", err)
			}
		})
	}
}

func testInvalidArgs(t *testing.T, s *store.Store) {
	ctx := t.Context()
	rev := BuildRevision(t, s, manifest.Model, "acme/args", files(30))
	for _, name := range []string{"", "a\x00b", "line\nbreak", strings.Repeat("x", store.MaxNameLen+1), "\xff"} {
		if err := s.Commit(ctx, rev.Manifest, name, rev.Blocks); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("Commit(revision %q) = %v, want ErrInvalidArgument", name, err)
		}
		if err := s.Pin(ctx, rev.Manifest.Root, name); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("Pin(name %q) = %v, want ErrInvalidArgument", name, err)
		}
	}
	if err := s.Pin(ctx, rev.Manifest.Root, "rev:model:x/y@z"); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Pin(reserved name) = %v, want ErrInvalidArgument", err)
	}
	if err := s.Commit(ctx, nil, "main", nil); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Commit(nil) = %v, want ErrInvalidArgument", err)
	}
	bad := *rev.Manifest
	bad.Commit = "nothex"
	if err := s.Commit(ctx, &bad, "main", rev.Blocks); err == nil {
		t.Errorf("Commit(manifest with bad commit) = nil, want error")
	}
	if refs, _ := s.Refs(ctx, "", ""); len(refs) != 0 {
		t.Errorf("Refs after refused commits = %v, want none", refs)
	}
}

func testReposOf(t *testing.T, s *store.Store) {
	ctx := t.Context()
	shared := File{Path: "shared.bin", Data: Bytes(99, 200<<10)}
	a := BuildRevision(t, s, manifest.Model, "acme/a", append(files(40), shared))
	b := BuildRevision(t, s, manifest.Dataset, "beta/b", append(files(41), shared))
	must(t, s.Commit(ctx, a.Manifest, "main", a.Blocks))
	must(t, s.Commit(ctx, b.Manifest, "main", b.Blocks))
	sharedLeaf := RawBlock(t, shared.Data[:64<<10]).Cid()
	check := func(c cid.Cid, want ...string) {
		t.Helper()
		got, err := s.ReposOf(ctx, c)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ReposOf(%s) = %v, %v; want %v", c, got, err, want)
		}
	}
	check(sharedLeaf, "acme/a", "beta/b")
	check(a.Manifest.Root, "acme/a")
	check(cid.NewCidV0(a.Manifest.Root.Hash()), "acme/a") // any CID of the same bytes
	check(RawBlock(t, []byte("nowhere")).Cid())
	must(t, s.DeleteRef(ctx, manifest.Model, "acme/a", "main"))
	check(sharedLeaf, "beta/b")
	check(a.Manifest.Root)
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.IndexEntries == 0 {
		t.Errorf("GC after DeleteRef deleted no stale index entries")
	}
	check(sharedLeaf, "beta/b")
}

func testPins(t *testing.T, s *store.Store) {
	ctx := t.Context()
	rev := BuildRevision(t, s, manifest.Model, "acme/pinned", files(50))
	root := rev.Manifest.Root
	must(t, s.Pin(ctx, root, "keep"))
	must(t, s.Pin(ctx, cid.NewCidV0(root.Hash()), "also")) // v0 alias: same pin CID
	pins, err := s.Pins(ctx)
	if err != nil || len(pins) != 2 {
		t.Fatalf("Pins = %v, %v; want 2", pins, err)
	}
	for _, p := range pins {
		if !p.CID.Equals(root) {
			t.Errorf("pin %q on %s, want %s", p.Name, p.CID, root)
		}
	}
	gc, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Blocks != 0 {
		t.Errorf("GC with the DAG pinned deleted %d blocks", gc.Blocks)
	}
	for _, c := range rev.Blocks {
		if ok, _ := s.Has(ctx, c); !ok {
			t.Errorf("pinned block %s gone after GC", c)
		}
	}
	must(t, s.Unpin(ctx, root))
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Errorf("Pins after Unpin = %v", pins)
	}
	must(t, s.Unpin(ctx, root))
	gc, err = s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Blocks != int64(len(rev.Blocks)) {
		t.Errorf("GC after Unpin deleted %d blocks, want %d", gc.Blocks, len(rev.Blocks))
	}
	// A pin of an absent block is allowed and harmless to GC.
	must(t, s.Pin(ctx, RawBlock(t, []byte("later")).Cid(), "future"))
	if _, err := s.GC(ctx); err != nil {
		t.Errorf("GC with a pin of an absent block: %v", err)
	}
}

func testGC(t *testing.T, s *store.Store) {
	ctx := t.Context()
	keep := BuildRevision(t, s, manifest.Model, "acme/keep", files(60))
	drop := BuildRevision(t, s, manifest.Model, "acme/drop", files(61))
	must(t, s.Commit(ctx, keep.Manifest, "main", keep.Blocks))
	must(t, s.Commit(ctx, drop.Manifest, "main", drop.Blocks))
	loose := RawBlock(t, Bytes(62, 123456))
	must(t, s.Put(ctx, loose))
	before, _ := s.Stat(ctx)

	gc, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Blocks != 1 || gc.Bytes != int64(len(loose.RawData())) {
		t.Errorf("GC = %+v, want the one loose block (%d bytes)", gc, len(loose.RawData()))
	}
	if ok, _ := s.Has(ctx, loose.Cid()); ok {
		t.Errorf("loose block survived GC")
	}
	must(t, s.DeleteRef(ctx, manifest.Model, "acme/drop", "main"))
	gc, err = s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dropBytes int64
	for _, c := range drop.Blocks {
		n, err := s.GetSize(ctx, c)
		if err == nil {
			t.Errorf("block %s of a deleted revision survived GC", c)
		}
		_ = n
	}
	for _, f := range drop.Manifest.Files {
		dropBytes += f.Size
	}
	if gc.Blocks != int64(len(drop.Blocks)) || gc.Bytes < dropBytes {
		t.Errorf("GC after DeleteRef = %+v, want %d blocks, at least %d bytes", gc, len(drop.Blocks), dropBytes)
	}
	for _, c := range keep.Blocks {
		if b, err := s.Get(ctx, c); err != nil {
			t.Errorf("referenced block %s: %v", c, err)
		} else if err := rehash(b); err != nil {
			t.Error(err)
		}
	}
	after, _ := s.Stat(ctx)
	want := before.Blocks - 1 - int64(len(drop.Blocks))
	if after.Blocks != want {
		t.Errorf("Stat.Blocks after GC = %d, want %d", after.Blocks, want)
	}
	if gc, err := s.GC(ctx); err != nil || gc.Blocks != 0 {
		t.Errorf("second GC = %+v, %v; want nothing deleted", gc, err)
	}
}

func testGCHold(t *testing.T, s *store.Store) {
	ctx := t.Context()
	release, err := s.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loose := RawBlock(t, []byte("importing"))
	must(t, s.Put(ctx, loose))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.GC(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GC while held = %v, want it to wait until its context ends", err)
	}
	if ok, _ := s.Has(ctx, loose.Cid()); !ok {
		t.Errorf("held block deleted")
	}
	release()
	release() // twice is harmless
	if gc, err := s.GC(ctx); err != nil || gc.Blocks != 1 {
		t.Errorf("GC after release = %+v, %v; want the loose block deleted", gc, err)
	}
}

func testStat(t *testing.T, s *store.Store) {
	ctx := t.Context()
	st, err := s.Stat(ctx)
	if err != nil || st != (store.Stat{DiskBytes: st.DiskBytes}) || st.DiskBytes < 0 {
		t.Fatalf("Stat(empty) = %+v, %v", st, err)
	}
	empty := st.DiskBytes
	shared := File{Path: "big.bin", Data: Bytes(70, 400<<10)}
	a := BuildRevision(t, s, manifest.Model, "acme/s1", []File{shared})
	b := BuildRevision(t, s, manifest.Model, "acme/s2", []File{shared, {Path: "x.txt", Data: []byte("x")}})
	must(t, s.Commit(ctx, a.Manifest, "main", a.Blocks))
	must(t, s.Commit(ctx, a.Manifest, "v1", a.Blocks))
	must(t, s.Commit(ctx, b.Manifest, "main", b.Blocks))
	must(t, s.Pin(ctx, a.Manifest.Root, "extra"))
	blockBytes, distinct := int64(0), map[string]bool{}
	for _, rev := range []Revision{a, b} {
		for _, c := range rev.Blocks {
			if distinct[string(c.Hash())] {
				continue
			}
			distinct[string(c.Hash())] = true
			blk := rev.Block(c)
			blockBytes += int64(len(blk.RawData()))
		}
	}
	want := store.Stat{
		Blocks: int64(len(distinct)), BlockBytes: blockBytes,
		RepoBytes: 2*int64(len(shared.Data)) + 1, // a once (two refs, one commit), b once
		Repos:     2, Revisions: 3, Commits: 2, Pins: 1,
	}
	st, err = s.Stat(ctx)
	disk := st.DiskBytes
	st.DiskBytes = 0
	if err != nil || st != want {
		t.Errorf("Stat = %+v, %v; want %+v", st, err, want)
	}
	// Badger's files are sparse and preallocated, so only the blocks'
	// bytes are sure to show.
	if disk < empty+int64(len(shared.Data)) {
		t.Errorf("Stat().DiskBytes = %d, empty store %d: want at least %d more for the blocks", disk, empty, len(shared.Data))
	}
}

func testClosed(t *testing.T, s *store.Store) {
	ctx := t.Context()
	b := RawBlock(t, []byte("x"))
	must(t, s.Put(ctx, b))
	must(t, s.Close())
	c := b.Cid()
	calls := map[string]error{
		"Close": s.Close(),
		"Put":   s.Put(ctx, b),
		"Pin":   s.Pin(ctx, c, "x"),
		"Unpin": s.Unpin(ctx, c),
	}
	_, calls["Has"] = s.Has(ctx, c)
	_, calls["Get"] = s.Get(ctx, c)
	_, calls["GetSize"] = s.GetSize(ctx, c)
	calls["View"] = s.View(ctx, c, func([]byte) error { return nil })
	calls["DeleteBlock"] = s.DeleteBlock(ctx, c)
	_, calls["AllKeysChan"] = s.AllKeysChan(ctx)
	calls["Commit"] = s.Commit(ctx, &manifest.Manifest{Type: manifest.Model}, "main", nil)
	_, calls["Resolve"] = s.Resolve(ctx, manifest.Model, "a/b", "main")
	_, calls["Manifest"] = s.Manifest(ctx, manifest.Model, "a/b", "main")
	_, calls["Refs"] = s.Refs(ctx, "", "")
	calls["DeleteRef"] = s.DeleteRef(ctx, manifest.Model, "a/b", "main")
	_, calls["ReposOf"] = s.ReposOf(ctx, c)
	_, calls["Pins"] = s.Pins(ctx)
	_, calls["GC"] = s.GC(ctx)
	_, calls["Stat"] = s.Stat(ctx)
	_, calls["Hold"] = s.Hold(ctx)
	for name, err := range calls {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed store = %v, want ErrClosed", name, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func rehash(b blocks.Block) error {
	got, err := b.Cid().Prefix().Sum(b.RawData())
	if err != nil {
		return err
	}
	if !bytes.Equal(got.Hash(), b.Cid().Hash()) {
		return fmt.Errorf("block %s: bytes hash to %s", b.Cid(), got)
	}
	return nil
}
