package ingest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
)

// Store is what Add needs of the store.
type Store interface {
	chunker.Putter
	Commit(ctx context.Context, m *manifest.Manifest, revision string, blocks []cid.Cid) error
	// Hold keeps garbage collection from deleting blocks that are stored
	// but not yet committed, until release is called.
	Hold(ctx context.Context) (release func(), err error)
}

// AddOptions says where an import goes.
type AddOptions struct {
	// Repo is "org/name"; required.
	Repo string
	// Kind is model or dataset; empty means model.
	Kind manifest.Kind
	// Revision is the ref name to point at the new commit; empty means "main".
	Revision string
	// Chunking selects the splitter; zero value chooses by file format.
	Chunking chunker.Options
	// Workers is how many files are imported at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called with bytes done so far and the total.
	Progress func(done, total int64)
	// FollowSymlinks imports what symlinks point at wherever it is. By
	// default a symlink whose target lies outside the imported folder is
	// refused (and a linked directory outside it is not walked), so a link
	// to /etc/passwd or to a key file is never imported and served; links
	// that stay inside the folder are followed either way.
	FollowSymlinks bool
	// Policy is asked whether this node may hold Repo before anything is
	// read; a refusal ends the import with its error. Nil asks nothing
	// (the caller has no residency policy to apply).
	Policy Policy
	// Gate, when set, scans every file as it is imported (from the same
	// open file: pickle streams and headers only), detects the licences
	// and records its verdict before the commit: a revision that breaks
	// the policy's scan or licenses rule is committed quarantined. Nil
	// checks nothing.
	Gate *gate.Gate
}

// Policy decides whether this node may take a repo in, and records its
// answer; *sovereignty.ImportGate implements it.
type Policy interface {
	MayImport(repo string) error
}

func (o *AddOptions) validate() error {
	if err := manifest.ValidateRepo(o.Repo); err != nil {
		return err
	}
	k, err := manifest.ParseKind(string(o.Kind))
	if err != nil {
		return err
	}
	o.Kind = k
	if o.Revision == "" {
		o.Revision = "main"
	}
	if err := ValidateRevision(o.Revision); err != nil {
		return err
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// ValidateRevision checks a ref name given by a user: git-like, no "..",
// no control characters, not a path that escapes.
func ValidateRevision(r string) error {
	switch {
	case r == "":
		return errors.New("revision: empty")
	case len(r) > 255:
		return fmt.Errorf("revision %q: longer than 255 characters", r[:32]+"…")
	case strings.Contains(r, ".."), strings.HasPrefix(r, "/"), strings.HasSuffix(r, "/"),
		strings.Contains(r, "//"), strings.HasPrefix(r, "-"):
		return fmt.Errorf("revision %q: not a valid ref name", r)
	}
	for _, c := range r {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\@{", c) {
			return fmt.Errorf("revision %q: character %q not allowed", r, c)
		}
	}
	return nil
}

// AddResult reports one import.
type AddResult struct {
	Manifest *manifest.Manifest
	Revision string
	// Bytes is the total size of the files; NewBytes the bytes of blocks
	// that were not in the store before.
	Bytes, NewBytes int64
	Duration        time.Duration
	// Check is the gate's verdict (nil without AddOptions.Gate); its
	// Quarantined tells whether the revision was committed quarantined.
	Check *gate.Result
}

type source struct {
	abs  string      // path on disk
	rel  string      // path in the repo
	size int64       //
	fi   fs.FileInfo // of the file as collected; the opened file must be the same one
}

// Add imports the folder or file at path as a new revision of opts.Repo.
// The revision becomes visible only once every block is stored; on error
// the refs are as they were (blocks already written stay until gc).
func Add(ctx context.Context, st Store, path string, opts AddOptions) (*AddResult, error) {
	start := time.Now()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Policy != nil {
		if err := opts.Policy.MayImport(opts.Repo); err != nil {
			return nil, fmt.Errorf("add %s: %w", opts.Repo, err)
		}
	}
	srcs, err := collect(path, opts.FollowSymlinks)
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("add %s: no files", path)
	}
	release, err := st.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", path, err)
	}
	defer release()
	var total int64
	for _, s := range srcs {
		total += s.size
	}

	files := make([]manifest.File, len(srcs))
	dagBlocks := make([][]cid.Cid, len(srcs))
	var run *gate.Run
	if opts.Gate != nil {
		run = opts.Gate.Start(opts.Kind, opts.Repo)
	}
	var done, newBytes atomic.Int64
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Big files first, so the last worker is not left with one huge file.
	order := make([]int, len(srcs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(srcs[b].size>>20) - int(srcs[a].size>>20) })
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Workers, len(srcs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				f, blocks, nb, err := importOne(ctx, st, srcs[i], opts.Chunking, run)
				if err != nil {
					cancel(err)
					continue
				}
				files[i], dagBlocks[i] = f, blocks
				newBytes.Add(nb)
				d := done.Add(srcs[i].size)
				if opts.Progress != nil {
					opts.Progress(d, total)
				}
			}
		}()
	}
