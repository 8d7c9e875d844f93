package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"path/filepath"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/internal/disk"
)

// Pin is a named hold on a DAG root: GC keeps every block reachable from it.
type Pin struct {
	CID  cid.Cid
	Name string
}

// Pin holds the DAG under c against GC, under name. A CID may carry several
// names; the blocks need not be stored yet. Names starting "rev:" are
// reserved for the pins Commit makes on revision roots.
func (s *Store) Pin(ctx context.Context, c cid.Cid, name string) error {
	done, err := s.writeOp(ctx, func() error {
		if err := validName("pin name", name); err != nil {
			return fmt.Errorf("pin %s: %w", c, err)
		}
		if strings.HasPrefix(name, revisionPinPrefix) {
			return fmt.Errorf("pin %s: name %q: prefix %q is reserved: %w", c, name, revisionPinPrefix, ErrInvalidArgument)
		}
		if !c.Defined() {
			return fmt.Errorf("pin: undefined CID: %w", ErrInvalidArgument)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer done()
	if err := s.update(ctx, func(txn *badger.Txn) error { return txn.Set(pinKey(c, name), nil) }); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	}
	return nil
}

// Unpin removes every pin Pin made on c (a revision's root stays held by
// its revision). Unpinning what is not pinned is not an error.
func (s *Store) Unpin(ctx context.Context, c cid.Cid) error {
	done, err := s.writeOp(ctx, nil)
	if err != nil {
		return err
	}
	defer done()
	err = s.update(ctx, func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: pinPrefix(c)})
		defer it.Close()
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if _, name, err := splitPinKey(k); err == nil && !strings.HasPrefix(name, revisionPinPrefix) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unpin %s: %w", c, err)
	}
	return nil
}

// Pins lists every pin, revision pins included, CIDs normalised to v1.
func (s *Store) Pins(ctx context.Context) ([]Pin, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pins []Pin
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxPin}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			c, name, err := splitPinKey(it.Item().Key())
			if err != nil {
				return err
			}
			pins = append(pins, Pin{CID: c, Name: name})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	return pins, nil
}

// GCStats says what GC removed.
type GCStats struct {
	Blocks int64 // blocks deleted
	Bytes  int64 // their bytes
	// IndexEntries is the number of stale block → repo index entries deleted.
	IndexEntries int64
	// DiskFreed is the disk space the store's files take less after GC
	// than before (0 when GC's own writes took more).
	DiskFreed int64
}

// gcBatch bounds deletions per badger batch.
const gcBatch = 4096

// maxVlogGC bounds the value-log GC rounds after a sweep; each round
// rewrites at most one value-log file.
const maxVlogGC = 256

// GC deletes every block not reachable from a ref's root or a pin, walking
// dag-pb links (raw blocks have none; other codecs are treated as leaves),
// deletes stale index entries, then lets badger reclaim value-log space. It
// waits for imports holding the store (see Hold) and holds off new ones
// while it runs.
func (s *Store) GC(ctx context.Context) (st GCStats, err error) {
	done, err := s.gcOp(ctx)
	if err != nil {
		return GCStats{}, err
	}
	defer done()

	diskBefore, _ := s.diskBytes()
	defer func() {
		if after, err := s.diskBytes(); err == nil && diskBefore > after {
			st.DiskFreed = diskBefore - after
		}
	}()
	live, err := s.mark(ctx)
	if err != nil {
		return st, fmt.Errorf("gc: mark: %w", err)
	}
	if err := s.sweep(ctx, live, &st); err != nil {
		return st, fmt.Errorf("gc: sweep: %w", err)
	}
	if err := s.pruneIndex(ctx, &st); err != nil {
		return st, fmt.Errorf("gc: index: %w", err)
	}
	if err := s.pruneBadMarks(); err != nil {
		return st, err
	}
	if err := s.reclaimPacks(ctx); err != nil {
		return st, fmt.Errorf("gc: packs: %w", err)
	}
	if err := s.vlogGC(ctx); err != nil {
		return st, fmt.Errorf("gc: value log: %w", err)
	}
	return st, nil
}

