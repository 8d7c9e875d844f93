package fetch

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/internal/sha256x"
)

// link is one child of a dag-pb node: its CID and the link's Tsize (the
// exact size of a raw leaf; the cumulative size of a subtree otherwise).
type link struct {
	c    cid.Cid
	size uint64
}

// links returns the children of block c with bytes data, or nil for a
// leaf. It copies nothing from data it does not return, so data may be a
// store's borrowed buffer.
func links(c cid.Cid, data []byte) ([]link, error) {
	if c.Type() != cid.DagProtobuf {
		return nil, nil
	}
	n, err := merkledag.DecodeProtobuf(data)
	if err != nil {
		return nil, fmt.Errorf("decode dag-pb %s: %w", c, err)
	}
	ls := n.Links()
	if len(ls) == 0 {
		return nil, nil
	}
	out := make([]link, len(ls))
	for i, l := range ls {
		out[i] = link{c: l.Cid, size: l.Size}
	}
	return out, nil
}

var errHashMismatch = errors.New("bytes do not match CID")

// verifyFrame verifies a block frame's bytes; other frames have none.
func verifyFrame(fr Frame) error {
	if fr.Type != FrameBlock {
		return nil
	}
	return verify(fr.CID, fr.Data)
}

// verifyPair is verifyFrame of a and b, two sha2-256 blocks hashed
// together (sha256x.Check2).
func verifyPair(a, b Frame) (errA, errB error) {
	da, okA := sha256x.MultihashDigest(a.CID.Hash())
	db, okB := sha256x.MultihashDigest(b.CID.Hash())
	if a.Type != FrameBlock || b.Type != FrameBlock || !okA || !okB {
		return verifyFrame(a), verifyFrame(b)
	}
	if okA, okB = sha256x.Check2(a.Data, da, b.Data, db); !okA {
		errA = errHashMismatch
	}
	if !okB {
		errB = errHashMismatch
	}
	return errA, errB
}

// verify checks that data hashes to c. sha2-256 (Cairn's only hash) goes
// through crypto/sha256, which uses the CPU's SHA extensions.
func verify(c cid.Cid, data []byte) error {
	if d, ok := sha256x.MultihashDigest(c.Hash()); ok {
		sum := sha256.Sum256(data)
		if !bytes.Equal(sum[:], d) {
			return errHashMismatch
		}
		return nil
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	if !got.Equals(c) {
		return errHashMismatch
	}
	return nil
}