feed:
	for _, i := range order {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}

	entries := make([]chunker.DirEntry, len(files))
	var all []cid.Cid
	for i, f := range files {
		entries[i] = chunker.DirEntry{Path: f.Path, CID: f.CID, Size: f.Size}
		all = append(all, dagBlocks[i]...)
	}
	root, dirBlocks, err := chunker.BuildDir(ctx, st, entries)
	if err != nil {
		return nil, fmt.Errorf("add %s: build directory: %w", path, err)
	}
	all = append(all, dirBlocks...)

	m := &manifest.Manifest{
		Version: manifest.Version, Type: opts.Kind, Repo: opts.Repo,
		Created: time.Now().UTC().Truncate(time.Millisecond),
		Root:    root, Files: files,
	}
	m.Sort()
	if m.Commit, err = m.DeriveCommit(); err != nil {
		return nil, fmt.Errorf("add %s: %w", path, err)
	}
	var check *gate.Result
	if run != nil {
		if check, err = gateRevision(ctx, opts.Gate, run, m); err != nil {
			return nil, fmt.Errorf("add %s: %w", path, err)
		}
	}
	if err := st.Commit(ctx, m, opts.Revision, all); err != nil {
		return nil, fmt.Errorf("add %s: commit %s@%s: %w", path, opts.Repo, opts.Revision, err)
	}
	return &AddResult{Manifest: m, Revision: opts.Revision, Bytes: total, NewBytes: newBytes.Load(), Duration: time.Since(start), Check: check}, nil
}

// gateRevision decides on a revision whose files run has scanned and
// records the verdict, before the commit.
func gateRevision(ctx context.Context, g *gate.Gate, run *gate.Run, m *manifest.Manifest) (*gate.Result, error) {
	res, err := run.Finish(ctx, gate.Paths(m), nil)
	if err != nil {
		return nil, err
	}
	if err := g.Record(ctx, res, m.Commit); err != nil {
		return nil, err
	}
	return res, nil
}

func importOne(ctx context.Context, st chunker.Putter, s source, opts chunker.Options, run *gate.Run) (manifest.File, []cid.Cid, int64, error) {
	f, err := openSource(s)
	if err != nil {
		return manifest.File{}, nil, 0, err
	}
	defer f.Close()
	r, err := chunker.ImportFile(ctx, st, f, s.size, s.rel, opts)
	if err != nil {
		return manifest.File{}, nil, 0, fmt.Errorf("import %s: %w", s.abs, err)
	}
	if r.Size != s.size {
		return manifest.File{}, nil, 0, fmt.Errorf("import %s: file changed while reading (%d bytes, was %d)", s.abs, r.Size, s.size)
	}
	if run != nil {
		// The file just read: the scanner reads its pickles and headers,
		// mostly from the page cache, never its tensor data again.
		if err := run.Scan(ctx, s.rel, f, s.size); err != nil {
			return manifest.File{}, nil, 0, fmt.Errorf("scan %s: %w", s.abs, err)
		}
	}
	sum := hex.EncodeToString(r.SHA256[:])
	lfs := manifest.IsLFS(s.rel, s.size)
	blob := r.BlobID
	if !lfs && blob == "" {
		return manifest.File{}, nil, 0, fmt.Errorf("import %s: chunker returned no blob id", s.abs)
	}
	return manifest.File{
		Path: s.rel, Size: s.size, SHA256: sum, LFS: lfs, CID: r.CID,
		BlobID: manifest.BlobIDOf(lfs, sum, s.size, blob),
	}, r.Blocks, r.NewBytes, nil
}
