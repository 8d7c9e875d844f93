package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cairnhub/cairn/manifest"
	badger "github.com/dgraph-io/badger/v4"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Ref is a revision name of a repo and the commit it points at.
type Ref struct {
	Kind     manifest.Kind
	Repo     string
	Revision string
	Commit   string
	Root     cid.Cid
	// Size is the sum of the revision's file sizes.
	Size int64
	// Updated is when the ref last moved.
	Updated time.Time
}

// refRecord is a ref's stored value.
type refRecord struct {
	Commit  string `json:"commit"`
	Root    string `json:"root"`
	Size    int64  `json:"size"`
	Updated int64  `json:"updated_ms"`
}

func (r refRecord) encode() []byte {
	b, _ := json.Marshal(r) // strings and integers only: cannot fail
	return b
}

func decodeRef(kind manifest.Kind, repo, revision string, v []byte) (Ref, error) {
	var r refRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return Ref{}, fmt.Errorf("ref %s %s@%s: %w", kind, repo, revision, err)
	}
	root, err := cid.Decode(r.Root)
	if err != nil {
		return Ref{}, fmt.Errorf("ref %s %s@%s: root: %w", kind, repo, revision, err)
	}
	return Ref{Kind: kind, Repo: repo, Revision: revision, Commit: r.Commit, Root: root,
		Size: r.Size, Updated: time.UnixMilli(r.Updated).UTC()}, nil
}

func manifestSize(m *manifest.Manifest) int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// indexBatch bounds the index entries written per badger batch.
const indexBatch = 4096

// Commit records revision of m.Repo as pointing at m, atomically: the
// manifest, the ref and the pin of m.Root become visible together or not at
// all. Every block of the revision's DAG (walked from m.Root and each
// file's CID along dag-pb links) and every block in blocks must be stored,
// or Commit fails with ErrMissingBlocks naming the first missing one; the
// union is what the block → repo index records. The block → repo index is
// written in batches before the final transaction, so a crash between the
// two leaves index entries of a revision that does not exist: ReposOf checks
// each entry against a live manifest and GC deletes such entries.
// Committing a manifest already stored under the same revision is a no-op.
// When revision pointed at another commit that no other ref of the repo
// names, that commit's manifest and root pin are dropped (its blocks go at
// the next GC).
func (s *Store) Commit(ctx context.Context, m *manifest.Manifest, revision string, blks []cid.Cid) error {
	var enc []byte
	done, err := s.writeOp(ctx, func() (err error) {
		enc, err = commitArgs(m, revision)
		return err
	})
	if err != nil {
		return err
	}
	defer done()
	what := fmt.Sprintf("commit %s %s@%s (%s)", m.Type, m.Repo, revision, m.Commit)

	roots := make([]cid.Cid, 0, len(m.Files)+1)
	roots = append(roots, m.Root)
	for _, f := range m.Files {
		roots = append(roots, f.CID)
	}
	mhs, err := s.requireDAG(ctx, roots, blks)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Index entries are ~100 bytes in the LSM tree and its memtable log.
	if err := s.checkSpace(int64(len(enc)) + 128*int64(len(mhs))); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}

	mk := manifestKey(m.Type, m.Repo, m.Commit)
	var stored bool
	if err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(mk)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		stored = err == nil
		return err
	}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// A stored manifest had its index written before it became visible.
	if !stored {
		if err := s.writeIndex(ctx, m, mhs); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := s.update(ctx, func(txn *badger.Txn) error {
		return s.commitTxn(txn, m, enc, revision)
	}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// requireDAG checks that every block reachable from roots (following
// dag-pb links; raw blocks are leaves, read by key only) and every block of
// extra is stored, and returns their distinct multihashes. The walk makes
// the check independent of the caller's list: a revision is refused when
// any block of its DAG is missing, listed or not.
func (s *Store) requireDAG(ctx context.Context, roots, extra []cid.Cid) ([]multihash.Multihash, error) {
	seen := make(map[string]struct{}, len(extra)+len(roots))
	mhs := make([]multihash.Multihash, 0, len(extra)+len(roots))
	err := s.db.View(func(txn *badger.Txn) error {
		// check marks c present or fails; it returns c's links when asked
		// to and c is dag-pb.
		check := func(c cid.Cid, links bool) ([]cid.Cid, error) {
			if !c.Defined() {
				return nil, fmt.Errorf("undefined CID: %w", ErrInvalidArgument)
			}
			mh := c.Hash()
			if _, ok := seen[string(mh)]; ok {
				return nil, nil
			}
			if len(seen)%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			seen[string(mh)] = struct{}{}
			it, err := txn.Get(blockKey(mh))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil, fmt.Errorf("block %s: %w", c, ErrMissingBlocks)
			}
			if err != nil {
				return nil, fmt.Errorf("block %s: %w", c, err)
			}
			mhs = append(mhs, mh)
			if !links || c.Type() != cid.DagProtobuf {
				return nil, nil
			}
			var out []cid.Cid
			err = s.blockValue(it, borrow, func(v []byte) error {
				nd, err := merkledag.DecodeProtobuf(v)
				if err != nil {
					return fmt.Errorf("block %s: %w", c, err)
				}
				for _, l := range nd.Links() {
					out = append(out, l.Cid)
				}
				return nil
			})
			return out, err
		}
		// Depth first, links in order, so the first missing block reported
		// is the first in file order.
		stack := slices.Clone(roots)
		slices.Reverse(stack)
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			links, err := check(c, true)
			if err != nil {
				return err
			}
			for i := len(links) - 1; i >= 0; i-- {
				stack = append(stack, links[i])
			}
		}
		for _, c := range extra {
			if _, err := check(c, false); err != nil {
				return err
			}
		}
		return nil
	})
	return mhs, err
}

