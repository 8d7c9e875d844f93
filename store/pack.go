package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	directio "github.com/cairnhub/cairn/internal/direct"
)

const (
	// packDir is the packs' directory inside the store's.
	packDir = "packs"
	// packThreshold: blocks of at least this size go to pack files, smaller
	// ones (small files, most dag-pb nodes) stay in badger. Every chunk
	// but a file's last is at least 64 KiB (chunker's CDC minimum).
	packThreshold = 16 << 10
	// packSlack: a pack with less room than this left is not reopened for
	// appending.
	packSlack = 64 << 20
	// metaPacked is the badger UserMeta of a block key whose value is a
	// packLoc rather than the block's bytes.
	metaPacked byte = 1
	// packLocLen is the encoded size of a packLoc.
	packLocLen = 16
)

// packMax is the size at which the writer moves to a new pack file. A
// variable so that tests can make several packs; it must stay above
// packSlack (roll skips every pack with less room than that).
var packMax int64 = 4 << 30

// packLoc is where a packed block's bytes are: pack file, offset, length.
type packLoc struct {
	pack uint32
	off  int64
	n    int
}

func (l packLoc) encode() []byte {
	b := make([]byte, packLocLen)
	binary.BigEndian.PutUint32(b[0:], l.pack)
	binary.BigEndian.PutUint64(b[4:], uint64(l.off))
	binary.BigEndian.PutUint32(b[12:], uint32(l.n))
	return b
}

func decodePackLoc(v []byte) (packLoc, error) {
	if len(v) != packLocLen {
		return packLoc{}, fmt.Errorf("pack location of %d bytes, want %d", len(v), packLocLen)
	}
	l := packLoc{
		pack: binary.BigEndian.Uint32(v[0:]),
		off:  int64(binary.BigEndian.Uint64(v[4:])),
		n:    int(binary.BigEndian.Uint32(v[12:])),
	}
	if l.off < 0 || l.off > packMax || int64(l.n) > packMax-l.off { // l.off+l.n may overflow
		return packLoc{}, fmt.Errorf("pack location %d+%d out of range", l.off, l.n)
	}
	return l, nil
}

func (l packLoc) end() int64 { return l.off + int64(l.n) }

// packs holds block bodies in append-only files (see "Pack files" in
// doc.go), written with direct I/O; every write ends padded to a page, so
// a page once written never changes. Readers go through the page cache,
// streams (readOnce) past it when it does not hold the block.
type packs struct {
	dir  string
	sync bool

	mu  sync.Mutex       // the writer's state below
	f   *os.File         // nil until the first write and after a failed one
	w   *directio.Writer // writes f
	wid uint32

	rmu     sync.RWMutex
	readers map[uint32]*os.File
	directs map[uint32]*os.File // direct-I/O readers; nil: refused here
}

func openPacks(dir string, sync bool) (*packs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pack directory: %w", err)
	}
	return &packs{dir: dir, sync: sync, readers: map[uint32]*os.File{}, directs: map[uint32]*os.File{}}, nil
}

func (p *packs) path(id uint32) string {
	return filepath.Join(p.dir, fmt.Sprintf("%08d.pack", id))
}

// ids lists the pack files present, in order.
func (p *packs) ids() ([]uint32, error) {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	var ids []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pack")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		ids = append(ids, uint32(id))
	}
	slices.Sort(ids)
	return ids, nil
}

// write appends each of data to the packs and returns where it went. When
// it returns, the bytes are written (to the device with direct I/O, else to
// the page cache; synced too if p.sync), so an index entry may point at
// them. On error the writer starts afresh after whatever the file holds.
func (p *packs) write(data [][]byte) ([]packLoc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	locs, err := p.append(data)
	if err != nil {
		p.drop()
		return nil, err
	}
	return locs, nil
}

func (p *packs) append(data [][]byte) ([]packLoc, error) {
	locs := make([]packLoc, len(data))
	for i, d := range data {
		if p.f == nil || p.w.Offset()+int64(len(d)) > packMax {
			if err := p.roll(); err != nil {
				return nil, err
			}
		}
		locs[i] = packLoc{pack: p.wid, off: p.w.Offset(), n: len(d)}
		if _, err := p.w.Write(d); err != nil {
			return nil, err
		}
	}
	if err := p.w.Pad(); err != nil {
		return nil, err
	}
	if p.sync {
		if err := p.f.Sync(); err != nil {
			return nil, fmt.Errorf("sync %s: %w", p.f.Name(), err)
		}
	}
	return locs, nil
}

