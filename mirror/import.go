package mirror

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	carindex "github.com/ipld/go-car/v2/index"
	"github.com/multiformats/go-multicodec"
	"golang.org/x/sync/errgroup"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// ImportOptions tune Import.
type ImportOptions struct {
	// Workers hash blocks in parallel. Default GOMAXPROCS.
	Workers int
	// Progress, when set, is called with the bundle bytes read so far.
	Progress func(done int64)
	// Policy, when set, is asked whether this node may hold each repo of
	// the bundle, once its manifests are read and before any data block is
	// stored: one refusal refuses the whole bundle.
	Policy ingest.Policy
	// Gate, when set, checks each revision once every other check passed
	// and before its refs are committed: it scans the files through the
	// store (pickle members and headers only), detects the licences and
	// records its verdict; a revision breaking the policy's scan or
	// licenses rule is committed quarantined.
	Gate *gate.Gate
}

// ImportResult describes an imported bundle.
type ImportResult struct {
	Revisions []ImportedRev
	Blocks    int   // data blocks read
	Bytes     int64 // bundle bytes read
	NewBytes  int64 // bytes of blocks the store did not hold
	// StoreTime is the time spent in the store's writes, summed over the
	// putters: the import's floor on this disk.
	StoreTime time.Duration
	// Reread counts files whose sha256 was checked by reading them back
	// from the store (their leaves did not all arrive in file order).
	Reread int
}

// ImportedRev is one revision made visible by Import.
type ImportedRev struct {
	Kind     manifest.Kind `json:"type"`
	Repo     string        `json:"repo"`
	Revision string        `json:"revision"`
	Commit   string        `json:"commit"`
	Root     cid.Cid       `json:"root"`
	// Quarantined is set when the gate committed the revision quarantined.
	Quarantined bool `json:"quarantined,omitempty"`
}

// pooled is a data block whose buffer goes back to bufPool once the
// putter and the sequencer are done with it: an import allocates a few
// buffers, not one per block.
type pooled struct {
	blocks.Block
	buf  *[]byte
	refs atomic.Int32
}

func (p *pooled) release() {
	if p.refs.Add(-1) == 0 {
		bufPool.Put(p.buf)
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, chunker.MaxBlockSize); return &b }}

// putters is how many goroutines write blocks to the store at once.
var putters = 2

// Import's queues hold up to queue blocks each (1 MiB at most), so that
// the store's pauses do not stall the hashing; a putter writes putBatch
// bytes per call. Memory: about 3*queue + putters*putBatch bytes.
var (
	queue    = 16
	putBatch = 16 << 20
)

// maxSection bounds one CAR section: a manifest may reach manifest.MaxSize.
const maxSection = manifest.MaxSize + 1024

