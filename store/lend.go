package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
)

// Lend returns block c's bytes as stored, checked against c as Get's blocks
// are (unless reads are trusted), without copying a packed block: its bytes
// are then a read-only mapping of its pack file's pages (on Linux; a copy
// elsewhere, and for the small blocks badger keeps). The caller calls
// release once done with them and uses them no more after.
//
// A mapping is safe to keep while GC runs: packs are never truncated (GC
// punches holes in dead ranges, which then read as zeros, and unlinks dead
// packs, whose pages the mapping keeps). Only a file cut short behind the
// store's back or a failing disk makes reading it fault; the check here
// turns such a fault into an error (see readMapped), and a caller reading
// the bytes later should do the same (debug.SetPanicOnFault).
func (s *Store) Lend(ctx context.Context, c cid.Cid) (b []byte, release func(), err error) {
	done, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var loc packLoc
	packed := false
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(blockKey(c.Hash()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFound{c}
		}
		if err != nil {
			return fmt.Errorf("view %s: %w", c, err)
		}
		if it.UserMeta() == metaPacked {
			packed = true
			loc, err = itemLoc(it)
			return err
		}
		b, err = it.ValueCopy(nil)
		s.touchRead(len(b))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	release = func() {}
	if packed {
		if b, release, err = s.packs.lend(loc); err != nil {
			return nil, nil, err
		}
	}
	if s.verifying() {
		if err := readMapped(func() error { return checkHash(c, b) }); err != nil {
			release()
			if errors.Is(err, ErrHashMismatch) {
				s.corrupt(c)
			}
			return nil, nil, err
		}
	}
	return b, release, nil
}

// errFault: reading mapped pack bytes faulted.
var errFault = errors.New("mapped pack bytes unreadable (file cut short or disk error)")

// readMapped runs fn, which reads mapped pack bytes, turning the fault a
// failed read raises (SIGBUS) into errFault instead of a crash.
func readMapped(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: fault at %#x", errFault, f.Addr())
				return
			}
			panic(r)
		}
	}()
	return fn()
}