// liveSet holds 64-bit seeded hashes of live multihashes: ~20 bytes per
// block instead of ~100 for the strings, so GC of a 1M-block store needs
// ~20 MiB. A collision (about n²/2⁶⁴) can only keep a dead block, never
// delete a live one.
type liveSet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func newLiveSet() liveSet { return liveSet{seed: maphash.MakeSeed(), m: map[uint64]struct{}{}} }

func (l liveSet) key(mh []byte) uint64 { return maphash.Bytes(l.seed, mh) }

// add reports whether mh was new.
func (l liveSet) add(mh []byte) bool {
	k := l.key(mh)
	if _, ok := l.m[k]; ok {
		return false
	}
	l.m[k] = struct{}{}
	return true
}

func (l liveSet) has(mh []byte) bool { _, ok := l.m[l.key(mh)]; return ok }

// mark returns the multihashes of every block reachable from refs and pins.
func (s *Store) mark(ctx context.Context) (liveSet, error) {
	var roots []cid.Cid
	err := s.db.View(func(txn *badger.Txn) error {
		if err := eachRef(txn, refPrefix("", ""), func(r Ref) error {
			roots = append(roots, r.Root)
			return nil
		}); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxPin}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			c, _, err := splitPinKey(it.Item().Key())
			if err != nil {
				return err
			}
			roots = append(roots, c)
		}
		return nil
	})
	if err != nil {
		return liveSet{}, err
	}
	live := newLiveSet()
	stack := roots
	err = s.db.View(func(txn *badger.Txn) error {
		for n := 0; len(stack) > 0; n++ {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !live.add(c.Hash()) {
				continue
			}
			if c.Type() != cid.DagProtobuf {
				continue
			}
			it, err := txn.Get(blockKey(c.Hash()))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // pinned or referenced but not (yet) stored
			}
			if err != nil {
				return err
			}
			err = s.blockValue(it, borrow, func(v []byte) error {
				nd, err := merkledag.DecodeProtobuf(v)
				if err != nil {
					return fmt.Errorf("block %s: %w", c, err)
				}
				for _, l := range nd.Links() {
					stack = append(stack, l.Cid)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return live, err
}

func (s *Store) sweep(ctx context.Context, live liveSet, st *GCStats) error {
	// Delete as the scan goes, a batch at a time, so that deleting most of
	// a large store does not hold every dead key in memory.
	var dead [][]byte
	var deadBytes int64
	flush := func() error {
		if err := s.deleteKeys(ctx, dead); err != nil {
			return err
		}
		st.Blocks += int64(len(dead))
		st.Bytes += deadBytes
		dead, deadBytes = dead[:0], 0
		return nil
	}
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if live.has(item.Key()[1:]) {
				continue
			}
			n, err := s.blockSize(item)
			if err != nil {
				return err
			}
			dead = append(dead, item.KeyCopy(nil))
			deadBytes += n
			if len(dead) == gcBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
}

// pruneIndex deletes index entries whose revision has no stored manifest.
func (s *Store) pruneIndex(ctx context.Context, st *GCStats) error {
	var stale [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		liveRev := map[string]bool{}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxIndex}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			_, kind, repo, commit, err := splitIndexKey(k)
			if err != nil {
				return err
			}
			mk := string(manifestKey(kind, repo, commit))
			ok, seen := liveRev[mk]
			if !seen {
				_, err := txn.Get([]byte(mk))
				if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
					return err
				}
				ok = err == nil
				liveRev[mk] = ok
			}
			if !ok {
				stale = append(stale, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.IndexEntries = int64(len(stale))
	return s.deleteKeys(ctx, stale)
}

func (s *Store) deleteKeys(ctx context.Context, keys [][]byte) error {
	for start := 0; start < len(keys); start += gcBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		wb := s.db.NewWriteBatch()
		for _, k := range keys[start:min(start+gcBatch, len(keys))] {
			if err := wb.Delete(k); err != nil {
				wb.Cancel()
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// diskBytes sums what the store's files take on disk.
func (s *Store) diskBytes() (int64, error) {
	var n int64
	err := filepath.WalkDir(s.opts.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile (badger compacting)
		}
		n += disk.Allocated(fi)
		return nil
	})
	return n, err
}

// reclaimPacks gives back the disk space of pack bytes no block points at:
// blocks the sweep deleted, and bytes a failed or interrupted write left.
func (s *Store) reclaimPacks(ctx context.Context) error {
	live := map[uint32][]packLoc{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBlock}})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			if item.UserMeta() != metaPacked {
				continue
			}
			l, err := itemLoc(item)
			if err != nil {
				return err
			}
			live[l.pack] = append(live[l.pack], l)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.packs.reclaim(live)
}

// flushKey is written and dropped at once to make badger flush its
// memtables: DropPrefix flushes them only when the prefix holds a key.
var flushKey = []byte{pfxVersion, 'g', 'c', '-', 'f', 'l', 'u', 's', 'h'}

// vlogGC reclaims value-log space. Badger learns which value-log bytes are
// dead only while compacting the LSM tree, and sweep's deletions are still
// in the memtable, so: flush the memtables (DropPrefix of a key written for
// the purpose), compact the tree into one level (Flatten), then rewrite
// value-log files until badger finds none with at least half dead bytes.
func (s *Store) vlogGC(ctx context.Context) error {
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(flushKey, nil) }); err != nil {
		return fmt.Errorf("flush memtable: %w", err)
	}
	if err := s.db.DropPrefix(flushKey); err != nil {
		return fmt.Errorf("flush memtable: %w", err)
	}
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	for range maxVlogGC {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A rewrite copies a file's live half into the file being written
		// before the old file goes: make sure that fits (see MinFreeBytes).
		if err := s.checkSpace(s.opts.ValueLogFileSize / 2); err != nil {
			s.opts.Logger.Warn("store: value-log GC stopped early", "err", err)
			return nil
		}
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Stat describes what the store holds.
type Stat struct {
	Blocks     int64 // distinct blocks stored
	BlockBytes int64 // their bytes: what the store holds after dedup
	// RepoBytes sums the file sizes of every live revision, each distinct
	// (kind, repo, commit) once however many refs name it: what the repos
	// would take without dedup. RepoBytes/BlockBytes is the dedup ratio.
	RepoBytes int64
	Repos     int // distinct (kind, repo) with at least one ref
	Revisions int // refs
	Commits   int // distinct (kind, repo, commit) named by refs
	Pins      int // pins made with Pin (revision pins not counted)
	// DiskBytes is the disk space the store's files take (badger's files
	// and the packs, as allocated: holes GC punched do not count).
	DiskBytes int64
}

// Stat counts blocks by a key-only scan (sizes come from the keys' value
// pointers, no value is read) and sums the refs.
func (s *Store) Stat(ctx context.Context) (Stat, error) {
	done, err := s.readOp()
	if err != nil {
		return Stat{}, err
	}
	defer done()
	var st Stat
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxBlock}})
		for it.Rewind(); it.Valid(); it.Next() {
			if st.Blocks%4096 == 0 {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
			}
			n, err := s.blockSize(it.Item())
			if err != nil {
				it.Close()
				return err
			}
			st.Blocks++
			st.BlockBytes += n
		}
		it.Close()
		repos := map[string]struct{}{}
		commits := map[string]struct{}{}
		if err := eachRef(txn, refPrefix("", ""), func(r Ref) error {
			st.Revisions++
			repos[string(r.Kind)+"\x00"+r.Repo] = struct{}{}
			ck := string(manifestKey(r.Kind, r.Repo, r.Commit))
			if _, ok := commits[ck]; !ok {
				commits[ck] = struct{}{}
				st.RepoBytes += r.Size
			}
			return nil
		}); err != nil {
			return err
		}
		st.Repos, st.Commits = len(repos), len(commits)
		pit := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{pfxPin}})
		defer pit.Close()
		for pit.Rewind(); pit.Valid(); pit.Next() {
			if _, name, err := splitPinKey(pit.Item().Key()); err == nil && !strings.HasPrefix(name, revisionPinPrefix) {
				st.Pins++
			}
		}
		return nil
	})
	if err != nil {
		return Stat{}, fmt.Errorf("stat: %w", err)
	}
	st.DiskBytes, err = s.diskBytes()
	if err != nil {
		return Stat{}, fmt.Errorf("stat: disk usage: %w", err)
	}
	return st, nil
}
