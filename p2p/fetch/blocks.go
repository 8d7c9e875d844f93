package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNotFetched is wrapped by Blocks when no peer sent some of the blocks.
var ErrNotFetched = errors.New("no peer sent the block")

// blocksTimeout bounds the wait for one frame of a Blocks request.
const blocksTimeout = 30 * time.Second

// Blocks fetches the listed blocks of root's DAG from peers, in order,
// each verified against its CID, and returns them without storing them:
// the repair of blocks the local store holds but found corrupt (Fetch
// would skip them, the store having them). A peer that sends a bad block
// or fails is passed over for the rest.
func (c *Client) Blocks(ctx context.Context, root cid.Cid, want []cid.Cid, peers []peer.ID) ([]blocks.Block, error) {
	left := map[cid.Cid]bool{}
	for _, w := range want {
		left[w] = true
	}
	var got []blocks.Block
	var errs []error
	for _, p := range peers {
		if len(left) == 0 {
			break
		}
		bs, err := c.blocksFrom(ctx, p, root, keys(left))
		for _, b := range bs {
			delete(left, b.Cid())
			got = append(got, b)
		}
		if err != nil {
			if ctx.Err() != nil {
				return got, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	if len(left) > 0 {
		return got, fmt.Errorf("%d of %d blocks, first %s: %w (%w)", len(left), len(want), keys(left)[0], ErrNotFetched, errors.Join(errs...))
	}
	return got, nil
}

// blocksFrom asks one peer for want, in requests of at most
// MaxRequestCIDs.
func (c *Client) blocksFrom(ctx context.Context, p peer.ID, root cid.Cid, want []cid.Cid) ([]blocks.Block, error) {
	s, err := openSession(ctx, c.h, p, "")
	if err != nil {
		return nil, err
	}
	defer s.close()
	var got []blocks.Block
	for len(want) > 0 {
		n := min(len(want), MaxRequestCIDs)
		if err := s.send(Request{Kind: KindCIDs, Root: root, CIDs: want[:n]}); err != nil {
			return got, err
		}
		bs, err := readBlocks(s)
		got = append(got, bs...)
		if err != nil {
			return got, err
		}
		want = want[n:]
	}
	return got, nil
}

// readBlocks reads one answer's frames up to its end, verifying blocks.
func readBlocks(s *session) ([]blocks.Block, error) {
	var got []blocks.Block
	for {
		f, err := s.read(blocksTimeout)
		if err != nil {
			return got, err
		}
		switch f.Type {
		case FrameEnd:
			return got, nil
		case FrameError:
			return got, fmt.Errorf("refused: %s", f.Msg)
		case FrameMissing:
		case FrameBlock:
			if err := verify(f.CID, f.Data); err != nil {
				return got, fmt.Errorf("block %s: %w", f.CID, err)
			}
			b, err := blocks.NewBlockWithCid(append([]byte(nil), f.Data...), f.CID)
			if err != nil {
				return got, err
			}
			got = append(got, b)
		default:
			return got, fmt.Errorf("unexpected %d frame", f.Type)
		}
	}
}

func keys(m map[cid.Cid]bool) []cid.Cid {
	out := make([]cid.Cid, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	return out
}
