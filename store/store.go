package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	blockstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/cairnhub/cairn/internal/disk"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrNotFound: no such block. Errors carrying it also satisfy
	// ipld.IsNotFound, which boxo (bitswap, DAG services) tests for.
	ErrNotFound = errors.New("block not found")
	// ErrRepoNotFound: no revision of this repo is stored.
	ErrRepoNotFound = errors.New("repo not found")
	// ErrRevisionNotFound: the repo exists, the revision does not.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrMissingBlocks: Commit was asked to reference blocks the store lacks.
	ErrMissingBlocks = errors.New("missing blocks")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalidArgument: a kind, repo, revision or pin name is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrDiskFull: the write would leave less than Options.MinFreeBytes free.
	ErrDiskFull = errors.New("not enough free disk space")
	// ErrHashMismatch: with HashOnRead, a stored block does not match its CID.
	ErrHashMismatch = blockstore.ErrHashMismatch
)

// notFound is the error of a missing block: ErrNotFound for Cairn callers,
// ipld.ErrNotFound for boxo.
type notFound struct{ c cid.Cid }

func (e notFound) Error() string { return "block " + e.c.String() + " not found" }
func (e notFound) Is(target error) bool {
	if target == ErrNotFound {
		return true
	}
	_, ok := target.(ipld.ErrNotFound)
	return ok
}

// Store is a blockstore with repo revisions, pins and a block → repo index,
// on one badger database. Safe for concurrent use.
type Store struct {
	db      *badger.DB
	opts    Options
	scratch string // InMemory: the temporary directory to remove at Close
	realDir string // opts.Dir, absolute, symlinks resolved

	// mu guards closed; operations hold it shared so Close waits for them.
	mu        sync.RWMutex
	closed    bool
	closing   chan struct{}
	closeOnce sync.Once

	// gc coordinates GC with writers (see Hold).
	gc gcGate

	hashOnRead bool
	hashMu     sync.RWMutex

	// touched counts value bytes written or read since the value-log
	// mappings were last released (see releaseMapped).
	touched atomic.Int64
	// mapMu keeps releaseMapped (which holds it exclusively) from running
	// while badger may unmap or remap a value-log file: while it writes
	// (a full value-log file is truncated and a new one mapped), runs
	// value-log GC (rewritten files are unmapped), or closes an iterator
	// (which may unmap files GC left for deletion). Every operation that
	// writes or iterates holds it shared, after the GC gate and never
	// nested; plain block reads (Has, GetSize, View) need not.
	mapMu sync.RWMutex

	// packs holds the bodies of blocks of packThreshold bytes or more.
	packs *packs

	// badCount is how many blocks are marked bad (see integrity.go); while
	// it is 0, writes skip looking for marks. badMu serialises every change
	// of a mark with its count: two repairs of one block must not both
	// count its heal.
	badCount atomic.Int64
	badMu    sync.Mutex
}

// releaseEvery is how many value bytes may pass through badger's mmapped
// value log between two releases of its mappings: the resident-set cost of
// the value log stays under about this much.
var releaseEvery int64 = 64 << 20

// mapping holds mapMu shared; the result releases it.
func (s *Store) mapping() func() {
	s.mapMu.RLock()
	return s.mapMu.RUnlock
}

// touchRead counts n value bytes read and releases the mappings when enough
// have passed and nothing holds mapMu. The caller is inside enter (so Close
// cannot unmap everything meanwhile) and holds nothing else.
func (s *Store) touchRead(n int) {
	if s.touched.Add(int64(n)) < releaseEvery || !s.mapMu.TryLock() {
		return
	}
	defer s.mapMu.Unlock()
	s.release()
}

// touchWrite counts n value bytes written and releases the mappings when
// enough have passed, waiting for running operations: an import writes
// continuously, so waiting for an idle moment might wait forever. The
// caller must hold no lock of the store.
func (s *Store) touchWrite(n int64) {
	if s.touched.Add(n) < releaseEvery {
		return
	}
	done, err := s.enter()
	if err != nil {
		return
	}
	defer done()
	s.mapMu.Lock()
	defer s.mapMu.Unlock()
	s.release()
}

func (s *Store) release() {
	if s.touched.Load() < releaseEvery {
		return // another caller just did it
	}
	s.touched.Store(0)
	if err := releaseMapped(s.realDir); err != nil {
		s.opts.Logger.Warn("store: cannot release value-log mappings", "dir", s.opts.Dir, "err", err)
	}
}

