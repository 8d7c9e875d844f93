package fetch

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/chunker"
)

// rotten serves a store whose block bad is corrupt on disk: as a
// verifying store does, it refuses to hand its bytes out.
type rotten struct {
	st  Source
	bad cid.Cid
}

func (r rotten) Has(ctx context.Context, k cid.Cid) (bool, error) { return r.st.Has(ctx, k) }
func (r rotten) View(ctx context.Context, k cid.Cid, fn func([]byte) error) error {
	if k.Equals(r.bad) {
		return blockstore.ErrHashMismatch
	}
	return r.st.View(ctx, k, fn)
}

func TestBlocksRepairFromAnotherPeer(t *testing.T) {
	data := randomBytes(3<<20, 11)
	good := newStore(t)
	res := importFile(t, good, data, 256<<10)
	var leaf cid.Cid
	chunker.Leaves(t.Context(), good, res.CID, func(c cid.Cid, _ int64) error {
		if !leaf.Defined() {
			leaf = c
		}
		return nil
	})
	sick := newStore(t)
	importFile(t, sick, data, 256<<10)
	bad := newSource(t, rotten{st: sick, bad: leaf}, sick, allowAll)
	ok := newSource(t, nil, good, allowAll)

	dst := newStore(t)
	h := newHost(t)
	connect(t, h, bad.h)
	connect(t, h, ok.h)
	c := NewClient(h, dst)

	// The rotten node's stream goes on past the block it cannot serve: it
	// says missing, and the fetch takes that block from the other peer.
	if _, err := c.Fetch(t.Context(), res.CID, []peer.ID{bad.h.ID(), ok.h.ID()}, Options{}); err != nil {
		t.Fatalf("fetch beside a node with a corrupt block: %v", err)
	}
	if got := readFile(t, dst, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}

	// Blocks: the repair path, asked of the rotten node first.
	bs, err := c.Blocks(t.Context(), res.CID, []cid.Cid{leaf}, []peer.ID{bad.h.ID(), ok.h.ID()})
	if err != nil || len(bs) != 1 || !bs[0].Cid().Equals(leaf) {
		t.Fatalf("Blocks = %v, %v", bs, err)
	}
	if _, err := c.Blocks(t.Context(), res.CID, []cid.Cid{leaf}, []peer.ID{bad.h.ID()}); !errors.Is(err, ErrNotFetched) {
		t.Fatalf("Blocks from the rotten node alone = %v, want ErrNotFetched", err)
	}
	// A peer that sends wrong bytes is caught.
	liar := newSource(t, corrupt{st: good}, good, allowAll)
	connect(t, h, liar.h)
	if _, err := c.Blocks(t.Context(), res.CID, []cid.Cid{leaf}, []peer.ID{liar.h.ID()}); !errors.Is(err, ErrNotFetched) {
		t.Fatalf("Blocks from a peer sending corrupt bytes = %v", err)
	}
}
