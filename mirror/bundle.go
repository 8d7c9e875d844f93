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
	"slices"
	"strings"

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
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// BundleFormat names the layout of the index block.
const BundleFormat = "cairn-bundle/1"

// Errors a caller may test for.
var (
	// ErrBundle: the bundle is truncated, tampered with, incomplete or not
	// a Cairn bundle. Nothing of it became visible.
	ErrBundle = errors.New("bad bundle")
	// ErrQuarantined: Export refuses a revision that is quarantined and
	// not released.
	ErrQuarantined = errors.New("revision quarantined")
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

	ex := &exporter{st: st, o: o, res: &ExportResult{}, seen: map[string]struct{}{}}
	if ex.skip, err = sinceBlocks(ctx, st, o.Since); err != nil {
		return nil, err
	}
	if err := ex.plan(ctx, revs); err != nil {
		return nil, err
	}
	if err := ex.index(ctx); err != nil {
		return nil, err
	}
	if err := ex.layout(); err != nil {
		return nil, err
	}
	if err := ex.write(ctx, w); err != nil {
		return nil, err
	}
	return ex.res, nil
}

// exporter is the state of one Export: the blocks planned, then the
// bundle's layout, then its bytes.
type exporter struct {
	st  *store.Store
	o   ExportOptions
	res *ExportResult

	skip      map[string]struct{} // multihashes the receiving site holds
	seen      map[string]struct{} // multihashes planned
	ents      []indexRev
	mblocks   []blocks.Block // manifests, distinct
	blocks    []planned      // data blocks, in DAG order
	dataBytes int64
	ib        blocks.Block // the index block

	v1hdr []byte
	ixbuf bytes.Buffer // the CARv2 index
	h     car.Header
	total int64 // the bundle's size
}

// sinceBlocks returns the multihashes of every block of the since
// revisions.
func sinceBlocks(ctx context.Context, st *store.Store, since []Rev) (map[string]struct{}, error) {
	skip := map[string]struct{}{}
	for _, s := range since {
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
	return skip, nil
}

// exportRelease refuses a revision whose quarantine holds (a bundle
// replicates it) and returns the signed release of one whose quarantine
// was lifted, which travels in the index so that the receiving site can
// verify and apply it.
func exportRelease(ctx context.Context, st *store.Store, m *manifest.Manifest) (string, error) {
	q, ok, err := st.QuarantineOf(ctx, m.Type, m.Repo, m.Commit)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", nil
	case q.InForce():
		return "", fmt.Errorf("%w: %s", ErrQuarantined, strings.Join(q.Reasons, "; "))
	}
	return string(q.Release), nil
}

// plan lists the manifests and the data blocks of revs, each once, leaving
// out what the receiving site holds.
func (ex *exporter) plan(ctx context.Context, revs []Rev) error {
	manSeen := map[cid.Cid]bool{}
	add := func(c cid.Cid, n int) error {
		ex.blocks = append(ex.blocks, planned{c, n})
		ex.dataBytes += int64(n)
		return nil
	}
	for _, r := range revs {
		m, err := ex.st.Resolve(ctx, r.Kind, r.Repo, r.Revision)
		if err != nil {
			return fmt.Errorf("export %s: %w", r, err)
		}
		enc, err := m.Encode()
		if err != nil {
			return fmt.Errorf("export %s: %w", r, err)
		}
		mb := rawBlock(enc)
		if !manSeen[mb.Cid()] {
			manSeen[mb.Cid()] = true
			ex.mblocks = append(ex.mblocks, mb)
			ex.res.Manifests = append(ex.res.Manifests, m)
		}
		rel, err := exportRelease(ctx, ex.st, m)
		if err != nil {
			return fmt.Errorf("export %s: %w", r, err)
		}
		ex.ents = append(ex.ents, indexRev{Type: string(m.Type), Repo: m.Repo, Revision: r.Revision, Commit: m.Commit, Root: m.Root, Manifest: mb.Cid(), Release: rel})
		if !slices.Contains(ex.res.Roots, m.Root) {
			ex.res.Roots = append(ex.res.Roots, m.Root)
		}
		if err := walkDAG(ctx, ex.st, m.Root, ex.seen, ex.skip, add); err != nil {
			return fmt.Errorf("export %s: %w", r, err)
		}
		for _, f := range m.Files {
			if err := walkDAG(ctx, ex.st, f.CID, ex.seen, ex.skip, add); err != nil {
				return fmt.Errorf("export %s: %s: %w", r, f.Path, err)
			}
		}
	}
	for k := range ex.skip {
		if _, ok := ex.seen[k]; ok {
			ex.res.Skipped++
		}
	}
	return nil
}

