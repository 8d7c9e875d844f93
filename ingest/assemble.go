package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/internal/direct"
	"github.com/cairnhub/cairn/internal/sha256x"
	"github.com/cairnhub/cairn/manifest"
)

// Blocks is what the Assembler reads blocks from that it did not keep: the
// store the fetch writes into.
type Blocks interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	Get(ctx context.Context, c cid.Cid) (blocks.Block, error)
}

// AssembleOptions tune an Assembler.
type AssembleOptions struct {
	// Out is the folder the files are written into; empty: the files are
	// only checked.
	Out string
	// Window is how many bytes of blocks that arrive ahead of the file
	// being assembled are kept in memory, so that they need not be read back
	// from the store. Default 64 MiB.
	Window int64
}

// DefaultWindow is AssembleOptions.Window's default.
const DefaultWindow = 64 << 20

// Assembler checks the whole-file sha256 of files, and writes them out,
// while their blocks arrive from peers in any order: no file is read back
// from the store to be verified, and an output file's bytes pass the disk
// once. A fetch calls Block for every block it has verified and stored and
// FetchDone when it ends; Run goes through the files in order meanwhile.
type Assembler struct {
	src   Blocks
	files []manifest.File
	o     AssembleOptions

	mu      sync.Mutex
	arrived chan struct{} // closed and replaced on every arrival
	over    bool          // no more blocks will arrive
	overErr error
	uses    map[cid.Cid]int   // leaf → uses not yet consumed
	first   map[cid.Cid]int64 // leaf → offset of its next use in the sequence
	held    map[cid.Cid][]byte
	heldN   int64
	cursor  int64 // offset in the sequence of every file's leaves Run is at

	// The files' sha256, advanced leaf by leaf in order: by Run, or by
	// Check when a leaf arrives as the next its file's hash needs.
	hmu    sync.Mutex
	lists  [][]cid.Cid // every file's leaves, once planned
	hashes []fileHash
	heads  map[string]int // multihash of a file's next leaf to hash → file
}

// fileHash is one file's sha256 over its first next leaves.
type fileHash struct {
	d    *sha256x.Digest
	next int
}

// NewAssembler assembles files, reading blocks it did not keep from src.
func NewAssembler(src Blocks, files []manifest.File, o AssembleOptions) *Assembler {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	return &Assembler{src: src, files: files, o: o, arrived: make(chan struct{}), held: map[cid.Cid][]byte{}}
}

// Block tells the assembler that c arrived, verified, with data. The
// assembler may keep data (not a copy: a fetch hands every block over in
// a buffer of its own), so the caller must not modify it afterwards.
// Safe from any goroutine.
func (a *Assembler) Block(c cid.Cid, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if off, ok := a.first[c]; ok && a.held[c] == nil && off-a.cursor < a.o.Window && a.heldN+int64(len(data)) <= a.o.Window {
		a.held[c] = data
		a.heldN += int64(len(data))
	}
	close(a.arrived)
	a.arrived = make(chan struct{})
}

// FetchDone tells the assembler that no more blocks will arrive; err says
// why the fetch ended early (nil: it completed).
func (a *Assembler) FetchDone(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.over, a.overErr = true, err
	close(a.arrived)
	a.arrived = make(chan struct{})
}

// Run checks (and writes) every file in order and returns the first
// problem: a block that never came, a sha256 or size that does not match
// the manifest (wrapping ErrMismatch), an output that could not be
// written. A file is renamed into Out only once its sha256 matched.
func (a *Assembler) Run(ctx context.Context) error {
	lists, err := a.plan(ctx)
	if err != nil {
		return err
	}
	for i, f := range a.files {
		if err := a.file(ctx, i, f, lists[i]); err != nil {
			return err
		}
	}
	return nil
}