// roll finishes the current pack and opens the next: the newest existing
// pack, appended to after its end, if it has room, else a new one.
func (p *packs) roll() error {
	if p.f != nil {
		if err := p.w.Pad(); err != nil {
			return err
		}
		p.f.Close()
		p.f = nil
		p.wid++
	} else {
		ids, err := p.ids()
		if err != nil {
			return err
		}
		p.wid = 0
		if len(ids) > 0 {
			p.wid = ids[len(ids)-1]
		}
	}
	for {
		f, err := os.OpenFile(p.path(p.wid), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open pack: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("open pack: %w", err)
		}
		if fi.Size() < packMax-packSlack {
			p.f, p.w = f, directio.NewWriter(f, fi.Size())
			return nil
		}
		f.Close()
		p.wid++
	}
}

// drop forgets the writer after a failed write; the next write reopens the
// pack and appends after whatever reached it.
func (p *packs) drop() {
	if p.f != nil {
		_ = p.w.Pad() // waits for the writes in flight
		p.f.Close()
		p.f, p.w = nil, nil
	}
}

// writerLimit is how far pack id may be reclaimed: all of an old pack, the
// part of the writer's pack before its buffer.
func (p *packs) writerLimit(id uint32) (int64, bool) {
	if p.f == nil || id != p.wid {
		return 0, false
	}
	return p.w.Offset(), true
}

// file returns the reader of pack id, opening it once; with direct, its
// direct-I/O reader (nil where the file system refuses direct I/O).
func (p *packs) file(id uint32, direct bool) (*os.File, error) {
	m := p.readers
	if direct {
		m = p.directs
	}
	p.rmu.RLock()
	f, ok := m[id]
	p.rmu.RUnlock()
	if ok {
		return f, nil
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if f, ok := m[id]; ok {
		return f, nil
	}
	f, err := openPack(p.path(id), direct)
	if err != nil {
		return nil, fmt.Errorf("open pack: %w", err)
	}
	m[id] = f
	return f, nil
}

func openPack(path string, direct bool) (*os.File, error) {
	if !direct {
		return os.Open(path)
	}
	f, err := directio.Open(path)
	if err != nil {
		if _, serr := os.Stat(path); serr != nil {
			return nil, serr
		}
		return nil, nil // the file is there: direct I/O is refused
	}
	return f, nil
}

// readBufs holds read buffers for blocks of up to 1 MiB, the chunker's
// largest.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// read calls fn with the block at l; fn must not keep the slice.
func (p *packs) read(l packLoc, fn func([]byte) error) error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	if len(buf) < l.n {
		buf = make([]byte, l.n)
	}
	if err := p.readInto(l, buf[:l.n]); err != nil {
		return err
	}
	return fn(buf[:l.n])
}

// readInto reads the block at l into b, which holds exactly l.n bytes.
func (p *packs) readInto(l packLoc, b []byte) error {
	f, err := p.file(l.pack, false)
	if err != nil {
		return err
	}
	if _, err := f.ReadAt(b, l.off); err != nil {
		return fmt.Errorf("read %s at %d+%d: %w", f.Name(), l.off, l.n, err)
	}
	return nil
}

// directBufs holds aligned buffers for direct reads of a 1 MiB block and
// the partial pages around it.
var directBufs = sync.Pool{New: func() any { b := directio.Buf(1<<20 + 2*directio.Align); return &b }}

// readOnce calls fn with the block at l for a reader that will not ask
// for it again soon (a stream to a peer, a bundle): from the page cache when it
// holds the whole block, else read past it with direct I/O, so a stream of
// cold blocks neither pays for placing pages (see "Pack files" in doc.go)
// nor evicts what other readers keep. fn must not keep the slice.
func (p *packs) readOnce(l packLoc, fn func([]byte) error) error {
	b, release, err := p.readOnceKeep(l)
	if err != nil {
		return err
	}
	defer release()
	return fn(b)
}

