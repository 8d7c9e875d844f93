package chunker

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
)

// Leaves calls fn for each leaf of the file DAG at root, in file order,
// with the leaf's size as its parent states it. It reads only the file's
// internal nodes, never a leaf's bytes: a caller that gets the leaves some
// other way (as they arrive from peers) learns their order without a read.
// A leaf that occurs twice in the file is reported twice.
func Leaves(ctx context.Context, get Getter, root cid.Cid, fn func(c cid.Cid, size int64) error) error {
	if root.Type() == cid.Raw {
		return fn(root, -1)
	}
	return leavesBelow(ctx, get, root, fn, 0)
}

func leavesBelow(ctx context.Context, get Getter, c cid.Cid, fn func(cid.Cid, int64) error, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: DAG deeper than 64", c)
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	b, err := get.Get(ctx, c)
	if err != nil {
		return fmt.Errorf("get %s: %w", c, err)
	}
	n, err := decodeFileNode(b)
	if err != nil {
		return err
	}
	if len(n.links) == 0 {
		// A dag-pb node holding its bytes inline is itself a leaf.
		return fn(c, int64(len(n.data)))
	}
	for i, l := range n.links {
		if l.Type() == cid.Raw {
			err = fn(l, n.starts[i+1]-n.starts[i])
		} else {
			err = leavesBelow(ctx, get, l, fn, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// CIDs lists every distinct block of the DAG at root (file or directory),
// parents before children, reading only the nodes that have links: raw
// leaves are named by their parents and never read.
func CIDs(ctx context.Context, get Getter, root cid.Cid) ([]cid.Cid, error) {
	seen := map[cid.Cid]struct{}{}
	var out []cid.Cid
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[c]; ok {
			continue
		}
		seen[c] = struct{}{}
		out = append(out, c)
		switch c.Type() {
		case cid.Raw:
			continue
		case cid.DagProtobuf:
		default:
			return nil, fmt.Errorf("list %s: %s: codec %#x is not UnixFS", root, c, c.Type())
		}
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		b, err := get.Get(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("list %s: get %s: %w", root, c, err)
		}
		pn, err := merkledag.DecodeProtobuf(b.RawData())
		if err != nil {
			return nil, fmt.Errorf("list %s: decode %s: %w", root, c, err)
		}
		links := pn.Links()
		for i := len(links) - 1; i >= 0; i-- {
			stack = append(stack, links[i].Cid)
		}
	}
	return out, nil
}
