package chunker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cairnhub/cairn/internal/sha256x"
	"github.com/cairnhub/cairn/manifest"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// FileResult describes one imported file.
type FileResult struct {
	// CID is the root of the file's DAG (the raw leaf for a one-chunk file).
	CID cid.Cid
	// Size is the file size in bytes.
	Size int64
	// SHA256 is the whole-file sha256.
	SHA256 [32]byte
	// BlobID is the git blob id (hex sha1) of the content, computed only when
	// Size < manifest.LFSThreshold; empty otherwise.
	BlobID string
	// Blocks lists every distinct block of the DAG once: leaves in file order,
	// then file nodes bottom-up (the root last).
	Blocks []cid.Cid
	// NewBytes counts the bytes of blocks that were not in the store before.
	NewBytes int64
}

// leaf is one chunk of a file, or a file node.
type leaf struct {
	c     cid.Cid
	size  uint64 // file bytes below
	tsize uint64 // encoded bytes below (dag-pb Tsize)
}

// rawCID is the CIDv1 (raw, sha2-256) of data.
func rawCID(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return rawCIDFromDigest(sum[:])
}

func rawCIDFromDigest(sum []byte) cid.Cid {
	var m [2 + sha256.Size]byte
	m[0], m[1] = mh.SHA2_256, sha256.Size
	copy(m[2:], sum)
	return cid.NewCidV1(cid.Raw, m[:])
}

// formatOf decides the strategy Auto stands for.
func formatOf(name string, s Strategy) Strategy {
	if s != Auto {
		return s
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".safetensors":
		return Safetensors
	case ".gguf":
		return GGUF
	}
	return CDC
}

// newSplitter parses the format (if any) and returns the splitter of a file.
func newSplitter(r io.ReaderAt, size int64, name string, o Options) (splitter, error) {
	switch formatOf(name, o.Strategy) {
	case Safetensors:
		info, err := parseSafetensors(r, size)
		if err != nil {
			return nil, err
		}
		return &planSplit{bounds: info.plan(size, o.TensorChunkSize)}, nil
	case GGUF:
		info, err := parseGGUF(r, size)
		if err != nil {
			return nil, err
		}
		return &planSplit{bounds: info.plan(size, o.TensorChunkSize)}, nil
	case Fixed:
		return fixedSplit{size: o.FixedSize}, nil
	default:
		return newFastCDC(o.MinSize, o.AvgSize, o.MaxSize), nil
	}
}

// maxPutGroup is the most batches one PutMany carries.
const maxPutGroup = 4

// batch is a run of whole chunks read in one go. It is released (its buffer
// returned to the pool) once the file hasher and a leaf worker are done.
type batch struct {
	seq   int
	buf   []byte
	data  []byte
	sizes []int
	refs  atomic.Int32

	leaves []leaf
	blocks []blocks.Block
}

// newPutter is a Putter that skips present blocks itself and reports the
// bytes it wrote (the store does).
type newPutter interface {
	PutManyNew(ctx context.Context, bs []blocks.Block) (newBytes int64, err error)
}

// importer is the state of one ImportFile call.
type importer struct {
	put    Putter
	sem    chan struct{} // bounds batches in flight
	bufLen int           // bytes of a batch buffer

	mu       sync.Mutex
	seen     map[cid.Cid]struct{} // blocks of this file already counted
	leaves   [][]leaf             // per batch
	newBytes atomic.Int64
}

func (im *importer) release(b *batch) {
	if b.refs.Add(-1) == 0 {
		putBuf(b.buf)
		im.unacquire()
	}
}

// inflight bounds the batch buffers of all imports together; each import
// also has its own bound (sem), so that one import cannot take them all.
var inflight = make(chan struct{}, 12)