// index builds the index block, the last root.
func (ex *exporter) index(ctx context.Context) error {
	idx := bundleIndex{Format: BundleFormat, Blocks: int64(len(ex.blocks)), Bytes: ex.dataBytes, Revisions: ex.ents}
	for _, s := range ex.o.Since {
		m, _ := ex.st.Resolve(ctx, s.Kind, s.Repo, s.Revision)
		idx.Since = append(idx.Since, indexSince{Type: string(m.Type), Repo: m.Repo, Commit: m.Commit, Root: m.Root})
	}
	ib, err := encodeIndex(idx)
	if err != nil {
		return fmt.Errorf("export: index: %w", err)
	}
	ex.ib = ib
	ex.res.Index = ib.Cid()
	ex.res.Roots = append(ex.res.Roots, ib.Cid())
	ex.res.Blocks = len(ex.blocks)
	return nil
}

// layout sizes every section first: the CARv2 header names the data size
// and the index offset.
func (ex *exporter) layout() error {
	ex.v1hdr = carV1Header(ex.res.Roots)
	dataSize := int64(len(ex.v1hdr))
	records := make([]carindex.Record, 0, len(ex.blocks)+len(ex.mblocks)+1)
	record := func(c cid.Cid, n int) {
		records = append(records, carindex.Record{Cid: c, Offset: uint64(dataSize)})
		l := int64(c.ByteLen() + n)
		dataSize += int64(uvarintLen(uint64(l))) + l
	}
	record(ex.ib.Cid(), len(ex.ib.RawData()))
	for _, b := range ex.mblocks {
		record(b.Cid(), len(b.RawData()))
	}
	for _, p := range ex.blocks {
		record(p.c, p.size)
	}
	ci, err := carindex.New(multicodec.CarMultihashIndexSorted)
	if err != nil {
		return err
	}
	if err := ci.Load(records); err != nil {
		return fmt.Errorf("export: car index: %w", err)
	}
	if _, err := carindex.WriteTo(ci, &ex.ixbuf); err != nil {
		return fmt.Errorf("export: car index: %w", err)
	}
	ex.h = car.Header{DataOffset: car.PragmaSize + car.HeaderSize, DataSize: uint64(dataSize)}
	ex.h.IndexOffset = ex.h.DataOffset + ex.h.DataSize
	ex.total = int64(ex.h.IndexOffset) + int64(ex.ixbuf.Len())
	return nil
}

// write streams the bundle as laid out: headers, index block, manifests,
// data blocks read from the store, CARv2 index.
func (ex *exporter) write(ctx context.Context, w io.Writer) error {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if _, err := bw.Write(car.Pragma); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := ex.h.WriteTo(bw); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	bw.Write(ex.v1hdr)
	var vb [binary.MaxVarintLen64]byte
	writeSec := func(c cid.Cid, data []byte) error {
		n := binary.PutUvarint(vb[:], uint64(c.ByteLen()+len(data)))
		bw.Write(vb[:n])
		bw.Write(c.Bytes())
		_, err := bw.Write(data)
		return err
	}
	for _, b := range append([]blocks.Block{ex.ib}, ex.mblocks...) {
		if err := writeSec(b.Cid(), b.RawData()); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	for i, p := range ex.blocks {
		err := ex.st.ViewOnce(ctx, p.c, func(data []byte) error {
			if len(data) != p.size {
				return fmt.Errorf("block %s changed size while exporting", p.c)
			}
			return writeSec(p.c, data)
		})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if ex.o.Progress != nil && i%64 == 0 {
			ex.o.Progress(cw.n+int64(bw.Buffered()), ex.total)
		}
	}
	if _, err := bw.Write(ex.ixbuf.Bytes()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if cw.n != ex.total {
		return fmt.Errorf("export: wrote %d bytes, planned %d", cw.n, ex.total)
	}
	if ex.o.Progress != nil {
		ex.o.Progress(ex.total, ex.total)
	}
	ex.res.Bytes = ex.total
	return nil
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
	Release                      string // signed release of the revision's quarantine; "" when none
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
					if r.Release != "" {
						qp.MapEntry(ma, "release", qp.String(r.Release))
					}
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
			Release  string   `json:"release"`
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
		if len(r.Release) > sovereignty.MaxReleaseSize {
			return bundleIndex{}, fmt.Errorf("revisions[%d]: release of %d bytes, at most %d", i, len(r.Release), sovereignty.MaxReleaseSize)
		}
		x.Revisions = append(x.Revisions, indexRev{Type: string(k), Repo: r.Repo, Revision: r.Revision, Commit: r.Commit, Root: root, Manifest: mc, Release: r.Release})
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
