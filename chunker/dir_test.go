package chunker

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	bchunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	balancedlayout "github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	h "github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	format "github.com/ipfs/go-ipld-format"
)

// TestBuildDirMatchesBoxo builds the same nested tree with BuildDir and
// with boxo's BasicDirectory over boxo-imported files (what Kubo does for
// `ipfs add -r --raw-leaves --cid-version=1`): the roots must be equal.
func TestBuildDirMatchesBoxo(t *testing.T) {
	ctx := t.Context()
	const chunk = 1024
	files := map[string][]byte{
		"config.json":                  []byte(`{"a":1}`),
		"empty.txt":                    nil,
		"weights/model.bin":            randBytes(1, 300*chunk+5),
		"weights/deeper/tokenizer.bin": randBytes(2, 3*chunk),
	}
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	kubo := func(data []byte) format.Node {
		p := h.DagBuilderParams{Maxlinks: h.DefaultLinksPerBlock, RawLeaves: true, CidBuilder: merkledag.V1CidPrefix(), Dagserv: dag}
		db, err := p.New(bchunk.NewSizeSplitter(bytes.NewReader(data), chunk))
		if err != nil {
			t.Fatal(err)
		}
		nd, err := balancedlayout.Layout(db)
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
	newDir := func() uio.Directory {
		d, err := uio.NewBasicDirectory(dag, uio.WithCidBuilder(merkledag.V1CidPrefix()))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dirNode := func(d uio.Directory) format.Node {
		nd, err := d.GetNode()
		if err != nil {
			t.Fatal(err)
		}
		if err := dag.Add(ctx, nd); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	deeper, weights, top := newDir(), newDir(), newDir()
	add := func(d uio.Directory, name string, nd format.Node) {
		if err := d.AddChild(ctx, name, nd); err != nil {
			t.Fatal(err)
		}
	}
	add(deeper, "tokenizer.bin", kubo(files["weights/deeper/tokenizer.bin"]))
	add(weights, "model.bin", kubo(files["weights/model.bin"]))
	add(weights, "deeper", dirNode(deeper))
	add(top, "config.json", kubo(files["config.json"]))
	add(top, "empty.txt", kubo(files["empty.txt"]))
	add(top, "weights", dirNode(weights))
	want := dirNode(top).Cid()

	st := newMemStore()
	var entries []DirEntry
	for p, data := range files {
		res, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), p, Options{Strategy: Fixed, FixedSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, DirEntry{Path: p, CID: res.CID, Size: res.Size})
	}
	root, dirBlocks, err := BuildDir(ctx, st, entries)
	if err != nil {
		t.Fatal(err)
	}
	if root != want {
		t.Errorf("BuildDir root = %s, want %s (boxo BasicDirectory)", root, want)
	}
	if len(dirBlocks) != 3 {
		t.Errorf("BuildDir made %d directory blocks, want 3", len(dirBlocks))
	}
	// Walk reaches every block of every file through the directories.
	n := 0
	if err := Walk(ctx, st, root, func(cid.Cid, blockT) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(st.m) {
		t.Errorf("Walk(dir) visited %d blocks, store holds %d", n, len(st.m))
	}
}

func TestBuildDirErrors(t *testing.T) {
	ctx := t.Context()
	st := newMemStore()
	c := rawCID([]byte("x"))
	for _, tc := range []struct {
		name    string
		entries []DirEntry
		want    string
	}{
		{"dotdot", []DirEntry{{Path: "../x", CID: c}}, ""},
		{"duplicate", []DirEntry{{Path: "a", CID: c}, {Path: "a", CID: c}}, "duplicate"},
		{"file and dir", []DirEntry{{Path: "a", CID: c}, {Path: "a/b", CID: c}}, "a"},
		{"undefined cid", []DirEntry{{Path: "a"}}, "undefined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := BuildDir(ctx, st, tc.entries)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("BuildDir = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	// A directory too large for one block is refused, not sharded.
	var many []DirEntry
	for i := range 30000 {
		many = append(many, DirEntry{Path: strings.Repeat("n", 20) + string(rune('a'+i%26)) + itoa(i), CID: c, Size: 1})
	}
	if _, _, err := BuildDir(context.Background(), st, many); err == nil || !strings.Contains(err.Error(), "sharded") {
		t.Errorf("BuildDir(30000 entries) = %v, want the too-large error", err)
	}
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}