// Import reads a bundle from r and makes its revisions visible, after
// every check passed: each block's hash against its CID, the bundle's
// block count and length against its headers, each manifest against the
// index, each revision's DAG complete (from the bundle or the store), and
// the whole-file sha256 of every file. Blocks are stored as they stream
// in, under store.Hold, and stay invisible until the refs are committed at
// the very end; a refused bundle leaves every ref as it was.
func Import(ctx context.Context, st *store.Store, r io.Reader, o ImportOptions) (*ImportResult, error) {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	release, err := st.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer release()

	im := &importer{st: st, workers: workers, cr: &countReader{r: r, progress: o.Progress}, policy: o.Policy, gate: o.Gate}
	for _, step := range []func(context.Context) error{
		im.open,
		im.readIndex,
		im.readManifests,
		im.checkPolicy,
		im.streamBlocks,
		im.checkCounts,
		im.checkCARIndex,
		im.checkComplete,
		im.checkFiles,
		im.checkGate,
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return im.commit(ctx)
}

// importer is the state of one Import, read in the bundle's order: the
// index block, the manifests, then the data blocks; checked, then
// committed.
type importer struct {
	st      *store.Store
	workers int
	policy  ingest.Policy
	gate    *gate.Gate
	checked map[string]bool // kind:repo@commit the gate quarantined
	cr      *countReader
	br      *bufio.Reader
	rd      *car.BlockReader
	v2      *car.Header // nil for a CARv1 file, refused after the blocks

	// The CARv2 index a Cairn bundle carries is rebuilt from the sections
	// read and compared byte for byte with the one in the file, rather than
	// parsed: it is untrusted input too.
	dataSize int64
	records  []carindex.Record

	idx   bundleIndex
	mans  map[cid.Cid]*manifest.Manifest
	files []*fileCheck // distinct files, in manifest order

	nblocks, dataBytes, newBytes, putNanos atomic.Int64
	reread                                 int
}

// open reads the CARv2 header, if any, and the CARv1 header.
func (im *importer) open(context.Context) error {
	im.br = bufio.NewReaderSize(im.cr, 64<<10)
	if p, err := im.br.Peek(car.PragmaSize + car.HeaderSize); err == nil && bytes.Equal(p[:car.PragmaSize], car.Pragma) {
		var h car.Header
		if _, err := h.ReadFrom(bytes.NewReader(p[car.PragmaSize:])); err != nil {
			return fmt.Errorf("%w: CARv2 header: %v", ErrBundle, err)
		}
		im.v2 = &h
	}
	rd, err := car.NewBlockReader(im.br, car.WithTrustedCAR(true), car.MaxAllowedSectionSize(maxSection))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBundle, err)
	}
	if len(rd.Roots) == 0 {
		return fmt.Errorf("%w: no roots", ErrBundle)
	}
	im.rd = rd
	im.dataSize = int64(len(carV1Header(rd.Roots)))
	return nil
}

// record adds a section of n bytes of block c to the rebuilt CARv2 index.
func (im *importer) record(c cid.Cid, n int) {
	im.records = append(im.records, carindex.Record{Cid: c, Offset: uint64(im.dataSize)})
	l := int64(c.ByteLen() + n)
	im.dataSize += int64(uvarintLen(uint64(l))) + l
}

// next reads one index or manifest block whole.
func (im *importer) next() (blocks.Block, error) {
	c, r, n, err := im.rd.NextReader()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: truncated or damaged after %d bytes: %v", ErrBundle, im.cr.n, err)
	}
	if n > maxSection {
		return nil, fmt.Errorf("%w: block %s: %d bytes, more than %d", ErrBundle, c, n, maxSection)
	}
	// ReadAll grows with the bytes that arrive, not with what the
	// (untrusted) length says.
	data, err := io.ReadAll(r)
	if err == nil && uint64(len(data)) != n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: truncated in block %s after %d bytes: %v", ErrBundle, c, im.cr.n, err)
	}
	im.record(c, len(data))
	return blocks.NewBlockWithCid(data, c)
}

// readIndex reads the index block, which comes first and is the last root.
func (im *importer) readIndex(context.Context) error {
	ib, err := im.next()
	if err == io.EOF {
		return fmt.Errorf("%w: no blocks", ErrBundle)
	}
	if err != nil {
		return err
	}
	roots := im.rd.Roots
	if !ib.Cid().Equals(roots[len(roots)-1]) || ib.Cid().Type() != cid.DagJSON {
		return fmt.Errorf("%w: first block %s is not the Cairn index (not a Cairn bundle?)", ErrBundle, ib.Cid())
	}
	if err := checkBlock(ib.Cid(), ib.RawData()); err != nil {
		return err
	}
	if im.idx, err = decodeIndex(ib.RawData()); err != nil {
		return fmt.Errorf("%w: index %s: %v", ErrBundle, ib.Cid(), err)
	}
	for _, rv := range im.idx.Revisions {
		if !slices.ContainsFunc(roots, rv.Root.Equals) {
			return fmt.Errorf("%w: revision %s@%s: root %s is not a root of the CAR", ErrBundle, rv.Repo, rv.Revision, rv.Root)
		}
	}
	return nil
}