var (
	_ blockstore.Blockstore           = (*Store)(nil)
	_ blockstore.Viewer               = (*Store)(nil)
	_ blockstore.AllKeysChanWithErrer = (*Store)(nil)
)

// Open opens (creating if needed) the store described by opts.
func Open(opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return open(opts.withDefaults())
}

func open(opts Options) (*Store, error) {
	var scratch string
	if opts.InMemory {
		dir, err := os.MkdirTemp("/dev/shm", "cairn-store-") // RAM-backed where it exists
		if err != nil {
			dir, err = os.MkdirTemp("", "cairn-store-")
		}
		if err != nil {
			return nil, fmt.Errorf("open in-memory store: %w", err)
		}
		opts.Dir, scratch = dir, dir
	} else if err := dropEmptyMemtables(opts.Dir); err != nil {
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	db, err := badger.Open(opts.badgerOptions())
	if err != nil {
		if scratch != "" {
			os.RemoveAll(scratch)
		}
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, opts: opts, scratch: scratch, closing: make(chan struct{}), hashOnRead: !opts.TrustReads}
	// /proc/self/maps names files by their real absolute path.
	s.realDir = opts.Dir
	if abs, err := filepath.Abs(opts.Dir); err == nil {
		s.realDir = abs
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			s.realDir = real
		}
	}
	s.gc.init()
	if err := s.checkVersion(); err != nil {
		s.closeDB()
		return nil, err
	}
	if s.packs, err = openPacks(filepath.Join(opts.Dir, packDir), opts.SyncWrites); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	if err := s.countBad(); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	return s, nil
}

func (s *Store) closeDB() error {
	if s.packs != nil {
		s.packs.close()
	}
	err := s.db.Close()
	if s.scratch != "" {
		if rerr := os.RemoveAll(s.scratch); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// checkVersion writes the layout version into a new store, moves a
// version 1 store (no packs; every block in badger, which version 2 still
// reads) to version 2, and refuses a store written by a newer or unknown
// layout.
func (s *Store) checkVersion() error {
	return s.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(versionKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(versionKey, encodeVersion(formatVersion))
		}
		if err != nil {
			return fmt.Errorf("read store version: %w", err)
		}
		var v uint32
		err = it.Value(func(b []byte) error {
			if len(b) != 4 {
				return fmt.Errorf("store %s: layout version %x, this build reads 1 to %d", s.opts.Dir, b, formatVersion)
			}
			v = binary.BigEndian.Uint32(b)
			return nil
		})
		switch {
		case err != nil:
			return err
		case v == formatVersion:
			return nil
		case v == 1:
			return txn.Set(versionKey, encodeVersion(formatVersion))
		}
		return fmt.Errorf("store %s: layout version %d, this build reads 1 to %d", s.opts.Dir, v, formatVersion)
	})
}