// readOnceKeep reads the block at l as readOnce does, into a pooled
// buffer the caller keeps until it calls release.
func (p *packs) readOnceKeep(l packLoc) ([]byte, func(), error) {
	f, err := p.file(l.pack, false)
	if err != nil {
		return nil, nil, err
	}
	var d *os.File
	if cached, err := directio.Cached(f, l.off, int64(l.n)); !cached && err == nil {
		if d, err = p.file(l.pack, true); err != nil {
			return nil, nil, err
		}
	}
	if d == nil {
		// In the page cache, the kernel cannot say, or direct I/O is
		// refused: read through the cache.
		bp := readBufs.Get().(*[]byte)
		buf := *bp
		if len(buf) < l.n {
			buf = make([]byte, l.n)
		}
		if err := p.readInto(l, buf[:l.n]); err != nil {
			readBufs.Put(bp)
			return nil, nil, err
		}
		return buf[:l.n], func() { readBufs.Put(bp) }, nil
	}
	lo, hi := directio.Down(l.off), directio.Up(l.end())
	dp := directBufs.Get().(*[]byte)
	release := func() { directBufs.Put(dp) }
	buf := *dp
	if int64(len(buf)) < hi-lo {
		directBufs.Put(dp)
		buf, release = directio.Buf(int(hi-lo)), func() {}
	}
	buf = buf[:hi-lo]
	// Every write ends padded to a page, so the file always reaches hi.
	// directio.ReadAt: the disk's wait holds the goroutine, not a P.
	if _, err := directio.ReadAt(d, buf, lo); err != nil {
		release()
		return nil, nil, fmt.Errorf("read %s at %d+%d: %w", d.Name(), l.off, l.n, err)
	}
	return buf[l.off-lo : l.end()-lo], release, nil
}

// remove closes and deletes pack id (GC found nothing live in it).
func (p *packs) remove(id uint32) error {
	p.rmu.Lock()
	for _, m := range []map[uint32]*os.File{p.readers, p.directs} {
		if f, ok := m[id]; ok && f != nil {
			f.Close()
		}
		delete(m, id)
	}
	p.rmu.Unlock()
	return os.Remove(p.path(id))
}

func (p *packs) close() error {
	p.mu.Lock()
	p.drop()
	p.mu.Unlock()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	for _, m := range []map[uint32]*os.File{p.readers, p.directs} {
		for id, f := range m {
			if f != nil {
				f.Close()
			}
			delete(m, id)
		}
	}
	return nil
}

// reclaim gives back the disk space of every byte of the packs that no
// block in live (pack id → live locations) covers: whole dead pages are
// punched out, packs with nothing live are deleted. The writer's pack is
// reclaimed only before its buffer. The caller keeps writers out (GC).
func (p *packs) reclaim(live map[uint32][]packLoc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids, err := p.ids()
	if err != nil {
		return err
	}
	for _, id := range ids {
		limit, writing := p.writerLimit(id)
		spans := live[id]
		if len(spans) == 0 && !writing {
			if err := p.remove(id); err != nil {
				return fmt.Errorf("remove pack: %w", err)
			}
			continue
		}
		if err := p.punchGaps(id, spans, limit, writing); err != nil && !errors.Is(err, errNoPunch) {
			return err
		}
	}
	return nil
}

// errNoPunch: the file system cannot punch holes. Dead ranges then keep
// their space until their whole pack is dead and removed.
var errNoPunch = errors.New("file system cannot punch holes")

func (p *packs) punchGaps(id uint32, spans []packLoc, limit int64, writing bool) error {
	f, err := os.OpenFile(p.path(id), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("reclaim pack: %w", err)
	}
	defer f.Close()
	if !writing {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("reclaim pack: %w", err)
		}
		limit = fi.Size()
	}
	slices.SortFunc(spans, func(a, b packLoc) int { return cmp.Compare(a.off, b.off) })
	var from int64 // end of the last live byte seen
	punch := func(to int64) error {
		lo, hi := directio.Up(from), directio.Down(min(to, limit))
		if hi-lo < directio.Align {
			return nil
		}
		err := directio.PunchHole(f, lo, hi-lo)
		if errors.Is(err, errors.ErrUnsupported) {
			return errNoPunch
		}
		if err != nil {
			return fmt.Errorf("reclaim %s at %d+%d: %w", f.Name(), lo, hi-lo, err)
		}
		return nil
	}
	for _, l := range spans {
		if err := punch(l.off); err != nil {
			return err
		}
		from = max(from, l.end())
	}
	return punch(limit)
}
