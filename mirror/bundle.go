package mirror

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	carindex "github.com/ipld/go-car/v2/index"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multicodec"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// BundleFormat names the layout of the index block.
const BundleFormat = "cairn-bundle/1"

// Errors a caller may test for.
var (
	// ErrBundle: the bundle is truncated, tampered with, incomplete or not
	// a Cairn bundle. Nothing of it became visible.
	ErrBundle = errors.New("bad bundle")
)

// Rev names one revision of a repo.
type Rev struct {
	Kind     manifest.Kind
	Repo     string
	Revision string
}

func (r Rev) String() string { return r.Repo + "@" + r.Revision }

// ExportOptions tune Export.
type ExportOptions struct {
	// Since are revisions the receiving site holds already: their blocks
	// are left out. Default none: a full bundle.
	Since []Rev
	// Progress, when set, is called with the bytes written so far and the
	// bundle's size.
	Progress func(done, total int64)
}

// ExportResult describes a written bundle.
type ExportResult struct {
	Roots     []cid.Cid
	Index     cid.Cid
	Manifests []*manifest.Manifest
	Blocks    int   // data blocks (manifests and index not counted)
	Bytes     int64 // the bundle's size
	// Skipped counts blocks left out because a Since revision holds them.
	Skipped int
}

type planned struct {
	c    cid.Cid
	size int
}