// Close closes the store, waiting for running operations. Later calls
// return ErrClosed.
func (s *Store) Close() error {
	// Stop listings first: an AllKeysChan whose reader went away holds the
	// store until it sees closing.
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if err := s.closeDB(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// The store's lock order, the same for every operation: enter (against
// Close), then the GC gate (hold or exclusive), then mapMu shared. Taking
// them in any other order can deadlock against GC or releaseMapped, so
// every operation takes them through one of the functions below and ends
// with the func it returns (which releases them in reverse).

// enter guards an operation against Close; the returned func ends it.
// Plain block reads (Has, GetSize, View) need nothing more.
func (s *Store) enter() (func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

// readOp begins an operation that iterates without writing: enter, then
// mapMu (closing an iterator may unmap value-log files).
func (s *Store) readOp() (done func(), err error) {
	return s.lockOp(context.Background(), nil, nil)
}

// writeOp begins an operation that writes: enter, then check (the call's
// own argument checks, nil for none), then a hold on the GC gate (waiting
// for a running GC), then mapMu. check runs before the gate so that a
// closed store reports ErrClosed first and an invalid call never waits for
// GC.
func (s *Store) writeOp(ctx context.Context, check func() error) (done func(), err error) {
	return s.lockOp(ctx, check, s.gc.hold)
}

// gcOp begins GC: enter, then the GC gate alone, then mapMu.
func (s *Store) gcOp(ctx context.Context) (done func(), err error) {
	return s.lockOp(ctx, nil, s.gc.exclusive)
}

// lockOp takes the locks in the store's order; check and gate may be nil.
func (s *Store) lockOp(ctx context.Context, check func() error, gate func(context.Context) (func(), error)) (func(), error) {
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			leave()
			return nil, err
		}
	}
	release := func() {}
	if gate != nil {
		if release, err = gate(ctx); err != nil {
			leave()
			return nil, err
		}
	}
	unmap := s.mapping()
	return func() {
		unmap()
		release()
		leave()
	}, nil
}

// Has reports whether the block (any CID of its multihash) is stored.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	done, err := s.enter()
	if err != nil {
		return false, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var ok bool
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(blockKey(c.Hash()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("has %s: %w", c, err)
	}
	return ok, nil
}

// View calls fn with the block's bytes without copying them when badger
// allows (value-log values are slices of its mmap). fn must not keep or
// modify them.
func (s *Store) View(ctx context.Context, c cid.Cid, fn func([]byte) error) error {
	return s.view(ctx, c, borrow, fn)
}

// ViewOnce is View for bulk readers that will not read the block again
// soon (a fetch stream to a peer, a bundle): a packed block is read from
// the page cache when it holds it all, else past it with direct I/O, so a
// stream of cold blocks costs next to no CPU and evicts nothing.
func (s *Store) ViewOnce(ctx context.Context, c cid.Cid, fn func([]byte) error) error {
	return s.view(ctx, c, once, fn)
}

// ReadOnce reads the block as ViewOnce does (checked against c as Get's
// blocks are) into a pooled buffer the caller keeps, unmodified, until
// it calls release: a stream sends it straight from there, without a
// copy out of the store's buffer.
func (s *Store) ReadOnce(ctx context.Context, c cid.Cid) (data []byte, release func(), err error) {
	return s.readOnce(ctx, c, s.verifying())
}

// ReadOnceUnchecked is ReadOnce without its hash check, for a caller that
// checks the bytes itself before any of them leave the node (a fetch
// server checks two blocks in one pass) and reports a mismatch with
// Corrupt. check says whether the store wants them checked (not with
// Options.TrustReads).
func (s *Store) ReadOnceUnchecked(ctx context.Context, c cid.Cid) (data []byte, release func(), check bool, err error) {
	data, release, err = s.readOnce(ctx, c, false)
	return data, release, s.verifying(), err
}

// Corrupt records that the stored bytes of c do not match it, as a failed
// check of the store's own does: the block is marked bad (never served,
// repaired by Options.OnCorrupt).
func (s *Store) Corrupt(c cid.Cid) { s.corrupt(c) }

func (s *Store) readOnce(ctx context.Context, c cid.Cid, verify bool) (data []byte, release func(), err error) {
	done, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	release = func() {}
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(blockKey(c.Hash()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFound{c}
		}
		if err != nil {
			return fmt.Errorf("view %s: %w", c, err)
		}
		if it.UserMeta() == metaPacked {
			l, err := itemLoc(it)
			if err != nil {
				return err
			}
			data, release, err = s.packs.readOnceKeep(l)
			if err != nil {
				release = func() {}
				return err
			}
		} else {
			if data, err = it.ValueCopy(nil); err != nil {
				return err
			}
			s.touchRead(len(data))
		}
		if verify {
			return checkHash(c, data)
		}
		return nil
	})
	if err != nil {
		release()
		if errors.Is(err, ErrHashMismatch) {
			s.corrupt(c)
		}
		return nil, nil, err
	}
	return data, release, nil
}

// ReadInto reads the block into buf, which must hold it (GetSize says how
// much that is), and returns its size; it is checked against c as Get's
// blocks are. Bulk readers pass the same buffers again and again instead
// of a fresh allocation per block, and the bytes are copied once, from the
// pack (or the value log) into buf.
func (s *Store) ReadInto(ctx context.Context, c cid.Cid, buf []byte) (int, error) {
	n := 0
	err := s.viewChecked(ctx, c, into, buf, s.verifying(), func(v []byte) error {
		n = len(v)
		return nil
	})
	return n, err
}

// ReadIntoUnchecked is ReadInto without its hash check, for a caller that
// checks the bytes itself before any of them leave the node (a range
// reader checks a batch's blocks two at a time) and reports a mismatch
// with Corrupt. check says whether the store wants them checked.
func (s *Store) ReadIntoUnchecked(ctx context.Context, c cid.Cid, buf []byte) (n int, check bool, err error) {
	err = s.viewChecked(ctx, c, into, buf, false, func(v []byte) error {
		n = len(v)
		return nil
	})
	return n, s.verifying(), err
}

// readMode is how view hands a block's bytes to its caller.
type readMode int

const (
	borrow readMode = iota // a slice the caller must not keep
	own                    // a slice the caller owns
	once                   // borrowed, read past the page cache when not in it
	into                   // a slice of the caller's buffer
)

// Get returns a copy of the block, carrying the CID asked for (a CIDv0 and
// its CIDv1 share one stored block).
func (s *Store) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	var data []byte
	err := s.view(ctx, c, own, func(v []byte) error {
		data = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// view calls fn with the block's bytes, as mode says, checked against c
// unless reads are trusted.
func (s *Store) view(ctx context.Context, c cid.Cid, mode readMode, fn func([]byte) error) error {
	return s.viewChecked(ctx, c, mode, nil, s.verifying(), fn)
}

// viewChecked is view with verification as verify says; dst is the
// caller's buffer for mode into.
func (s *Store) viewChecked(ctx context.Context, c cid.Cid, mode readMode, dst []byte, verify bool, fn func([]byte) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return err
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(blockKey(c.Hash()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFound{c}
		}
		if err != nil {
			return fmt.Errorf("view %s: %w", c, err)
		}
		check := func(v []byte) error {
			if verify {
				if err := checkHash(c, v); err != nil {
					return err
				}
			}
			return fn(v)
		}
		if mode == into {
			return s.blockInto(it, dst, check)
		}
		return s.blockValue(it, mode, check)
	})
	if errors.Is(err, ErrHashMismatch) {
		s.corrupt(c)
	}
	return err
}

// GetSize returns the block's size without reading it.
func (s *Store) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	done, err := s.enter()
	if err != nil {
		return -1, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	size := -1
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(blockKey(c.Hash()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFound{c}
		}
		if err != nil {
			return fmt.Errorf("size of %s: %w", c, err)
		}
		n, err := s.blockSize(it)
		size = int(n)
		return err
	})
	return size, err
}

// Put stores one block. Storing a block already present is a no-op.
func (s *Store) Put(ctx context.Context, b blocks.Block) error {
	return s.PutMany(ctx, []blocks.Block{b})
}

// PutMany stores blocks through badger write batches, skipping those
// already present. Each block is written whole or not at all; a batch too
// big for one badger transaction (tens of thousands of blocks) may become
// visible in parts. It waits while GC runs.
func (s *Store) PutMany(ctx context.Context, bs []blocks.Block) error {
	_, err := s.PutManyNew(ctx, bs)
	return err
}

// PutManyNew is PutMany that also reports how many bytes were new to the
// store (the dedup figure of an import).
func (s *Store) PutManyNew(ctx context.Context, bs []blocks.Block) (newBytes int64, err error) {
	n, _, err := s.putMany(ctx, bs)
	if n > 0 {
		s.touchWrite(n)
	}
	return n, err
}

// putMany returns the bytes it wrote and how many bad marks it cleared.
func (s *Store) putMany(ctx context.Context, bs []blocks.Block) (int64, int, error) {
	done, err := s.writeOp(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	if len(bs) == 0 {
		return 0, 0, nil
	}
	// Skip blocks already stored: rewriting a 1 MiB value only to drop it
	// at the next value-log GC would cost the dedup its point.
	keys, todo, healed, err := s.toWrite(bs)
	if err != nil {
		return 0, 0, err
	}
	if len(todo) == 0 {
		return 0, 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	n, err := s.write(keys, todo)
	if err != nil || len(healed) == 0 {
		return n, 0, err
	}
	// The marks go after the good bytes are indexed: a crash between
	// leaves a mark on a good block, which the next repair clears.
	cleared, err := s.clearBad(healed)
	return n, cleared, err
}

// toWrite picks the blocks of bs to write: those not stored, and those
// stored but marked bad whose bytes match their CID (healed: their bad
// marks go in the same batch).
func (s *Store) toWrite(bs []blocks.Block) (keys [][]byte, todo []blocks.Block, healed [][]byte, err error) {
	keys = make([][]byte, 0, len(bs))
	todo = make([]blocks.Block, 0, len(bs))
	seen := make(map[string]struct{}, len(bs))
	anyBad := s.badCount.Load() > 0
	err = s.db.View(func(txn *badger.Txn) error {
		for _, b := range bs {
			k := blockKey(b.Cid().Hash())
			if _, dup := seen[string(k)]; dup {
				continue
			}
			seen[string(k)] = struct{}{}
			_, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				keys = append(keys, k)
				todo = append(todo, b)
				continue
			}
			if err != nil {
				return fmt.Errorf("put %s: %w", b.Cid(), err)
			}
			if anyBad && s.markedBad(txn, b.Cid()) && checkHash(b.Cid(), b.RawData()) == nil {
				keys = append(keys, k)
				todo = append(todo, b)
				healed = append(healed, badKey(b.Cid().Hash()))
			}
		}
		return nil
	})
	return keys, todo, healed, err
}

// write stores todo under keys (packing large bodies first) in one write
// batch.
func (s *Store) write(keys [][]byte, todo []blocks.Block) (int64, error) {
	var want int64
	for _, b := range todo {
		want += int64(len(b.RawData()))
	}
	if err := s.checkSpace(want); err != nil {
		return 0, fmt.Errorf("put %d blocks: %w", len(todo), err)
	}
	// Large bodies go to the packs first: an index entry must never point
	// at bytes not yet written.
	var big [][]byte
	for _, b := range todo {
		if len(b.RawData()) >= packThreshold {
			big = append(big, b.RawData())
		}
	}
	var locs []packLoc
	if len(big) > 0 {
		var err error
		if locs, err = s.packs.write(big); err != nil {
			return 0, fmt.Errorf("put %d blocks: %w", len(todo), err)
		}
	}
	var n int64
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i, b := range todo {
		e := badger.NewEntry(keys[i], b.RawData())
		if len(b.RawData()) >= packThreshold {
			e = badger.NewEntry(keys[i], locs[0].encode()).WithMeta(metaPacked)
			locs = locs[1:]
		}
		if err := wb.SetEntry(e); err != nil {
			return 0, fmt.Errorf("put %s: %w", b.Cid(), err)
		}
		n += int64(len(b.RawData()))
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("put %d blocks: %w", len(todo), err)
	}
	return n, nil
}

// checkSpace fails with ErrDiskFull when writing n bytes would leave less
// than MinFreeBytes on the store's file system.
func (s *Store) checkSpace(n int64) error {
	if s.opts.MinFreeBytes < 0 {
		return nil
	}
	free, err := disk.Free(s.opts.Dir)
	if err != nil {
		return err
	}
	if free >= 0 && free-n < s.opts.MinFreeBytes {
		return fmt.Errorf("%s: %d bytes free, %d to write, %d to keep free: %w", s.opts.Dir, free, n, s.opts.MinFreeBytes, ErrDiskFull)
	}
	return nil
}

// DeleteBlock removes a block whatever references it (GC is the safe way to
// remove blocks). Deleting an absent block is not an error.
func (s *Store) DeleteBlock(ctx context.Context, c cid.Cid) error {
	done, err := s.writeOp(ctx, nil)
	if err != nil {
		return err
	}
	defer done()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(blockKey(c.Hash())) }); err != nil {
		return fmt.Errorf("delete %s: %w", c, err)
	}
	return nil
}

