package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"
)

// wideRevision puts a revision of one file of n small leaves under
// 174-link dag-pb nodes (the chunker's shape: a 4 GiB file of 256 KiB
// blocks has 16k leaves) and returns its manifest and block list.
func wideRevision(tb testing.TB, s *store.Store, repo string, n int) (*manifest.Manifest, []cid.Cid) {
	tb.Helper()
	ctx := context.Background()
	v1 := cid.V1Builder{Codec: cid.DagProtobuf, MhType: multihash.SHA2_256}
	var all []cid.Cid
	var level []ipld.Link
	var batch []blocks.Block
	h := sha256.New()
	var size int64
	for i := range n {
		data := []byte(fmt.Sprintf("%s leaf %08d", repo, i))
		h.Write(data)
		size += int64(len(data))
		b := storetest.RawBlock(tb, data)
		batch = append(batch, b)
		all = append(all, b.Cid())
		level = append(level, ipld.Link{Cid: b.Cid(), Size: uint64(len(data))})
	}
	for len(level) > 1 {
		var next []ipld.Link
		for start := 0; start < len(level); start += 174 {
			nd := merkledag.NodeWithData([]byte{0x08, 0x02})
			if err := nd.SetCidBuilder(v1); err != nil {
				tb.Fatal(err)
			}
			for _, l := range level[start:min(start+174, len(level))] {
				if err := nd.AddRawLink("", &l); err != nil {
					tb.Fatal(err)
				}
			}
			batch = append(batch, nd)
			all = append(all, nd.Cid())
			next = append(next, ipld.Link{Cid: nd.Cid()})
		}
		level = next
	}
	file := level[0].Cid
	root := merkledag.NodeWithData([]byte{0x08, 0x01})
	if err := root.SetCidBuilder(v1); err != nil {
		tb.Fatal(err)
	}
	if err := root.AddRawLink("big.bin", &ipld.Link{Cid: file, Size: uint64(size)}); err != nil {
		tb.Fatal(err)
	}
	batch = append(batch, root)
	all = append(all, root.Cid())
	for start := 0; start < len(batch); start += 4096 {
		if err := s.PutMany(ctx, batch[start:min(start+4096, len(batch))]); err != nil {
			tb.Fatal(err)
		}
	}
	m := &manifest.Manifest{Version: manifest.Version, Type: manifest.Model, Repo: repo,
		Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Root: root.Cid(),
		Files: []manifest.File{{Path: "big.bin", Size: size, SHA256: hex.EncodeToString(h.Sum(nil)),
			BlobID: "0123456789abcdef0123456789abcdef01234567", LFS: true, CID: file}}}
	c, err := m.DeriveCommit()
	if err != nil {
		tb.Fatal(err)
	}
	m.Commit = c
	return m, all
}

// TestCommitWide commits a revision with more blocks than one badger
// transaction holds (the index goes in batches) and checks index and GC.
func TestCommitWide(t *testing.T) {
	ctx := t.Context()
	s := openDisk(t)
	defer s.Close()
	const n = 20_000
	m, all := wideRevision(t, s, "acme/wide", n)
	if err := s.Commit(ctx, m, "main", all); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cid.Cid{all[0], all[n/2], all[n-1], all[len(all)-1]} {
		if repos, err := s.ReposOf(ctx, c); err != nil || !slices.Equal(repos, []string{"acme/wide"}) {
			t.Errorf("ReposOf(%s) = %v, %v", c, repos, err)
		}
	}
	loose := storetest.RawBlock(t, []byte("loose"))
	if err := s.Put(ctx, loose); err != nil {
		t.Fatal(err)
	}
	gc, err := s.GC(ctx)
	if err != nil || gc.Blocks != 1 {
		t.Errorf("GC = %+v, %v; want only the loose block deleted", gc, err)
	}
	st, err := s.Stat(ctx)
	if err != nil || st.Blocks != int64(len(all)) || st.RepoBytes != m.Files[0].Size {
		t.Errorf("Stat = %+v, %v; want %d blocks, %d repo bytes", st, err, len(all), m.Files[0].Size)
	}
}

// BenchmarkCommit measures Commit of a revision shaped like a 4 GiB file
// of 256 KiB blocks (16k leaves): DAG walk, index, final transaction.
func BenchmarkCommit(b *testing.B) {
	s, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range b.N {
		b.StopTimer()
		m, all := wideRevision(b, s, fmt.Sprintf("acme/r%d", i), 16_384)
		b.StartTimer()
		if err := s.Commit(ctx, m, "main", all); err != nil {
			b.Fatal(err)
		}
	}
}