// Export writes a CARv2 bundle of revs to w, streaming: the size of every
// section is known before the first byte is written (from the store's
// block sizes), so the CARv2 header goes first and w need not seek. The
// store is held against GC while blocks are read.
func Export(ctx context.Context, st *store.Store, w io.Writer, revs []Rev, o ExportOptions) (*ExportResult, error) {
	if len(revs) == 0 {
		return nil, errors.New("export: no revision given")
	}
	release, err := st.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer release()

	skip := map[string]struct{}{}
	for _, s := range o.Since {
		m, err := st.Resolve(ctx, s.Kind, s.Repo, s.Revision)
		if err != nil {
			return nil, fmt.Errorf("export --since %s: %w", s, err)
		}
		seen := map[string]struct{}{}
		add := func(c cid.Cid, _ int) error { skip[string(c.Hash())] = struct{}{}; return nil }
		if err := walkDAG(ctx, st, m.Root, seen, nil, add); err != nil {
			return nil, fmt.Errorf("export --since %s: %w", s, err)
		}
		for _, f := range m.Files {
			if err := walkDAG(ctx, st, f.CID, seen, nil, add); err != nil {
				return nil, fmt.Errorf("export --since %s: %s: %w", s, f.Path, err)
			}
		}
	}

	res := &ExportResult{}
	var ents []indexRev
	var mblocks []blocks.Block
	var plan []planned
	seen := map[string]struct{}{}
	manSeen := map[cid.Cid]bool{}
	var dataBytes int64
	add := func(c cid.Cid, n int) error {
		plan = append(plan, planned{c, n})
		dataBytes += int64(n)
		return nil
	}
	for _, r := range revs {
		m, err := st.Resolve(ctx, r.Kind, r.Repo, r.Revision)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", r, err)
		}
		enc, err := m.Encode()
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", r, err)
		}
		mb := rawBlock(enc)
		if !manSeen[mb.Cid()] {
			manSeen[mb.Cid()] = true
			mblocks = append(mblocks, mb)
			res.Manifests = append(res.Manifests, m)
		}
		ents = append(ents, indexRev{Type: string(m.Type), Repo: m.Repo, Revision: r.Revision, Commit: m.Commit, Root: m.Root, Manifest: mb.Cid()})
		if !slices.Contains(res.Roots, m.Root) {
			res.Roots = append(res.Roots, m.Root)
		}
		if err := walkDAG(ctx, st, m.Root, seen, skip, add); err != nil {
			return nil, fmt.Errorf("export %s: %w", r, err)
		}
		for _, f := range m.Files {
			if err := walkDAG(ctx, st, f.CID, seen, skip, add); err != nil {
				return nil, fmt.Errorf("export %s: %s: %w", r, f.Path, err)
			}
		}
	}
	for k := range skip {
		if _, ok := seen[k]; ok {
			res.Skipped++
		}
	}
	idx := bundleIndex{Format: BundleFormat, Blocks: int64(len(plan)), Bytes: dataBytes, Revisions: ents}
	for _, s := range o.Since {
		m, _ := st.Resolve(ctx, s.Kind, s.Repo, s.Revision)
		idx.Since = append(idx.Since, indexSince{Type: string(m.Type), Repo: m.Repo, Commit: m.Commit, Root: m.Root})
	}
	ib, err := encodeIndex(idx)
	if err != nil {
		return nil, fmt.Errorf("export: index: %w", err)
	}
	res.Index = ib.Cid()
	res.Roots = append(res.Roots, ib.Cid())
	res.Blocks = len(plan)

	// Sizes first: the CARv2 header names the data size and index offset.
	v1hdr := carV1Header(res.Roots)
	dataSize := int64(len(v1hdr))
	sec := func(c cid.Cid, n int) int64 {
		l := int64(c.ByteLen() + n)
		return int64(uvarintLen(uint64(l))) + l
	}
	records := make([]carindex.Record, 0, len(plan)+len(mblocks)+1)
	record := func(c cid.Cid, n int) {
		records = append(records, carindex.Record{Cid: c, Offset: uint64(dataSize)})
		dataSize += sec(c, n)
	}
	record(ib.Cid(), len(ib.RawData()))
	for _, b := range mblocks {
		record(b.Cid(), len(b.RawData()))
	}
	for _, p := range plan {
		record(p.c, p.size)
	}
	ci, err := carindex.New(multicodec.CarMultihashIndexSorted)
	if err != nil {
		return nil, err
	}
	if err := ci.Load(records); err != nil {
		return nil, fmt.Errorf("export: car index: %w", err)
	}
	var ixbuf bytes.Buffer
	if _, err := carindex.WriteTo(ci, &ixbuf); err != nil {
		return nil, fmt.Errorf("export: car index: %w", err)
	}
	h := car.Header{DataOffset: car.PragmaSize + car.HeaderSize, DataSize: uint64(dataSize)}
	h.IndexOffset = h.DataOffset + h.DataSize
	total := int64(h.IndexOffset) + int64(ixbuf.Len())

	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if _, err := bw.Write(car.Pragma); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if _, err := h.WriteTo(bw); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	bw.Write(v1hdr)
	var vb [binary.MaxVarintLen64]byte
	writeSec := func(c cid.Cid, data []byte) error {
		n := binary.PutUvarint(vb[:], uint64(c.ByteLen()+len(data)))
		bw.Write(vb[:n])
		bw.Write(c.Bytes())
		_, err := bw.Write(data)
		return err
	}
	if err := writeSec(ib.Cid(), ib.RawData()); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, b := range mblocks {
		if err := writeSec(b.Cid(), b.RawData()); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	for i, p := range plan {
		err := st.ViewOnce(ctx, p.c, func(data []byte) error {
			if len(data) != p.size {
				return fmt.Errorf("block %s changed size while exporting", p.c)
			}
			return writeSec(p.c, data)
		})
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if o.Progress != nil && i%64 == 0 {
			o.Progress(cw.n+int64(bw.Buffered()), total)
		}
	}
	if _, err := bw.Write(ixbuf.Bytes()); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if cw.n != total {
		return nil, fmt.Errorf("export: wrote %d bytes, planned %d", cw.n, total)
	}
	if o.Progress != nil {
		o.Progress(total, total)
	}
	res.Bytes = total
	return res, nil
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Workers hash blocks in parallel. Default GOMAXPROCS.
	Workers int
	// Progress, when set, is called with the bundle bytes read so far.
	Progress func(done int64)
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

	cr := &countReader{r: r, progress: o.Progress}
	br := bufio.NewReaderSize(cr, 64<<10)
	var v2 *car.Header
	if p, err := br.Peek(car.PragmaSize + car.HeaderSize); err == nil && bytes.Equal(p[:car.PragmaSize], car.Pragma) {
		var h car.Header
		if _, err := h.ReadFrom(bytes.NewReader(p[car.PragmaSize:])); err != nil {
			return nil, fmt.Errorf("%w: CARv2 header: %v", ErrBundle, err)
		}
		v2 = &h
	}
	rd, err := car.NewBlockReader(br, car.WithTrustedCAR(true), car.MaxAllowedSectionSize(maxSection))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBundle, err)
	}
	if len(rd.Roots) == 0 {
		return nil, fmt.Errorf("%w: no roots", ErrBundle)
	}
	// The CARv2 index a Cairn bundle carries is rebuilt from the sections
	// read and compared byte for byte with the one in the file, rather than
	// parsed: it is untrusted input too.
	dataSize := int64(len(carV1Header(rd.Roots)))
	var records []carindex.Record
	record := func(c cid.Cid, n int) {
		records = append(records, carindex.Record{Cid: c, Offset: uint64(dataSize)})
		l := int64(c.ByteLen() + n)
		dataSize += int64(uvarintLen(uint64(l))) + l
	}
	next := func() (blocks.Block, error) {
		c, r, n, err := rd.NextReader()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("%w: truncated or damaged after %d bytes: %v", ErrBundle, cr.n, err)
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
			return nil, fmt.Errorf("%w: truncated in block %s after %d bytes: %v", ErrBundle, c, cr.n, err)
		}
		record(c, len(data))
		return blocks.NewBlockWithCid(data, c)
	}

	// The index block comes first and is the last root.
	ib, err := next()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: no blocks", ErrBundle)
	}
	if err != nil {
		return nil, err
	}
	if !ib.Cid().Equals(rd.Roots[len(rd.Roots)-1]) || ib.Cid().Type() != cid.DagJSON {
		return nil, fmt.Errorf("%w: first block %s is not the Cairn index (not a Cairn bundle?)", ErrBundle, ib.Cid())
	}
	if err := checkBlock(ib.Cid(), ib.RawData()); err != nil {
		return nil, err
	}
	idx, err := decodeIndex(ib.RawData())
	if err != nil {
		return nil, fmt.Errorf("%w: index %s: %v", ErrBundle, ib.Cid(), err)
	}
	for _, rv := range idx.Revisions {
		if !slices.ContainsFunc(rd.Roots, rv.Root.Equals) {
			return nil, fmt.Errorf("%w: revision %s@%s: root %s is not a root of the CAR", ErrBundle, rv.Repo, rv.Revision, rv.Root)
		}
	}

	// Manifests follow, one block each.
	mans := map[cid.Cid]*manifest.Manifest{}
	want := map[cid.Cid]bool{}
	for _, rv := range idx.Revisions {
		want[rv.Manifest] = true
	}
	for len(mans) < len(want) {
		b, err := next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: truncated: %d of %d manifests", ErrBundle, len(mans), len(want))
		}
		if err != nil {
			return nil, err
		}
		if !want[b.Cid()] || mans[b.Cid()] != nil {
			return nil, fmt.Errorf("%w: block %s where a manifest was expected", ErrBundle, b.Cid())
		}
		if err := checkBlock(b.Cid(), b.RawData()); err != nil {
			return nil, err
		}
		m, err := manifest.Decode(b.RawData())
		if err != nil {
			return nil, fmt.Errorf("%w: manifest %s: %v", ErrBundle, b.Cid(), err)
		}
		mans[b.Cid()] = m
	}
	files := map[string]*fileCheck{} // by file CID multihash
	var order []*fileCheck
	for _, rv := range idx.Revisions {
		m := mans[rv.Manifest]
		if string(m.Type) != rv.Type || m.Repo != rv.Repo || m.Commit != rv.Commit || !m.Root.Equals(rv.Root) {
			return nil, fmt.Errorf("%w: manifest %s is %s %s@%s root %s, index says %s %s@%s root %s",
				ErrBundle, rv.Manifest, m.Type, m.Repo, m.Commit, m.Root, rv.Type, rv.Repo, rv.Commit, rv.Root)
		}
		for _, f := range m.Files {
			k := string(f.CID.Hash())
			fc := files[k]
			if fc == nil {
				fc = &fileCheck{c: f.CID, h: sha256.New()}
				files[k] = fc
				order = append(order, fc)
			}
			fc.want = append(fc.want, fileWant{rev: rv.Repo + "@" + rv.Revision, f: f})
		}
	}

	// Data blocks: hashed by workers, stored by one putter, and followed in
	// stream order by the sequencer, which hashes each file whose leaves
	// arrive in file order (the order Export writes).
	g, gctx := errgroup.WithContext(ctx)
	toHash := make(chan *pooled, queue)
	toPut := make(chan *pooled, queue)
	toSeq := make(chan *pooled, queue)
	var nblocks atomic.Int64
	var dataBytes atomic.Int64
	g.Go(func() error {
		defer close(toHash)
		defer close(toSeq)
		for {
			c, r, n, err := rd.NextReader()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%w: truncated or damaged after %d bytes: %v", ErrBundle, cr.n, err)
			}
			if n > chunker.MaxBlockSize {
				return fmt.Errorf("%w: block %s: %d bytes, more than %d", ErrBundle, c, n, chunker.MaxBlockSize)
			}
			buf := bufPool.Get().(*[]byte)
			if _, err := io.ReadFull(r, (*buf)[:n]); err != nil {
				return fmt.Errorf("%w: truncated in block %s after %d bytes: %v", ErrBundle, c, cr.n, err)
			}
			blk, err := blocks.NewBlockWithCid((*buf)[:n], c)
			if err != nil {
				return fmt.Errorf("%w: block %s: %v", ErrBundle, c, err)
			}
			record(c, int(n))
			p := &pooled{Block: blk, buf: buf}
			p.refs.Store(2) // the putter and the sequencer
			nblocks.Add(1)
			dataBytes.Add(int64(n))
			for _, ch := range []chan *pooled{toHash, toSeq} {
				select {
				case ch <- p:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
	})
	var hw sync.WaitGroup
	for range workers {
		hw.Add(1)
		g.Go(func() error {
			defer hw.Done()
			for b := range toHash {
				if err := checkBlock(b.Cid(), b.RawData()); err != nil {
					return err
				}
				select {
				case toPut <- b:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { hw.Wait(); close(toPut) }()
	// Several putters: the store's write path (copies into badger's value
	// log, page faults on fresh pages) is the slowest stage of an import.
	var putNanos atomic.Int64
	var newBytesA atomic.Int64
	for range putters {
		g.Go(func() error {
			var batch []blocks.Block
			var held []*pooled
			var size int
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				t0 := time.Now()
				n, err := st.PutManyNew(gctx, batch)
				putNanos.Add(int64(time.Since(t0)))
				if err != nil {
					return fmt.Errorf("import: store: %w", err)
				}
				newBytesA.Add(n)
				// The store keeps no reference to the data once PutMany
				// returned (it is committed in a badger write batch).
				for _, p := range held {
					p.release()
				}
				batch, held, size = batch[:0], held[:0], 0
				return nil
			}
			for b := range toPut {
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
		})
	}
	g.Go(func() error {
		sq := newSequencer(order)
		for b := range toSeq {
			err := sq.block(b.Block)
			b.release()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if nb := nblocks.Load(); nb != idx.Blocks || dataBytes.Load() != idx.Bytes {
		return nil, fmt.Errorf("%w: truncated or incomplete: %d blocks (%d bytes), index says %d (%d bytes)", ErrBundle, nb, dataBytes.Load(), idx.Blocks, idx.Bytes)
	}
	// A Cairn bundle is a CARv2 whose index follows the data: both must be
	// there whole, the index exactly as the sections read make it.
	if v2 == nil {
		return nil, fmt.Errorf("%w: a CARv1 file, not a Cairn bundle (CARv2)", ErrBundle)
	}
	if v2.DataSize != uint64(dataSize) || v2.IndexOffset == 0 {
		return nil, fmt.Errorf("%w: truncated or damaged: %d bytes of data read, the CARv2 header says %d", ErrBundle, dataSize, v2.DataSize)
	}
	ci, err := carindex.New(multicodec.CarMultihashIndexSorted)
	if err != nil {
		return nil, err
	}
	if err := ci.Load(records); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBundle, err)
	}
	var wantIx bytes.Buffer
	if _, err := carindex.WriteTo(ci, &wantIx); err != nil {
		return nil, err
	}
	read := uint64(cr.n) - uint64(br.Buffered())
	if v2.IndexOffset < read || v2.IndexOffset-read > 1<<20 {
		return nil, fmt.Errorf("%w: CARv2 index offset %d does not follow the data (%d)", ErrBundle, v2.IndexOffset, read)
	}
	if _, err := io.CopyN(io.Discard, br, int64(v2.IndexOffset-read)); err != nil {
		return nil, fmt.Errorf("%w: truncated before the CARv2 index: %v", ErrBundle, err)
	}
	got, err := io.ReadAll(io.LimitReader(br, int64(wantIx.Len())+1))
	if err != nil {
		return nil, fmt.Errorf("%w: CARv2 index: %v", ErrBundle, err)
	}
	switch {
	case len(got) < wantIx.Len():
		return nil, fmt.Errorf("%w: truncated in the CARv2 index (%d of %d bytes)", ErrBundle, len(got), wantIx.Len())
	case len(got) > wantIx.Len():
		return nil, fmt.Errorf("%w: data after the CARv2 index", ErrBundle)
	case !bytes.Equal(got, wantIx.Bytes()):
		return nil, fmt.Errorf("%w: tampered: the CARv2 index does not match the blocks", ErrBundle)
	}

	// Every revision complete, every file's sha256 right.
	for _, rv := range idx.Revisions {
		m := mans[rv.Manifest]
		miss, err := missingBlock(ctx, st, m.Root)
		if err != nil {
			return nil, fmt.Errorf("import %s@%s: %w", rv.Repo, rv.Revision, err)
		}
		if miss.Defined() {
			return nil, fmt.Errorf("%w: incomplete: block %s of %s@%s is neither in the bundle nor in the store", ErrBundle, miss, rv.Repo, rv.Revision)
		}
	}
	var reread []*fileCheck
	for _, fc := range order {
		if !fc.done {
			reread = append(reread, fc)
			continue
		}
		if err := fc.verify(fc.n, hex.EncodeToString(fc.h.Sum(nil))); err != nil {
			return nil, err
		}
	}
	if err := rereadFiles(ctx, st, reread, workers); err != nil {
		return nil, err
	}
	res := &ImportResult{Blocks: int(nblocks.Load()), NewBytes: newBytesA.Load(), Reread: len(reread), StoreTime: time.Duration(putNanos.Load())}
	for _, rv := range idx.Revisions {
		m := mans[rv.Manifest]
		if err := st.Commit(ctx, m, rv.Revision, nil); err != nil {
			return nil, fmt.Errorf("import %s@%s: %w", rv.Repo, rv.Revision, err)
		}
		res.Revisions = append(res.Revisions, ImportedRev{Kind: m.Type, Repo: m.Repo, Revision: rv.Revision, Commit: m.Commit, Root: m.Root})
	}
	res.Bytes = cr.n
	return res, nil
}

type fileWant struct {
	rev string
	f   manifest.File
}

// fileCheck follows one distinct file DAG through the stream.
type fileCheck struct {
	c     cid.Cid
	want  []fileWant
	stack []cid.Cid // blocks still to come, next on top
	h     hash.Hash
	n     int64
	done  bool
}

func (fc *fileCheck) verify(n int64, sum string) error {
	for _, w := range fc.want {
		if n != w.f.Size {
			return fmt.Errorf("%w: %s: %s: %d bytes, manifest says %d", ErrBundle, w.rev, w.f.Path, n, w.f.Size)
		}
		if sum != w.f.SHA256 {
			return fmt.Errorf("%w: %s: %s: sha256 %s, manifest says %s", ErrBundle, w.rev, w.f.Path, sum, w.f.SHA256)
		}
	}
	return nil
}

// sequencer hashes files as their blocks stream by. A file whose next
// block never comes (stored once for two places, or left out of an
// incremental bundle) stays unfinished and is re-read from the store.
type sequencer struct {
	waiting map[string][]*fileCheck // next expected block → files
}

func newSequencer(files []*fileCheck) *sequencer {
	s := &sequencer{waiting: map[string][]*fileCheck{}}
	for _, fc := range files {
		fc.stack = []cid.Cid{fc.c}
		k := string(fc.c.Hash())
		s.waiting[k] = append(s.waiting[k], fc)
	}
	return s
}

func (s *sequencer) block(b blocks.Block) error {
	k := string(b.Cid().Hash())
	fcs := s.waiting[k]
	if len(fcs) == 0 {
		return nil
	}
	delete(s.waiting, k)
	var links []cid.Cid
	if b.Cid().Type() == cid.DagProtobuf {
		pn, err := merkledag.DecodeProtobuf(b.RawData())
		if err != nil {
			return fmt.Errorf("%w: block %s: %v", ErrBundle, b.Cid(), err)
		}
		for _, l := range pn.Links() {
			links = append(links, l.Cid)
		}
	}
	for _, fc := range fcs {
		fc.stack = fc.stack[:len(fc.stack)-1]
		switch b.Cid().Type() {
		case cid.Raw:
			fc.h.Write(b.RawData())
			fc.n += int64(len(b.RawData()))
		case cid.DagProtobuf:
			for i := len(links) - 1; i >= 0; i-- {
				fc.stack = append(fc.stack, links[i])
			}
		}
		if len(fc.stack) == 0 {
			fc.done = true
			continue
		}
		nk := string(fc.stack[len(fc.stack)-1].Hash())
		s.waiting[nk] = append(s.waiting[nk], fc)
	}
	return nil
}

func rereadFiles(ctx context.Context, st *store.Store, fcs []*fileCheck, workers int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, fc := range fcs {
		g.Go(func() error {
			r, err := chunker.NewReader(gctx, st, fc.c)
			if err != nil {
				return fmt.Errorf("%w: %s: %s: %v", ErrBundle, fc.want[0].rev, fc.want[0].f.Path, err)
			}
			h := sha256.New()
			n, err := io.Copy(h, r)
			if err != nil {
				return fmt.Errorf("%w: %s: %s: %v", ErrBundle, fc.want[0].rev, fc.want[0].f.Path, err)
			}
			return fc.verify(n, hex.EncodeToString(h.Sum(nil)))
		})
	}
	return g.Wait()
}

// checkBlock verifies that data hashes to c; only sha2-256 is accepted.
func checkBlock(c cid.Cid, data []byte) error {
	d, err := mh.Decode(c.Hash())
	if err != nil || d.Code != mh.SHA2_256 || d.Length != sha256.Size {
		return fmt.Errorf("%w: block %s: not a sha2-256 CID", ErrBundle, c)
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], d.Digest) {
		return fmt.Errorf("%w: tampered: block %s does not hash to its CID", ErrBundle, c)
	}
	return nil
}

func rawBlock(data []byte) blocks.Block {
	sum := sha256.Sum256(data)
	m, _ := mh.Encode(sum[:], mh.SHA2_256)
	b, _ := blocks.NewBlockWithCid(data, cid.NewCidV1(cid.Raw, m))
	return b
}

// indexRev is one revision entry of the index block.
type indexRev struct {
	Type, Repo, Revision, Commit string
	Root, Manifest               cid.Cid
}

type indexSince struct {
	Type, Repo, Commit string
	Root               cid.Cid
}

// bundleIndex is the dag-json index block (see doc.go).
type bundleIndex struct {
	Format    string
	Blocks    int64
	Bytes     int64
	Revisions []indexRev
	Since     []indexSince
}

func encodeIndex(x bundleIndex) (blocks.Block, error) {
	n, err := qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "format", qp.String(x.Format))
		qp.MapEntry(ma, "blocks", qp.Int(x.Blocks))
		qp.MapEntry(ma, "bytes", qp.Int(x.Bytes))
		qp.MapEntry(ma, "revisions", qp.List(-1, func(la datamodel.ListAssembler) {
			for _, r := range x.Revisions {
				qp.ListEntry(la, qp.Map(-1, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "type", qp.String(r.Type))
					qp.MapEntry(ma, "repo", qp.String(r.Repo))
					qp.MapEntry(ma, "revision", qp.String(r.Revision))
					qp.MapEntry(ma, "commit", qp.String(r.Commit))
					qp.MapEntry(ma, "root", qp.Link(cidlink.Link{Cid: r.Root}))
					qp.MapEntry(ma, "manifest", qp.Link(cidlink.Link{Cid: r.Manifest}))
				}))
			}
		}))
		qp.MapEntry(ma, "since", qp.List(-1, func(la datamodel.ListAssembler) {
			for _, s := range x.Since {
				qp.ListEntry(la, qp.Map(-1, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "type", qp.String(s.Type))
					qp.MapEntry(ma, "repo", qp.String(s.Repo))
					qp.MapEntry(ma, "commit", qp.String(s.Commit))
					// A string, not a link: the receiving site holds it,
					// the bundle does not.
					qp.MapEntry(ma, "root", qp.String(s.Root.String()))
				}))
			}
		}))
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(n, &buf); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	m, _ := mh.Encode(sum[:], mh.SHA2_256)
	return blocks.NewBlockWithCid(buf.Bytes(), cid.NewCidV1(cid.DagJSON, m))
}

// maxIndex bounds the index block.
const maxIndex = 16 << 20

type jsonLink struct {
	Slash string `json:"/"`
}

func (l jsonLink) cid() (cid.Cid, error) { return cid.Decode(l.Slash) }

// decodeIndex parses and checks an index block (untrusted bytes).
func decodeIndex(b []byte) (bundleIndex, error) {
	if len(b) > maxIndex {
		return bundleIndex{}, fmt.Errorf("index of %d bytes, at most %d", len(b), maxIndex)
	}
	var doc struct {
		Format    string `json:"format"`
		Blocks    int64  `json:"blocks"`
		Bytes     int64  `json:"bytes"`
		Revisions []struct {
			Type     string   `json:"type"`
			Repo     string   `json:"repo"`
			Revision string   `json:"revision"`
			Commit   string   `json:"commit"`
			Root     jsonLink `json:"root"`
			Manifest jsonLink `json:"manifest"`
		} `json:"revisions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return bundleIndex{}, err
	}
	if doc.Format != BundleFormat {
		return bundleIndex{}, fmt.Errorf("format %q, want %q", doc.Format, BundleFormat)
	}
	if doc.Blocks < 0 || doc.Bytes < 0 {
		return bundleIndex{}, errors.New("negative block count or size")
	}
	if len(doc.Revisions) == 0 {
		return bundleIndex{}, errors.New("no revisions")
	}
	x := bundleIndex{Format: doc.Format, Blocks: doc.Blocks, Bytes: doc.Bytes}
	names := map[string]bool{}
	for i, r := range doc.Revisions {
		k, err := manifest.ParseKind(r.Type)
		if err != nil || r.Type == "" {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: type %q", i, r.Type)
		}
		if err := manifest.ValidateRepo(r.Repo); err != nil {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: %w", i, err)
		}
		if err := ingest.ValidateRevision(r.Revision); err != nil {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: %w", i, err)
		}
		if err := manifest.ValidateCommit(r.Commit); err != nil {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: %w", i, err)
		}
		name := string(k) + ":" + r.Repo + "@" + r.Revision
		if names[name] {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: %s twice", i, name)
		}
		names[name] = true
		root, err := r.Root.cid()
		if err != nil {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: root: %w", i, err)
		}
		mc, err := r.Manifest.cid()
		if err != nil {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: manifest: %w", i, err)
		}
		if mc.Type() != cid.Raw {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: manifest %s is not a raw block", i, mc)
		}
		x.Revisions = append(x.Revisions, indexRev{Type: string(k), Repo: r.Repo, Revision: r.Revision, Commit: r.Commit, Root: root, Manifest: mc})
	}
	return x, nil
}

// carV1Header is the CARv1 header section: a varint length, then dag-cbor
// {"roots": [CID…], "version": 1} with keys in dag-cbor's canonical order.
func carV1Header(roots []cid.Cid) []byte {
	var body []byte
	body = append(body, 0xa2)
	body = cborText(body, "roots")
	body = cborHead(body, 4, uint64(len(roots)))
	for _, r := range roots {
		body = append(body, 0xd8, 0x2a) // tag 42: CID
		cb := r.Bytes()
		body = cborHead(body, 2, uint64(len(cb)+1))
		body = append(body, 0x00)
		body = append(body, cb...)
	}
	body = cborText(body, "version")
	body = append(body, 0x01)
	out := binary.AppendUvarint(nil, uint64(len(body)))
	return append(out, body...)
}

func cborText(b []byte, s string) []byte {
	b = cborHead(b, 3, uint64(len(s)))
	return append(b, s...)
}

func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}