// AllKeysChan lists every block as a CIDv1 with the raw codec (the store
// keys blocks by multihash and keeps no codec).
func (s *Store) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	ch, _, err := s.AllKeysChanWithErr(ctx)
	return ch, err
}

// AllKeysChanWithErr is AllKeysChan whose second result, called after the
// channel is drained, tells whether the listing ended early.
func (s *Store) AllKeysChanWithErr(ctx context.Context) (<-chan cid.Cid, func() error, error) {
	done, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan cid.Cid, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		defer done()
		errc <- s.listBlocks(ctx, ch)
	}()
	var once sync.Once
	var final error
	return ch, func() error {
		once.Do(func() { final = <-errc })
		return final
	}, nil
}

// listChunk is how many keys AllKeysChan reads per badger transaction.
// Short transactions keep a slow reader from pinning old versions in badger
// and from holding mapMu.
const listChunk = 1024

func (s *Store) listBlocks(ctx context.Context, ch chan<- cid.Cid) error {
	from := []byte{pfxBlock}
	for {
		var keys [][]byte
		unmap := s.mapping()
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBlock}})
			defer it.Close()
			for it.Seek(from); it.Valid() && len(keys) < listChunk; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		unmap()
		if err != nil {
			return fmt.Errorf("list blocks: %w", err)
		}
		for _, k := range keys {
			select {
			case ch <- cid.NewCidV1(cid.Raw, k[1:]):
			case <-ctx.Done():
				return ctx.Err()
			case <-s.closing:
				return ErrClosed
			}
		}
		if len(keys) < listChunk {
			return nil
		}
		from = append(keys[len(keys)-1], 0) // the next key after the last
	}
}