func (im *importer) acquire(ctx context.Context) ([]byte, error) {
	select {
	case im.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	select {
	case inflight <- struct{}{}:
		return getBuf(im.bufLen), nil
	case <-ctx.Done():
		<-im.sem
		return nil, context.Cause(ctx)
	}
}

func (im *importer) unacquire() {
	<-inflight
	<-im.sem
}

// firstSeen reports whether c is met for the first time in this import.
func (im *importer) firstSeen(c cid.Cid) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	if _, ok := im.seen[c]; ok {
		return false
	}
	im.seen[c] = struct{}{}
	return true
}

// store puts the blocks not yet in the store and counts their bytes.
func (im *importer) store(ctx context.Context, bs []blocks.Block) error {
	fresh := bs[:0:0]
	for _, b := range bs {
		if im.firstSeen(b.Cid()) {
			fresh = append(fresh, b)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if pn, ok := im.put.(newPutter); ok {
		n, err := pn.PutManyNew(ctx, fresh)
		if err != nil {
			return fmt.Errorf("put %d blocks: %w", len(fresh), err)
		}
		im.newBytes.Add(n)
		return nil
	}
	bs, fresh = fresh, bs[:0:0]
	for _, b := range bs {
		has, err := im.put.Has(ctx, b.Cid())
		if err != nil {
			return fmt.Errorf("has %s: %w", b.Cid(), err)
		}
		if !has {
			fresh = append(fresh, b)
			im.newBytes.Add(int64(len(b.RawData())))
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := im.put.PutMany(ctx, fresh); err != nil {
		return fmt.Errorf("put %d blocks: %w", len(fresh), err)
	}
	return nil
}

// hashBatch makes the leaf blocks of a batch (sha256 of every chunk).
func (im *importer) hashBatch(b *batch) {
	b.leaves = make([]leaf, len(b.sizes))
	b.blocks = make([]blocks.Block, len(b.sizes))
	off := 0
	for i, n := range b.sizes {
		chunk := b.data[off : off+n : off+n]
		off += n
		// Through sha256x.Shared: paired with another leaf or with the
		// whole-file hash of the same bytes (hashFile).
		sum := sha256x.Shared.Sum(chunk)
		c := rawCIDFromDigest(sum[:])
		blk, _ := blocks.NewBlockWithCid(chunk, c) // cannot fail: no check without u.Debug
		b.leaves[i] = leaf{c: c, size: uint64(n), tsize: uint64(n)}
		b.blocks[i] = blk
	}
}

// putBatch stores a hashed batch and records its leaves.
// putBatches stores hashed batches with one PutMany and records their
// leaves.
func (im *importer) putBatches(ctx context.Context, bs []*batch) error {
	var all []blocks.Block
	for _, b := range bs {
		all = append(all, b.blocks...)
	}
	if err := im.store(ctx, all); err != nil {
		return err
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, b := range bs {
		for len(im.leaves) <= b.seq {
			im.leaves = append(im.leaves, nil)
		}
		im.leaves[b.seq] = b.leaves
		b.blocks = nil
	}
	return nil
}

// ImportFile cuts the size bytes of r into chunks (by opts.Strategy), stores
// every block through put, and returns the file's root CID and digests. name
// picks the format under Auto and names the file in errors. A malformed
// safetensors or GGUF file is an error wrapping ErrFormat.
func ImportFile(ctx context.Context, put Putter, r io.ReaderAt, size int64, name string, opts Options) (FileResult, error) {
	if err := opts.Validate(); err != nil {
		return FileResult{}, err
	}
	o := opts.withDefaults()
	if size < 0 {
		return FileResult{}, fmt.Errorf("%s: negative size %d", name, size)
	}
	sp, err := newSplitter(r, size, name, o)
	if err != nil {
		return FileResult{}, fmt.Errorf("%s: %w", name, err)
	}
	res, err := importWith(ctx, put, r, size, sp, o)
	if err != nil {
		return FileResult{}, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

func importWith(ctx context.Context, put Putter, r io.ReaderAt, size int64, sp splitter, o Options) (FileResult, error) {
	var blob hash.Hash
	if size < manifest.LFSThreshold {
		blob = manifest.NewBlobHash(size)
	}
	im := &importer{
		put:  put,
		sem:  make(chan struct{}, 2*o.Workers+4),
		seen: make(map[cid.Cid]struct{}),
		// A small file needs one buffer of its size, a large one bufSize.
		bufLen: int(min(size, bufSize)),
	}
	if size == 0 {
		return im.empty(ctx, blob)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	fileCh := make(chan *batch, cap(im.sem))
	workCh := make(chan *batch, cap(im.sem))
	// Leaf hashers hand hashed batches to the putter, so that hashing goes
	// on while the store writes (its writes wait on the disk now and then).
	putCh := make(chan *batch, cap(im.sem))
	var wg sync.WaitGroup
	fileHash := sha256x.New()
	wg.Go(func() { im.hashFile(ctx, fileCh, fileHash, blob) })
	var hashers sync.WaitGroup
	for range o.Workers {
		hashers.Go(func() { im.hashLeaves(ctx, workCh, putCh) })
	}
	go func() {
		hashers.Wait()
		close(putCh)
	}()
	wg.Go(func() { im.putLoop(ctx, putCh, cancel) })
	readErr := im.read(ctx, r, size, sp, fileCh, workCh)
	wg.Wait()
	if readErr != nil {
		cancel(readErr)
	}
	if err := context.Cause(ctx); err != nil {
		return FileResult{Size: size}, err
	}
	res, err := im.finish(ctx, size)
	if err != nil {
		return res, err
	}
	copy(res.SHA256[:], fileHash.Sum(nil))
	if blob != nil {
		res.BlobID = hex.EncodeToString(blob.Sum(nil))
	}
	return res, nil
}

// empty imports a file of no bytes: one empty raw block.
func (im *importer) empty(ctx context.Context, blob hash.Hash) (FileResult, error) {
	res := FileResult{}
	c := rawCID(nil)
	blk, _ := blocks.NewBlockWithCid([]byte{}, c)
	if err := im.store(ctx, []blocks.Block{blk}); err != nil {
		return res, err
	}
	res.CID, res.Blocks, res.NewBytes = c, []cid.Cid{c}, im.newBytes.Load()
	res.SHA256 = sha256.Sum256(nil)
	res.BlobID = hex.EncodeToString(blob.Sum(nil))
	return res, nil
}

// hashFile is the whole-file hasher: batches in file order.
func (im *importer) hashFile(ctx context.Context, in <-chan *batch, fileHash *sha256x.Digest, blob hash.Hash) {
	for b := range in {
		if ctx.Err() == nil {
			// Chunk by chunk, so that each pairs with a leaf hasher's
			// hash of the same chunk, of the same length.
			off := 0
			for _, n := range b.sizes {
				sha256x.Shared.Write(fileHash, b.data[off:off+n])
				off += n
			}
			if blob != nil {
				blob.Write(b.data)
			}
		}
		im.release(b)
	}
}

// hashLeaves hashes the chunks of each batch and passes it to the putter.
func (im *importer) hashLeaves(ctx context.Context, in <-chan *batch, out chan<- *batch) {
	for b := range in {
		if ctx.Err() == nil {
			im.hashBatch(b)
		}
		out <- b
	}
}

// putLoop is the one putter: concurrent PutMany calls only queue behind
// each other in the store's single writer. When the store falls behind,
// the batches waiting for it go in one PutMany (fewer, larger commits).
func (im *importer) putLoop(ctx context.Context, in <-chan *batch, fail context.CancelCauseFunc) {
	var group []*batch
	for b := range in {
		group = append(group[:0], b)
	drain:
		for len(group) < maxPutGroup {
			select {
			case b, ok := <-in:
				if !ok {
					break drain
				}
				group = append(group, b)
			default:
				break drain
			}
		}
		if ctx.Err() == nil {
			if err := im.putBatches(ctx, group); err != nil {
				fail(err)
			}
		}
		for _, b := range group {
			im.release(b)
		}
	}
}

// read is the reader: large sequential reads, cut into whole chunks. The
// unfinished chunk at the end of a batch goes to the next one through
// carry, so that the reader never holds two buffers while it waits for
// one (imports share the global buffer budget).
func (im *importer) read(ctx context.Context, r io.ReaderAt, size int64, sp splitter, fileCh, workCh chan<- *batch) error {
	defer close(fileCh)
	defer close(workCh)
	var carry []byte
	var base int64 // file offset of the next batch's first byte
	for seq := 0; ; seq++ {
		buf, err := im.acquire(ctx)
		if err != nil {
			return err
		}
		n := copy(buf, carry)
		if n, err = readBatch(r, buf, n, base, size); err != nil {
			putBuf(buf)
			im.unacquire()
			return err
		}
		final := base+int64(n) == size
		sizes, pos := cutBatch(sp, buf[:n], base, final)
		if (final && pos != n) || (!final && pos == 0) {
			putBuf(buf)
			im.unacquire()
			return fmt.Errorf("chunker: splitter stalled at offset %d", base+int64(pos))
		}
		carry = append(carry[:0], buf[pos:n]...)
		b := &batch{seq: seq, buf: buf, data: buf[:pos], sizes: sizes}
		b.refs.Store(2)
		fileCh <- b // channels hold cap(sem) batches: never blocks for long
		workCh <- b
		if final {
			return nil
		}
		base += int64(pos)
	}
}

// readBatch fills buf after its first n bytes (carried over) with the file
// from base+n, as far as the file goes, and returns the bytes it holds.
func readBatch(r io.ReaderAt, buf []byte, n int, base, size int64) (int, error) {
	want := min(int64(len(buf)-n), size-base-int64(n))
	if want <= 0 {
		return n, nil
	}
	got, err := r.ReadAt(buf[n:n+int(want)], base+int64(n))
	if int64(got) < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("file shorter than %d bytes: %w", size, io.ErrUnexpectedEOF)
		}
		return n, fmt.Errorf("read at %d: %w", base+int64(n), err)
	}
	return n + int(want), nil
}

// cutBatch cuts data, which starts at file offset base, into whole chunks
// and returns their sizes and the bytes they cover.
func cutBatch(sp splitter, data []byte, base int64, final bool) (sizes []int, pos int) {
	for pos < len(data) {
		c := sp.cut(base+int64(pos), data[pos:], final)
		if c <= 0 {
			break
		}
		sizes = append(sizes, c)
		pos += c
	}
	return sizes, pos
}

// finish builds and stores the file's DAG over the leaves and lists its
// blocks.
func (im *importer) finish(ctx context.Context, size int64) (FileResult, error) {
	res := FileResult{Size: size}
	var leaves []leaf
	for _, ls := range im.leaves {
		leaves = append(leaves, ls...)
	}
	root, nodes, err := balanced(leaves)
	if err != nil {
		return res, err
	}
	if err := im.store(ctx, nodes); err != nil {
		return res, err
	}
	seen := make(map[cid.Cid]struct{}, len(leaves)+len(nodes))
	res.Blocks = make([]cid.Cid, 0, len(im.seen))
	for _, l := range leaves {
		if _, ok := seen[l.c]; !ok {
			seen[l.c] = struct{}{}
			res.Blocks = append(res.Blocks, l.c)
		}
	}
	for _, nd := range nodes {
		if _, ok := seen[nd.Cid()]; !ok {
			seen[nd.Cid()] = struct{}{}
			res.Blocks = append(res.Blocks, nd.Cid())
		}
	}
	res.CID = root.c
	res.NewBytes = im.newBytes.Load()
	return res, nil
}
