package mirror

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// blockSource is what walking a revision's DAG needs of the store.
type blockSource interface {
	Get(ctx context.Context, c cid.Cid) (blocks.Block, error)
	GetSize(ctx context.Context, c cid.Cid) (int, error)
}

// walkDAG calls fn for every distinct block under root not in skip, in
// depth-first order, each parent before its children and children in link
// order: the order in which a file's leaves appear is the file's byte
// order. Only dag-pb nodes are read; a raw leaf is sized (GetSize) and
// never read. seen collects what was visited and is shared across roots.
func walkDAG(ctx context.Context, src blockSource, root cid.Cid, seen map[string]struct{}, skip map[string]struct{}, fn func(c cid.Cid, size int) error) error {
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := string(c.Hash())
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		if _, ok := skip[k]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch c.Type() {
		case cid.Raw:
			n, err := src.GetSize(ctx, c)
			if err != nil {
				return fmt.Errorf("block %s: %w", c, err)
			}
			if err := fn(c, n); err != nil {
				return err
			}
		case cid.DagProtobuf:
			b, err := src.Get(ctx, c)
			if err != nil {
				return fmt.Errorf("block %s: %w", c, err)
			}
			if err := fn(c, len(b.RawData())); err != nil {
				return err
			}
			pn, err := merkledag.DecodeProtobuf(b.RawData())
			if err != nil {
				return fmt.Errorf("decode %s: %w", c, err)
			}
			links := pn.Links()
			for i := len(links) - 1; i >= 0; i-- {
				stack = append(stack, links[i].Cid)
			}
		default:
			return fmt.Errorf("block %s: codec %#x is not UnixFS", c, c.Type())
		}
	}
	return nil
}

// hasSource is what a presence check needs.
type hasSource interface {
	Get(ctx context.Context, c cid.Cid) (blocks.Block, error)
	Has(ctx context.Context, c cid.Cid) (bool, error)
}

// missingBlock returns the first block of the DAG at root that the store
// lacks (undefined when the DAG is complete). Raw leaves are checked by key.
func missingBlock(ctx context.Context, src hasSource, root cid.Cid) (cid.Cid, error) {
	seen := map[string]struct{}{}
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := string(c.Hash())
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		ok, err := src.Has(ctx, c)
		if err != nil {
			return cid.Undef, err
		}
		if !ok {
			return c, nil
		}
		if c.Type() != cid.DagProtobuf {
			continue
		}
		b, err := src.Get(ctx, c)
		if err != nil {
			return cid.Undef, fmt.Errorf("block %s: %w", c, err)
		}
		pn, err := merkledag.DecodeProtobuf(b.RawData())
		if err != nil {
			return cid.Undef, fmt.Errorf("decode %s: %w", c, err)
		}
		for _, l := range pn.Links() {
			stack = append(stack, l.Cid)
		}
	}
	return cid.Undef, nil
}