// HashOnRead turns re-hashing of blocks read by Get and View on or off
// (on unless Options.TrustReads).
func (s *Store) HashOnRead(enabled bool) {
	s.hashMu.Lock()
	s.hashOnRead = enabled
	s.hashMu.Unlock()
}

func (s *Store) verifying() bool {
	s.hashMu.RLock()
	defer s.hashMu.RUnlock()
	return s.hashOnRead
}

func checkHash(c cid.Cid, data []byte) error {
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("rehash %s: %w", c, err)
	}
	if string(got.Hash()) != string(c.Hash()) {
		return fmt.Errorf("block %s: %w", c, ErrHashMismatch)
	}
	return nil
}

// blockValue calls fn with the bytes of the block whose key is item, from
// badger or from its pack, as mode says.
func (s *Store) blockValue(item *badger.Item, mode readMode, fn func([]byte) error) error {
	if item.UserMeta() == metaPacked {
		l, err := itemLoc(item)
		if err != nil {
			return err
		}
		switch mode {
		case own:
			b := make([]byte, l.n)
			if err := s.packs.readInto(l, b); err != nil {
				return err
			}
			return fn(b)
		case once:
			return s.packs.readOnce(l, fn)
		}
		return s.packs.read(l, fn)
	}
	if mode == own {
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		s.touchRead(len(v))
		return fn(v)
	}
	return item.Value(func(v []byte) error {
		defer s.touchRead(len(v))
		return fn(v)
	})
}

