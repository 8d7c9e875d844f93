package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// A block whose stored bytes do not match its CID (a flipped bit on disk,
// a torn pack write) is never handed out: the read fails with
// ErrHashMismatch, and the block is marked bad under 'x' mh → CID bytes,
// so that the node can list it, repair it from a peer (Repair) or from a
// re-import (PutMany rewrites a bad block given good bytes), and so that
// Scrub's findings outlive the process.

// corrupt marks c bad and tells Options.OnCorrupt.
func (s *Store) corrupt(c cid.Cid) {
	if err := s.markBad(c); err != nil {
		s.opts.Logger.Error("mark block bad", "cid", c, "err", err)
		return
	}
	s.opts.Logger.Warn("stored block does not match its CID: marked bad", "cid", c)
	if s.opts.OnCorrupt != nil {
		go s.opts.OnCorrupt(c)
	}
}

func (s *Store) markBad(c cid.Cid) error {
	s.badMu.Lock()
	defer s.badMu.Unlock()
	var added bool
	err := s.db.Update(func(txn *badger.Txn) error {
		k := badKey(c.Hash())
		if _, err := txn.Get(k); err == nil {
			return nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		added = true
		return txn.Set(k, c.Bytes())
	})
	if added && err == nil {
		s.badCount.Add(1)
	}
	return err
}

// clearBad deletes the bad marks under keys that are still there and
// returns how many it deleted.
func (s *Store) clearBad(keys [][]byte) (int, error) {
	s.badMu.Lock()
	defer s.badMu.Unlock()
	n := 0
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if err := txn.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("clear %d bad marks: %w", len(keys), err)
	}
	s.badCount.Add(-int64(n))
	if n > 0 {
		s.opts.Logger.Info("bad blocks rewritten", "blocks", n)
	}
	return n, nil
}

func (s *Store) markedBad(txn *badger.Txn, c cid.Cid) bool {
	_, err := txn.Get(badKey(c.Hash()))
	return err == nil
}

// BadBlocks lists the blocks marked bad, by the CID they were read as.
func (s *Store) BadBlocks(ctx context.Context) ([]cid.Cid, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []cid.Cid
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBad}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			c, err := cid.Cast(v)
			if err != nil {
				return fmt.Errorf("bad mark %x: %w", it.Item().Key(), err)
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// Repair rewrites blocks marked bad with the bytes given, each checked
// against its CID first; a block that is not marked bad, or whose bytes do
// not match, is left alone. It returns how many it rewrote.
func (s *Store) Repair(ctx context.Context, bs []blocks.Block) (int, error) {
	var good []blocks.Block
	for _, b := range bs {
		if checkHash(b.Cid(), b.RawData()) == nil {
			good = append(good, b)
		}
	}
	_, cleared, err := s.putMany(ctx, good)
	return cleared, err
}

// pruneBadMarks drops the marks of blocks GC deleted. Called by GC.
func (s *Store) pruneBadMarks() error {
	s.badMu.Lock()
	defer s.badMu.Unlock()
	var gone [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBad}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			mh := it.Item().KeyCopy(nil)[1:]
			if _, err := txn.Get(blockKey(mh)); errors.Is(err, badger.ErrKeyNotFound) {
				gone = append(gone, badKey(mh))
			}
		}
		return nil
	})
	if err != nil || len(gone) == 0 {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range gone {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	s.badCount.Add(-int64(len(gone)))
	return nil
}

// countBad loads the number of bad marks at open.
func (s *Store) countBad() error {
	var n int64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBad}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	s.badCount.Store(n)
	return err
}

// ScrubOptions tune Scrub.
type ScrubOptions struct {
	// Rate bounds the bytes re-hashed per second. Default 0: unbounded.
	Rate int64
	// Progress, when set, is called now and then with bytes and blocks done.
	Progress func(bytes, blocks int64)
}

// ScrubResult reports a scrub.
type ScrubResult struct {
	Blocks, Bytes int64
	// Bad are the blocks found not to match their CID (now marked bad).
	Bad []cid.Cid
}

// Scrub re-hashes every stored block, as ZFS scrubs a pool: reading packed
// bodies past the page cache (nothing is evicted for it), at most Rate
// bytes a second, marking the blocks that do not match their multihash bad
// (and telling OnCorrupt). Blocks are keyed by multihash, so a bad block
// is reported as a raw CIDv1 unless it was marked under another CID.
func (s *Store) Scrub(ctx context.Context, o ScrubOptions) (ScrubResult, error) {
	var res ScrubResult
	keys, err := s.blockKeys(ctx)
	if err != nil {
		return res, err
	}
	start := time.Now()
	for _, mh := range keys {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		c := cid.NewCidV1(cid.Raw, mh)
		n, err := s.scrubOne(ctx, c)
		if errors.Is(err, ErrHashMismatch) {
			res.Bad = append(res.Bad, c)
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return res, err
		}
		res.Blocks++
		res.Bytes += int64(n)
		if o.Progress != nil && res.Blocks%256 == 0 {
			o.Progress(res.Bytes, res.Blocks)
		}
		pace(ctx, start, res.Bytes, o.Rate)
	}
	return res, nil
}

// scrubOne re-hashes one block, returning its size.
func (s *Store) scrubOne(ctx context.Context, c cid.Cid) (int, error) {
	var n int
	err := s.viewChecked(ctx, c, once, nil, true, func(v []byte) error {
		n = len(v)
		return nil
	})
	return n, err
}

// pace sleeps so that done bytes since start stay under rate per second.
func pace(ctx context.Context, start time.Time, done, rate int64) {
	if rate <= 0 {
		return
	}
	ahead := time.Duration(float64(done)/float64(rate)*float64(time.Second)) - time.Since(start)
	if ahead <= 0 {
		return
	}
	t := time.NewTimer(ahead)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// blockKeys lists the multihashes of every stored block.
func (s *Store) blockKeys(ctx context.Context) ([]multihash.Multihash, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []multihash.Multihash
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if len(out)%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			out = append(out, multihash.Multihash(it.Item().KeyCopy(nil)[1:]))
		}
		return nil
	})
	return out, err
}