// readManifests reads the manifests, one block each after the index, and
// lists the distinct files whose sha256 the import checks.
func (im *importer) readManifests(context.Context) error {
	im.mans = map[cid.Cid]*manifest.Manifest{}
	want := map[cid.Cid]bool{}
	for _, rv := range im.idx.Revisions {
		want[rv.Manifest] = true
	}
	for len(im.mans) < len(want) {
		b, err := im.next()
		if err == io.EOF {
			return fmt.Errorf("%w: truncated: %d of %d manifests", ErrBundle, len(im.mans), len(want))
		}
		if err != nil {
			return err
		}
		if !want[b.Cid()] || im.mans[b.Cid()] != nil {
			return fmt.Errorf("%w: block %s where a manifest was expected", ErrBundle, b.Cid())
		}
		if err := checkBlock(b.Cid(), b.RawData()); err != nil {
			return err
		}
		m, err := manifest.Decode(b.RawData())
		if err != nil {
			return fmt.Errorf("%w: manifest %s: %v", ErrBundle, b.Cid(), err)
		}
		im.mans[b.Cid()] = m
	}
	return im.listFiles()
}

// checkPolicy asks the policy about every repo of the bundle.
func (im *importer) checkPolicy(context.Context) error {
	if im.policy == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range im.mans {
		if seen[m.Repo] {
			continue
		}
		seen[m.Repo] = true
		if err := im.policy.MayImport(m.Repo); err != nil {
			return fmt.Errorf("bundle import of %s: %w", m.Repo, err)
		}
	}
	return nil
}

// listFiles checks each manifest against its index entry and gathers the
// distinct files of all revisions.
func (im *importer) listFiles() error {
	files := map[string]*fileCheck{} // by file CID multihash
	for _, rv := range im.idx.Revisions {
		m := im.mans[rv.Manifest]
		if string(m.Type) != rv.Type || m.Repo != rv.Repo || m.Commit != rv.Commit || !m.Root.Equals(rv.Root) {
			return fmt.Errorf("%w: manifest %s is %s %s@%s root %s, index says %s %s@%s root %s",
				ErrBundle, rv.Manifest, m.Type, m.Repo, m.Commit, m.Root, rv.Type, rv.Repo, rv.Commit, rv.Root)
		}
		for _, f := range m.Files {
			k := string(f.CID.Hash())
			fc := files[k]
			if fc == nil {
				fc = &fileCheck{c: f.CID, h: sha256.New()}
				files[k] = fc
				im.files = append(im.files, fc)
			}
			fc.want = append(fc.want, fileWant{rev: rv.Repo + "@" + rv.Revision, f: f})
		}
	}
	return nil
}

// streamBlocks reads the data blocks: hashed by workers, stored by the
// putters, and followed in stream order by the sequencer, which hashes
// each file whose leaves arrive in file order (the order Export writes).
func (im *importer) streamBlocks(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	toHash := make(chan *pooled, queue)
	toPut := make(chan *pooled, queue)
	toSeq := make(chan *pooled, queue)
	g.Go(func() error { return im.readBlocks(gctx, toHash, toSeq) })
	var hw sync.WaitGroup
	for range im.workers {
		hw.Add(1)
		g.Go(func() error {
			defer hw.Done()
			return hashBlocks(gctx, toHash, toPut)
		})
	}
	go func() { hw.Wait(); close(toPut) }()
	// Several putters: the store's write path (copies into badger's value
	// log, page faults on fresh pages) is the slowest stage of an import.
	for range putters {
		g.Go(func() error { return im.putBlocks(gctx, toPut) })
	}
	g.Go(func() error { return im.sequence(toSeq) })
	return g.Wait()
}