// blockInto reads the block whose key is item into dst and calls fn with
// the bytes read.
func (s *Store) blockInto(item *badger.Item, dst []byte, fn func([]byte) error) error {
	n, err := s.blockSize(item)
	if err != nil {
		return err
	}
	if n > int64(len(dst)) {
		return fmt.Errorf("block %x of %d bytes, buffer of %d: %w", item.Key()[1:], n, len(dst), io.ErrShortBuffer)
	}
	if item.UserMeta() == metaPacked {
		l, err := itemLoc(item)
		if err != nil {
			return err
		}
		if err := s.packs.readInto(l, dst[:l.n]); err != nil {
			return err
		}
		return fn(dst[:l.n])
	}
	var v []byte
	err = item.Value(func(b []byte) error {
		if len(b) > len(dst) {
			return fmt.Errorf("block %x of %d bytes, buffer of %d: %w", item.Key()[1:], len(b), len(dst), io.ErrShortBuffer)
		}
		v = dst[:copy(dst, b)]
		return nil
	})
	if err != nil {
		return err
	}
	s.touchRead(len(v))
	return fn(v)
}

// itemLoc decodes the pack location a packed block's key holds.
func itemLoc(item *badger.Item) (packLoc, error) {
	var l packLoc
	err := item.Value(func(v []byte) (err error) {
		l, err = decodePackLoc(v)
		return err
	})
	if err != nil {
		return l, fmt.Errorf("block %x: %w", item.Key()[1:], err)
	}
	return l, nil
}

// blockSize is the size of the block whose key is item, without reading it.
func (s *Store) blockSize(item *badger.Item) (int64, error) {
	if item.UserMeta() != metaPacked {
		return s.valueSize(item), nil
	}
	l, err := itemLoc(item)
	return int64(l.n), err
}

// valueSize is the exact size of a value from its key alone. Badger reports
// the exact length of values kept in the LSM tree, and for value-log values
// the pointer's length minus an assumed 6-byte entry header; the true
// header is 2 bytes + uvarint(key+8) + uvarint(len) + uvarint(expiry=0), so
// the length is solved for here. Values of at least valueThreshold are
// always in the value log, so the size says which case applies. Tests compare GetSize with len(Get) on disk for every size class.
func (s *Store) valueSize(it *badger.Item) int64 {
	v := it.ValueSize()
	if v < valueThreshold {
		return v
	}
	klen := uint64(len(it.Key()) + 8)
	// v = vlen + 2 + 1 + uvlen(klen) + uvlen(vlen) - 6, so
	// vlen = v + 3 - uvlen(klen) - uvlen(vlen); try each varint width.
	for w := int64(1); w <= 5; w++ {
		vlen := v + 3 - int64(uvarintLen(klen)) - w
		if vlen >= 0 && int64(uvarintLen(uint64(vlen))) == w {
			return vlen
		}
	}
	return v
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