// Check verifies a block that arrived, c with data, when it is the next
// leaf some file's sha256 needs: one pass over data gives its CID's hash
// and the file's hash continued (sha256x.SumWrite), where a fetch's own
// check and the file's would take two. handled says whether it did; ok
// whether data matches c (the file's hash takes it only then). A fetch
// calls it before its own check (fetch.Options.Check); safe from any
// goroutine.
func (a *Assembler) Check(c cid.Cid, data []byte) (handled, ok bool) {
	h := c.Hash()
	want, isSHA := sha256x.MultihashDigest(h)
	if !isSHA {
		return false, false
	}
	// Run holds the lock only to hash a leaf Check did not take, for
	// less time than declining (a hash of data alone) would cost.
	a.hmu.Lock()
	defer a.hmu.Unlock()
	fi, found := a.heads[string(h)]
	if !found {
		return false, false
	}
	sum, next := sha256x.SumWrite(a.hashes[fi].d, data)
	if string(sum[:]) != string(want) {
		return true, false
	}
	a.hashes[fi].d = next
	a.advance(fi)
	return true, true
}

// planned reports whether Run has listed the files' leaves (Check
// declines every block before).
func (a *Assembler) planned() bool {
	a.hmu.Lock()
	defer a.hmu.Unlock()
	return a.lists != nil
}

// hashLeaf adds leaf i of file fi, data, to the file's sha256 unless
// Check did on its arrival. Leaves come in order, so the hash is at i or
// past it.
func (a *Assembler) hashLeaf(fi, i int, data []byte) {
	a.hmu.Lock()
	defer a.hmu.Unlock()
	if a.hashes[fi].next > i {
		return
	}
	a.hashes[fi].d.Write(data)
	a.advance(fi)
}

// advance moves file fi's hash past its next leaf, and makes the leaf
// after it the file's head (unless another file's head is the same
// block: then Run hashes it here). Called with hmu held.
func (a *Assembler) advance(fi int) {
	fh, list := &a.hashes[fi], a.lists[fi]
	if k := string(list[fh.next].Hash()); a.heads[k] == fi {
		delete(a.heads, k)
	}
	fh.next++
	a.setHead(fi)
}

// setHead records file fi's next leaf as its head. Called with hmu held.
func (a *Assembler) setHead(fi int) {
	fh, list := &a.hashes[fi], a.lists[fi]
	if fh.next >= len(list) {
		return
	}
	k := string(list[fh.next].Hash())
	if _, taken := a.heads[k]; !taken {
		a.heads[k] = fi
	}
}