// readBlocks reads the data blocks into pooled buffers and hands each to
// the hashers and the sequencer.
func (im *importer) readBlocks(ctx context.Context, toHash, toSeq chan<- *pooled) error {
	defer close(toHash)
	defer close(toSeq)
	for {
		c, r, n, err := im.rd.NextReader()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: truncated or damaged after %d bytes: %v", ErrBundle, im.cr.n, err)
		}
		if n > chunker.MaxBlockSize {
			return fmt.Errorf("%w: block %s: %d bytes, more than %d", ErrBundle, c, n, chunker.MaxBlockSize)
		}
		buf := bufPool.Get().(*[]byte)
		if _, err := io.ReadFull(r, (*buf)[:n]); err != nil {
			return fmt.Errorf("%w: truncated in block %s after %d bytes: %v", ErrBundle, c, im.cr.n, err)
		}
		blk, err := blocks.NewBlockWithCid((*buf)[:n], c)
		if err != nil {
			return fmt.Errorf("%w: block %s: %v", ErrBundle, c, err)
		}
		im.record(c, int(n))
		p := &pooled{Block: blk, buf: buf}
		p.refs.Store(2) // the putter and the sequencer
		im.nblocks.Add(1)
		im.dataBytes.Add(int64(n))
		for _, ch := range []chan<- *pooled{toHash, toSeq} {
			select {
			case ch <- p:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// hashBlocks checks each block against its CID and passes it on.
func hashBlocks(ctx context.Context, in <-chan *pooled, out chan<- *pooled) error {
	for b := range in {
		if err := checkBlock(b.Cid(), b.RawData()); err != nil {
			return err
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// putBlocks writes checked blocks to the store in batches of putBatch
// bytes or 256 blocks.
func (im *importer) putBlocks(ctx context.Context, in <-chan *pooled) error {
	var batch []blocks.Block
	var held []*pooled
	var size int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		t0 := time.Now()
		n, err := im.st.PutManyNew(ctx, batch)
		im.putNanos.Add(int64(time.Since(t0)))
		if err != nil {
			return fmt.Errorf("import: store: %w", err)
		}
		im.newBytes.Add(n)
		// The store keeps no reference to the data once PutMany
		// returned (it is committed in a badger write batch).
		for _, p := range held {
			p.release()
		}
		batch, held, size = batch[:0], held[:0], 0
		return nil
	}
	for b := range in {
		batch = append(batch, b.Block)
		held = append(held, b)
		size += len(b.RawData())
		if size >= putBatch || len(batch) >= 256 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// sequence follows the files through the stream of blocks.
func (im *importer) sequence(in <-chan *pooled) error {
	sq := newSequencer(im.files)
	for b := range in {
		err := sq.block(b.Block)
		b.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// checkCounts compares the blocks read with the index and the CARv2 header.
func (im *importer) checkCounts(context.Context) error {
	if nb := im.nblocks.Load(); nb != im.idx.Blocks || im.dataBytes.Load() != im.idx.Bytes {
		return fmt.Errorf("%w: truncated or incomplete: %d blocks (%d bytes), index says %d (%d bytes)", ErrBundle, nb, im.dataBytes.Load(), im.idx.Blocks, im.idx.Bytes)
	}
	// A Cairn bundle is a CARv2 whose index follows the data: both must be
	// there whole, the index exactly as the sections read make it.
	if im.v2 == nil {
		return fmt.Errorf("%w: a CARv1 file, not a Cairn bundle (CARv2)", ErrBundle)
	}
	if im.v2.DataSize != uint64(im.dataSize) || im.v2.IndexOffset == 0 {
		return fmt.Errorf("%w: truncated or damaged: %d bytes of data read, the CARv2 header says %d", ErrBundle, im.dataSize, im.v2.DataSize)
	}
	return nil
}

// checkCARIndex reads the CARv2 index after the data and compares it with
// the one the sections read make.
func (im *importer) checkCARIndex(context.Context) error {
	ci, err := carindex.New(multicodec.CarMultihashIndexSorted)
	if err != nil {
		return err
	}
	if err := ci.Load(im.records); err != nil {
		return fmt.Errorf("%w: %v", ErrBundle, err)
	}
	var wantIx bytes.Buffer
	if _, err := carindex.WriteTo(ci, &wantIx); err != nil {
		return err
	}
	read := uint64(im.cr.n) - uint64(im.br.Buffered())
	if im.v2.IndexOffset < read || im.v2.IndexOffset-read > 1<<20 {
		return fmt.Errorf("%w: CARv2 index offset %d does not follow the data (%d)", ErrBundle, im.v2.IndexOffset, read)
	}
	if _, err := io.CopyN(io.Discard, im.br, int64(im.v2.IndexOffset-read)); err != nil {
		return fmt.Errorf("%w: truncated before the CARv2 index: %v", ErrBundle, err)
	}
	got, err := io.ReadAll(io.LimitReader(im.br, int64(wantIx.Len())+1))
	if err != nil {
		return fmt.Errorf("%w: CARv2 index: %v", ErrBundle, err)
	}
	switch {
	case len(got) < wantIx.Len():
		return fmt.Errorf("%w: truncated in the CARv2 index (%d of %d bytes)", ErrBundle, len(got), wantIx.Len())
	case len(got) > wantIx.Len():
		return fmt.Errorf("%w: data after the CARv2 index", ErrBundle)
	case !bytes.Equal(got, wantIx.Bytes()):
		return fmt.Errorf("%w: tampered: the CARv2 index does not match the blocks", ErrBundle)
	}
	return nil
}

// checkComplete checks that every revision's DAG is whole, from the bundle
// or the store.
func (im *importer) checkComplete(ctx context.Context) error {
	for _, rv := range im.idx.Revisions {
		m := im.mans[rv.Manifest]
		miss, err := missingBlock(ctx, im.st, m.Root)
		if err != nil {
			return fmt.Errorf("import %s@%s: %w", rv.Repo, rv.Revision, err)
		}
		if miss.Defined() {
			return fmt.Errorf("%w: incomplete: block %s of %s@%s is neither in the bundle nor in the store", ErrBundle, miss, rv.Repo, rv.Revision)
		}
	}
	return nil
}

// checkFiles checks every file's size and sha256: those the sequencer
// hashed whole, and the others read back from the store.
func (im *importer) checkFiles(ctx context.Context) error {
	var reread []*fileCheck
	for _, fc := range im.files {
		if !fc.done {
			reread = append(reread, fc)
			continue
		}
		if err := fc.verify(fc.n, hex.EncodeToString(fc.h.Sum(nil))); err != nil {
			return err
		}
	}
	im.reread = len(reread)
	return rereadFiles(ctx, im.st, reread, im.workers)
}

// checkGate runs the gate on each revision (once per manifest) and records
// its verdicts, before any ref is committed.
func (im *importer) checkGate(ctx context.Context) error {
	if im.gate == nil {
		return nil
	}
	im.checked = map[string]bool{}
	for _, rv := range im.idx.Revisions {
		m := im.mans[rv.Manifest]
		key := string(m.Type) + ":" + m.Repo + "@" + m.Commit
		if _, done := im.checked[key]; done {
			continue
		}
		res, err := checkRevision(ctx, im.gate, im.st, m, []byte(rv.Release))
		if err != nil {
			return fmt.Errorf("import %s@%s: %w", rv.Repo, rv.Revision, err)
		}
		im.checked[key] = res.Quarantined()
	}
	return nil
}

// commit makes the revisions visible, once every check passed.
func (im *importer) commit(ctx context.Context) (*ImportResult, error) {
	res := &ImportResult{Blocks: int(im.nblocks.Load()), NewBytes: im.newBytes.Load(), Reread: im.reread, StoreTime: time.Duration(im.putNanos.Load())}
	for _, rv := range im.idx.Revisions {
		m := im.mans[rv.Manifest]
		if err := im.st.Commit(ctx, m, rv.Revision, nil); err != nil {
			return nil, fmt.Errorf("import %s@%s: %w", rv.Repo, rv.Revision, err)
		}
		res.Revisions = append(res.Revisions, ImportedRev{Kind: m.Type, Repo: m.Repo, Revision: rv.Revision, Commit: m.Commit, Root: m.Root,
			Quarantined: im.checked[string(m.Type)+":"+m.Repo+"@"+m.Commit]})
	}
	res.Bytes = im.cr.n
	return res, nil
}
