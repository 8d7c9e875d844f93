package chunker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cairnhub/cairn/manifest"
	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
)

var dagPrefix = merkledag.V1CidPrefix()

// fileNode builds the UnixFS file node over children.
func fileNode(children []leaf) (leaf, blocks.Block, error) {
	fs := ft.NewFSNode(ft.TFile)
	for _, c := range children {
		fs.AddBlockSize(c.size)
	}
	data, err := fs.GetBytes()
	if err != nil {
		return leaf{}, nil, fmt.Errorf("encode file node: %w", err)
	}
	nd := merkledag.NodeWithData(data)
	if err := nd.SetCidBuilder(dagPrefix); err != nil {
		return leaf{}, nil, err
	}
	tsize := uint64(0)
	for _, c := range children {
		if err := nd.AddRawLink("", &format.Link{Size: c.tsize, Cid: c.c}); err != nil {
			return leaf{}, nil, err
		}
		tsize += c.tsize
	}
	raw := nd.RawData()
	blk, err := blocks.NewBlockWithCid(raw, nd.Cid())
	if err != nil {
		return leaf{}, nil, err
	}
	return leaf{c: nd.Cid(), size: fs.FileSize(), tsize: tsize + uint64(len(raw))}, blk, nil
}

// balanced builds the file DAG over leaves in Kubo's balanced layout: every
// node covers an aligned run of MaxLinks^height leaves, the last one
// truncated. It returns the root and the file nodes, bottom-up.
func balanced(leaves []leaf) (leaf, []blocks.Block, error) {
	if len(leaves) == 0 {
		return leaf{}, nil, fmt.Errorf("chunker: no leaves")
	}
	var nodes []blocks.Block
	level := leaves
	for len(level) > 1 {
		next := make([]leaf, 0, (len(level)+MaxLinks-1)/MaxLinks)
		for i := 0; i < len(level); i += MaxLinks {
			l, blk, err := fileNode(level[i:min(i+MaxLinks, len(level))])
			if err != nil {
				return leaf{}, nil, err
			}
			next = append(next, l)
			nodes = append(nodes, blk)
		}
		level = next
	}
	return level[0], nodes, nil
}

// DirEntry is one file of a directory tree.
type DirEntry struct {
	// Path is slash-separated and relative ("dir/file.bin").
	Path string
	// CID is the root of the file's DAG.
	CID cid.Cid
	// Size is the file size in bytes.
	Size int64
}

type dirNode struct {
	files map[string]DirEntry
	dirs  map[string]*dirNode
}

// BuildDir builds nested UnixFS directories holding entries and stores
// them. It returns the root directory and the directory blocks it made
// (the files' blocks are not repeated). Link sizes (Tsize) of file entries
// are the cumulative DAG size, read from the root block when put can also
// Get blocks (the store can), else the file size.
func BuildDir(ctx context.Context, put Putter, entries []DirEntry) (cid.Cid, []cid.Cid, error) {
	root := &dirNode{files: map[string]DirEntry{}, dirs: map[string]*dirNode{}}
	for _, e := range entries {
		if err := manifest.ValidatePath(e.Path); err != nil {
			return cid.Undef, nil, fmt.Errorf("build dir: %w", err)
		}
		if !e.CID.Defined() {
			return cid.Undef, nil, fmt.Errorf("build dir: %s: undefined CID", e.Path)
		}
		parts := strings.Split(e.Path, "/")
		d := root
		for i, p := range parts[:len(parts)-1] {
			if _, clash := d.files[p]; clash {
				return cid.Undef, nil, fmt.Errorf("build dir: %s: %s is a file", e.Path, strings.Join(parts[:i+1], "/"))
			}
			sub, ok := d.dirs[p]
			if !ok {
				sub = &dirNode{files: map[string]DirEntry{}, dirs: map[string]*dirNode{}}
				d.dirs[p] = sub
			}
			d = sub
		}
		last := parts[len(parts)-1]
		if _, dup := d.files[last]; dup {
			return cid.Undef, nil, fmt.Errorf("build dir: %s: duplicate path", e.Path)
		}
		if _, clash := d.dirs[last]; clash {
			return cid.Undef, nil, fmt.Errorf("build dir: %s: is also a directory", e.Path)
		}
		d.files[last] = e
	}
	get, _ := put.(Getter)
	var made []blocks.Block
	top, err := buildDirNode(ctx, get, "", root, &made)
	if err != nil {
		return cid.Undef, nil, err
	}
	im := &importer{put: put, seen: map[cid.Cid]struct{}{}}
	if err := im.store(ctx, made); err != nil {
		return cid.Undef, nil, fmt.Errorf("build dir: %w", err)
	}
	cids := make([]cid.Cid, 0, len(made))
	for _, b := range made {
		if !slices.Contains(cids, b.Cid()) {
			cids = append(cids, b.Cid())
		}
	}
	return top.c, cids, nil
}

func buildDirNode(ctx context.Context, get Getter, at string, d *dirNode, made *[]blocks.Block) (leaf, error) {
	if err := context.Cause(ctx); err != nil {
		return leaf{}, err
	}
	nd := merkledag.NodeWithData(ft.FolderPBData())
	if err := nd.SetCidBuilder(dagPrefix); err != nil {
		return leaf{}, err
	}
	var tsize uint64
	for name, sub := range d.dirs {
		l, err := buildDirNode(ctx, get, at+name+"/", sub, made)
		if err != nil {
			return leaf{}, err
		}
		if err := nd.AddRawLink(name, &format.Link{Size: l.tsize, Cid: l.c}); err != nil {
			return leaf{}, err
		}
		tsize += l.tsize
	}
	for name, e := range d.files {
		ts, err := treeSize(ctx, get, e)
		if err != nil {
			return leaf{}, fmt.Errorf("build dir: %s: %w", e.Path, err)
		}
		if err := nd.AddRawLink(name, &format.Link{Size: ts, Cid: e.CID}); err != nil {
			return leaf{}, err
		}
		tsize += ts
	}
	raw := nd.RawData() // links sorted by name
	if len(raw) > MaxBlockSize {
		return leaf{}, fmt.Errorf("build dir: directory %q: %d entries make a %d-byte node, above %d (sharded directories are not supported)", strings.TrimSuffix(at, "/"), len(d.dirs)+len(d.files), len(raw), MaxBlockSize)
	}
	blk, err := blocks.NewBlockWithCid(raw, nd.Cid())
	if err != nil {
		return leaf{}, err
	}
	*made = append(*made, blk)
	return leaf{c: nd.Cid(), tsize: tsize + uint64(len(raw))}, nil
}

// treeSize is the cumulative encoded size of a file's DAG, as Kubo records
// it in directory links.
func treeSize(ctx context.Context, get Getter, e DirEntry) (uint64, error) {
	if e.CID.Type() == cid.Raw || get == nil {
		return uint64(e.Size), nil
	}
	b, err := get.Get(ctx, e.CID)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", e.CID, err)
	}
	nd, err := merkledag.DecodeProtobuf(b.RawData())
	if err != nil {
		return 0, fmt.Errorf("decode %s: %w", e.CID, err)
	}
	ts := uint64(len(b.RawData()))
	for _, l := range nd.Links() {
		ts += l.Size
	}
	return ts, nil
}