// plan lists every file's leaves (waiting for the files' internal nodes,
// which a fetch brings first) and records where each leaf is used.
func (a *Assembler) plan(ctx context.Context) ([][]cid.Cid, error) {
	lists := make([][]cid.Cid, len(a.files))
	uses, first := map[cid.Cid]int{}, map[cid.Cid]int64{}
	var off int64
	g := waitGetter{a}
	for i, f := range a.files {
		err := chunker.Leaves(ctx, g, f.CID, func(c cid.Cid, size int64) error {
			lists[i] = append(lists[i], c)
			if _, ok := first[c]; !ok {
				first[c] = off
			}
			uses[c]++
			off += max(size, 0)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("assemble %s: %w", f.Path, err)
		}
	}
	a.mu.Lock()
	a.uses, a.first = uses, first
	a.mu.Unlock()
	a.hmu.Lock()
	a.lists, a.hashes, a.heads = lists, make([]fileHash, len(lists)), map[string]int{}
	for i := range lists {
		a.hashes[i].d = sha256x.New()
		a.setHead(i)
	}
	a.hmu.Unlock()
	return lists, nil
}

// file assembles one file from its leaves.
func (a *Assembler) file(ctx context.Context, fi int, f manifest.File, leaves []cid.Cid) error {
	out, err := a.create(f)
	if err != nil {
		return err
	}
	defer out.abort()
	var n int64
	for i, c := range leaves {
		data, err := a.take(ctx, c)
		if err != nil {
			return fmt.Errorf("assemble %s: %w", f.Path, err)
		}
		a.hashLeaf(fi, i, data)
		if err := out.write(data); err != nil {
			return fmt.Errorf("get %s: %w", f.Path, err)
		}
		n += int64(len(data))
	}
	a.hmu.Lock()
	h := a.hashes[fi].d
	a.hmu.Unlock()
	if err := check(f, n, h); err != nil {
		return err
	}
	return out.commit()
}

func check(f manifest.File, n int64, h hash.Hash) error {
	if n != f.Size {
		return fmt.Errorf("get %s: %w: %d bytes, manifest says %d", f.Path, ErrMismatch, n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("get %s: %w: sha256 %s, manifest says %s", f.Path, ErrMismatch, got, f.SHA256)
	}
	return nil
}

// take returns leaf c's bytes: kept from its arrival, else from the store,
// waiting for it to arrive while the fetch runs.
func (a *Assembler) take(ctx context.Context, c cid.Cid) ([]byte, error) {
	for {
		a.mu.Lock()
		if d, ok := a.held[c]; ok {
			a.consume(c, d)
			a.mu.Unlock()
			return d, nil
		}
		arrived, over, overErr := a.arrived, a.over, a.overErr
		a.mu.Unlock()
		b, err := a.stored(ctx, c)
		if err != nil {
			return nil, err
		}
		if b != nil {
			a.mu.Lock()
			a.consume(c, b.RawData())
			a.mu.Unlock()
			return b.RawData(), nil
		}
		if over {
			return nil, fmt.Errorf("block %s never arrived: %w", c, fetchEnded(overErr))
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// consume moves the cursor past one use of c (data) and forgets c once
// it has no use left. Called with mu held.
func (a *Assembler) consume(c cid.Cid, data []byte) {
	a.cursor += int64(len(data))
	if a.uses[c]--; a.uses[c] > 0 {
		return
	}
	delete(a.uses, c)
	delete(a.first, c)
	if d, ok := a.held[c]; ok {
		a.heldN -= int64(len(d))
		delete(a.held, c)
	}
}

// stored returns c from the store, or nil when the store lacks it.
func (a *Assembler) stored(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	ok, err := a.src.Has(ctx, c)
	if err != nil || !ok {
		return nil, err
	}
	return a.src.Get(ctx, c)
}

func fetchEnded(err error) error {
	if err == nil {
		return fmt.Errorf("the fetch ended without it")
	}
	return err
}

// waitGetter reads blocks through the Assembler, waiting for them to
// arrive: the internal nodes of a file being fetched.
type waitGetter struct{ a *Assembler }

func (g waitGetter) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	for {
		g.a.mu.Lock()
		arrived, over, overErr := g.a.arrived, g.a.over, g.a.overErr
		g.a.mu.Unlock()
		b, err := g.a.stored(ctx, c)
		if err != nil || b != nil {
			return b, err
		}
		if over {
			return nil, fmt.Errorf("block %s never arrived: %w", c, fetchEnded(overErr))
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// output is where one file's bytes go: a .part file beside its final
// name, written with direct I/O (fresh page-cache pages cost more than the
// writing here; see package direct), or nowhere when only checking.
type output struct {
	f    *os.File
	w    *direct.Writer
	dst  string
	done bool
}

func (a *Assembler) create(f manifest.File) (*output, error) {
	if a.o.Out == "" {
		return &output{}, nil
	}
	return createOutput(a.o.Out, f)
}

// createOutput opens the .part file of f below outDir.
func createOutput(outDir string, f manifest.File) (*output, error) {
	dst := filepath.Join(outDir, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("get %s: %w", f.Path, err)
	}
	part := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".part")
	// 0644 before the umask, as any file a user writes; a stale .part of an
	// earlier run is replaced.
	fd, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", f.Path, err)
	}
	// Its size is known: allocated at once, every write lands inside the
	// file and is asynchronous (see direct.Allocate); Close trims to size.
	direct.Allocate(fd, direct.Up(f.Size))
	return &output{f: fd, w: direct.NewWriter(fd, 0), dst: dst}, nil
}

func (o *output) write(p []byte) error {
	if o.w == nil {
		return nil
	}
	_, err := o.w.Write(p)
	return err
}

// Write is write for io.Writer.
func (o *output) Write(p []byte) (int, error) {
	if err := o.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// commit closes the .part file and renames it into place.
func (o *output) commit() error {
	o.done = true
	if o.f == nil {
		return nil
	}
	err := o.w.Close()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.dst)
	}
	if err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("get %s: %w", o.dst, err)
	}
	return nil
}

// abort removes the .part file of a file that did not complete.
func (o *output) abort() {
	if o.done || o.f == nil {
		return
	}
	o.w.Close()
	o.f.Close()
	os.Remove(o.f.Name())
}
