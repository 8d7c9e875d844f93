package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"
)

// RawBlock is data as a CIDv1 raw sha2-256 block.
func RawBlock(t testing.TB, data []byte) blocks.Block {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blocks.NewBlockWithCid(data, cid.NewCidV1(cid.Raw, mh))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Revision is a fixture revision: its manifest and every block of its DAG.
type Revision struct {
	Manifest *manifest.Manifest
	Blocks   []cid.Cid
	// Leaves are the raw blocks, Nodes the dag-pb ones (file nodes, root).
	Leaves, Nodes []cid.Cid

	byHash map[string]blocks.Block
}

// Block returns the fixture block of c, or nil.
func (r Revision) Block(c cid.Cid) blocks.Block { return r.byHash[string(c.Hash())] }

// File is the content of one fixture file, cut into raw leaves of Chunk
// bytes (default 64 KiB).
type File struct {
	Path  string
	Data  []byte
	Chunk int
}

// BuildRevision builds a revision of repo from files and puts its blocks
// into st (without committing it). Same files give the same commit.
func BuildRevision(t testing.TB, st *store.Store, kind manifest.Kind, repo string, files []File) Revision {
	t.Helper()
	ctx := context.Background()
	var rev Revision
	v1 := cid.V1Builder{Codec: cid.DagProtobuf, MhType: multihash.SHA2_256}
	root := merkledag.NodeWithData([]byte{0x08, 0x01}) // UnixFS Directory
	if err := root.SetCidBuilder(v1); err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Version: manifest.Version, Type: kind, Repo: repo,
		Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	var put []blocks.Block
	for _, f := range files {
		chunk := f.Chunk
		if chunk == 0 {
			chunk = 64 << 10
		}
		node := merkledag.NodeWithData([]byte{0x08, 0x02}) // UnixFS File
		if err := node.SetCidBuilder(v1); err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(f.Data) || off == 0; off += chunk {
			leaf := RawBlock(t, f.Data[off:min(off+chunk, len(f.Data))])
			put = append(put, leaf)
			rev.Leaves = append(rev.Leaves, leaf.Cid())
			if err := node.AddRawLink("", &ipld.Link{Cid: leaf.Cid(), Size: uint64(len(leaf.RawData()))}); err != nil {
				t.Fatal(err)
			}
			if len(f.Data) == 0 {
				break
			}
		}
		put = append(put, node)
		rev.Nodes = append(rev.Nodes, node.Cid())
		if err := root.AddRawLink(f.Path, &ipld.Link{Cid: node.Cid(), Size: uint64(len(f.Data))}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(f.Data)
		m.Files = append(m.Files, manifest.File{Path: f.Path, Size: int64(len(f.Data)),
			SHA256: hex.EncodeToString(sum[:]), BlobID: manifest.GitBlobID(f.Data), CID: node.Cid()})
	}
	put = append(put, root)
	rev.Nodes = append(rev.Nodes, root.Cid())
	m.Root = root.Cid()
	m.Sort()
	c, err := m.DeriveCommit()
	if err != nil {
		t.Fatal(err)
	}
	m.Commit = c
	if st != nil {
		if err := st.PutMany(ctx, put); err != nil {
			t.Fatal(err)
		}
	}
	rev.byHash = make(map[string]blocks.Block, len(put))
	for _, b := range put {
		rev.Blocks = append(rev.Blocks, b.Cid())
		rev.byHash[string(b.Cid().Hash())] = b
	}
	rev.Manifest = m
	return rev
}

// Bytes is n deterministic pseudo-random bytes from seed.
func Bytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := 0; i < n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	return b
}

func sortedStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c.Hash())
	}
	slices.Sort(out)
	return out
}