func (s *Store) writeIndex(ctx context.Context, m *manifest.Manifest, mhs []multihash.Multihash) error {
	for start := 0; start < len(mhs); start += indexBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		wb := s.db.NewWriteBatch()
		for _, mh := range mhs[start:min(start+indexBatch, len(mhs))] {
			if err := wb.Set(indexKey(mh, m.Type, m.Repo, m.Commit), nil); err != nil {
				wb.Cancel()
				return fmt.Errorf("write index: %w", err)
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("write index: %w", err)
		}
	}
	return nil
}

func (s *Store) commitTxn(txn *badger.Txn, m *manifest.Manifest, enc []byte, revision string) error {
	// The root must still be there: DeleteBlock is not held off by Hold.
	if _, err := txn.Get(blockKey(m.Root.Hash())); err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("root %s: %w", m.Root, ErrMissingBlocks)
		}
		return err
	}
	mk := manifestKey(m.Type, m.Repo, m.Commit)
	old, err := getValue(txn, mk)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		if err := txn.Set(mk, enc); err != nil {
			return err
		}
	case err != nil:
		return err
	case !bytes.Equal(old, enc):
		prev, err := manifest.Decode(old)
		if err != nil {
			return fmt.Errorf("stored manifest: %w", err)
		}
		if !prev.Root.Equals(m.Root) {
			return fmt.Errorf("commit %s is already stored with root %s, not %s: %w", m.Commit, prev.Root, m.Root, ErrInvalidArgument)
		}
		// Same content, other bytes (signatures, creation time): keep the latest.
		if err := txn.Set(mk, enc); err != nil {
			return err
		}
	}
	if err := txn.Set(pinKey(m.Root, revisionPinName(m.Type, m.Repo, m.Commit)), nil); err != nil {
		return err
	}
	rk := refKey(m.Type, m.Repo, revision)
	oldRef, err := getValue(txn, rk)
	var prev Ref
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return err
	default:
		prev, err = decodeRef(m.Type, m.Repo, revision, oldRef)
		if err != nil {
			return err
		}
		if prev.Commit == m.Commit {
			return nil
		}
	}
	rec := refRecord{Commit: m.Commit, Root: m.Root.String(), Size: manifestSize(m), Updated: time.Now().UnixMilli()}
	if err := txn.Set(rk, rec.encode()); err != nil {
		return err
	}
	if prev.Commit != "" {
		return dropIfOrphan(txn, prev)
	}
	return nil
}

// dropIfOrphan deletes the manifest and root pin of gone's commit unless
// another ref of the repo still points at it. gone's own ref is already
// moved or deleted in txn.
func dropIfOrphan(txn *badger.Txn, gone Ref) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: refPrefix(gone.Kind, gone.Repo)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		_, _, rev, err := splitKRN(item.Key()[1:])
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		r, err := decodeRef(gone.Kind, gone.Repo, rev, v)
		if err != nil {
			return err
		}
		if r.Commit == gone.Commit {
			return nil
		}
	}
	if err := txn.Delete(manifestKey(gone.Kind, gone.Repo, gone.Commit)); err != nil {
		return err
	}
	return txn.Delete(pinKey(gone.Root, revisionPinName(gone.Kind, gone.Repo, gone.Commit)))
}

func getValue(txn *badger.Txn, k []byte) ([]byte, error) {
	it, err := txn.Get(k)
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// update runs fn in a read-write transaction, retrying on conflicts with
// concurrent ref changes.
func (s *Store) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	var err error
	for range 16 {
		if err = ctx.Err(); err != nil {
			return err
		}
		err = s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// Resolve returns the manifest that revision of repo names: a ref name, or
// else a 40-hex commit stored for the repo. It fails with ErrRepoNotFound
// when nothing of the repo is stored and ErrRevisionNotFound otherwise.
func (s *Store) Resolve(ctx context.Context, kind manifest.Kind, repo, revision string) (*manifest.Manifest, error) {
	what := fmt.Sprintf("resolve %s %s@%s", kind, repo, revision)
	return s.readManifest(ctx, what, kind, repo, func(txn *badger.Txn) (string, error) {
		v, err := getValue(txn, refKey(kind, repo, revision))
		switch {
		case err == nil:
			r, err := decodeRef(kind, repo, revision, v)
			if err != nil {
				return "", err
			}
			return r.Commit, nil
		case !errors.Is(err, badger.ErrKeyNotFound):
			return "", err
		case manifest.ValidateCommit(revision) != nil:
			return "", notFoundIn(txn, kind, repo)
		}
		return revision, nil
	})
}

// commitArgs checks Commit's arguments and returns the encoded manifest.
func commitArgs(m *manifest.Manifest, revision string) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("commit: nil manifest: %w", ErrInvalidArgument)
	}
	if err := validKind(m.Type); err != nil {
		return nil, fmt.Errorf("commit %s: %w", m.Repo, err)
	}
	if err := validName("revision", revision); err != nil {
		return nil, fmt.Errorf("commit %s: %w", m.Repo, err)
	}
	enc, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("commit %s@%s: %w", m.Repo, revision, err)
	}
	return enc, nil
}

// Manifest returns the stored manifest of commit of repo.
func (s *Store) Manifest(ctx context.Context, kind manifest.Kind, repo, commit string) (*manifest.Manifest, error) {
	what := fmt.Sprintf("manifest %s %s@%s", kind, repo, commit)
	return s.readManifest(ctx, what, kind, repo, func(*badger.Txn) (string, error) { return commit, nil })
}

// readManifest reads and decodes the manifest of the commit that pick
// chooses inside the read transaction; what names the call in errors.
func (s *Store) readManifest(ctx context.Context, what string, kind manifest.Kind, repo string, pick func(*badger.Txn) (string, error)) (*manifest.Manifest, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := checkRepoArgs(kind, repo); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var raw []byte
	err = s.db.View(func(txn *badger.Txn) error {
		commit, err := pick(txn)
		if err != nil {
			return err
		}
		raw, err = getValue(txn, manifestKey(kind, repo, commit))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFoundIn(txn, kind, repo)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: stored manifest: %w", what, err)
	}
	return m, nil
}

// notFoundIn tells ErrRevisionNotFound (the repo has refs) from ErrRepoNotFound.
func notFoundIn(txn *badger.Txn, kind manifest.Kind, repo string) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: refPrefix(kind, repo)})
	defer it.Close()
	it.Rewind()
	if it.Valid() {
		return ErrRevisionNotFound
	}
	return ErrRepoNotFound
}

func checkRepoArgs(kind manifest.Kind, repo string) error {
	if err := validKind(kind); err != nil {
		return err
	}
	if err := manifest.ValidateRepo(repo); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}

// Refs lists refs sorted by kind, repo and revision: of one repo, of every
// repo of kind (repo ""), or of everything (kind "" and repo ""; a repo with
// kind "" lists that repo in both kinds). A named repo with no refs is
// ErrRepoNotFound.
func (s *Store) Refs(ctx context.Context, kind manifest.Kind, repo string) ([]Ref, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	what := fmt.Sprintf("refs %s %s", kind, repo)
	if kind != "" {
		if err := validKind(kind); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if repo != "" {
		if err := manifest.ValidateRepo(repo); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", what, ErrInvalidArgument, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var refs []Ref
	prefix := refPrefix(kind, repo)
	if kind == "" {
		prefix = refPrefix("", "")
	}
	err = s.db.View(func(txn *badger.Txn) error {
		return eachRef(txn, prefix, func(r Ref) error {
			if repo == "" || r.Repo == repo {
				refs = append(refs, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if repo != "" && len(refs) == 0 {
		return nil, fmt.Errorf("%s: %w", what, ErrRepoNotFound)
	}
	return refs, nil
}

func eachRef(txn *badger.Txn, prefix []byte, fn func(Ref) error) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		kind, repo, rev, err := splitKRN(item.Key()[1:])
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		r, err := decodeRef(kind, repo, rev, v)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRef removes a revision name. When no other ref of the repo points at
// its commit, the commit's manifest and root pin go too; blocks go at GC.
func (s *Store) DeleteRef(ctx context.Context, kind manifest.Kind, repo, revision string) error {
	what := fmt.Sprintf("delete ref %s %s@%s", kind, repo, revision)
	done, err := s.writeOp(ctx, func() error {
		if err := checkRepoArgs(kind, repo); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer done()
	err = s.update(ctx, func(txn *badger.Txn) error {
		rk := refKey(kind, repo, revision)
		v, err := getValue(txn, rk)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFoundIn(txn, kind, repo)
		}
		if err != nil {
			return err
		}
		r, err := decodeRef(kind, repo, revision, v)
		if err != nil {
			return err
		}
		if err := txn.Delete(rk); err != nil {
			return err
		}
		return dropIfOrphan(txn, r)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ReposOf returns the "org/name" of every repo, of either kind, with a live
// revision (a stored manifest) that holds block c, sorted. Index entries of
// revisions that are gone (deleted, or written by a Commit that never
// finished) are skipped here and deleted by GC.
func (s *Store) ReposOf(ctx context.Context, c cid.Cid) ([]string, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var repos []string
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: indexPrefix(c.Hash())})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, kind, repo, commit, err := splitIndexKey(it.Item().Key())
			if err != nil {
				return err
			}
			if slices.Contains(repos, repo) {
				continue
			}
			_, err = txn.Get(manifestKey(kind, repo, commit))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			repos = append(repos, repo)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repos of %s: %w", c, err)
	}
	slices.Sort(repos)
	return repos, nil
}
