package chunker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/pb"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// inode is a decoded UnixFS file node: inline data, then children.
type inode struct {
	data   []byte
	links  []cid.Cid
	starts []int64 // starts[i]: offset of child i within this node; starts[len] = size
}

func (n *inode) size() int64 { return n.starts[len(n.starts)-1] }

func decodeFileNode(b blocks.Block) (*inode, error) {
	pn, err := merkledag.DecodeProtobuf(b.RawData())
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", b.Cid(), err)
	}
	fs, err := ft.FSNodeFromBytes(pn.Data())
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", b.Cid(), err)
	}
	switch fs.Type() {
	case pb.Data_File, pb.Data_Raw:
	default:
		return nil, fmt.Errorf("%s: UnixFS %s node is not a file", b.Cid(), fs.Type())
	}
	links := pn.Links()
	sizes := fs.BlockSizes()
	if len(links) != len(sizes) {
		return nil, fmt.Errorf("%s: %d links but %d blocksizes", b.Cid(), len(links), len(sizes))
	}
	n := &inode{data: fs.Data(), links: make([]cid.Cid, len(links)), starts: make([]int64, len(links)+1)}
	off := int64(len(n.data))
	for i, l := range links {
		n.links[i] = l.Cid
		n.starts[i] = off
		if sizes[i] > 1<<62 || off+int64(sizes[i]) < off {
			return nil, fmt.Errorf("%s: blocksize %d overflows", b.Cid(), sizes[i])
		}
		off += int64(sizes[i])
	}
	n.starts[len(links)] = off
	if len(links) > 0 && fs.FileSize() != uint64(off) {
		return nil, fmt.Errorf("%s: filesize %d but content of %d bytes", b.Cid(), fs.FileSize(), off)
	}
	return n, nil
}

// Reader reads a file DAG. It is safe for concurrent ReadAt calls; Read
// and Seek share one position and are not. It keeps the decoded file nodes
// of the paths it walked (a few KiB per node; a 1 TiB file has about 6000)
// and the last leaf, never the whole file.
type Reader struct {
	// ctx is the context NewReader was given: io.Reader has no room for one,
	// so block fetches made by Read and ReadAt run under it.
	ctx  context.Context
	get  Getter
	root cid.Cid
	size int64
	pos  int64

	mu       sync.Mutex
	nodes    map[cid.Cid]*inode
	leaves   [recentLeaves]cachedLeaf // the last leaves read, newest at next-1
	next     int
	inflight map[cid.Cid]chan struct{} // leaves being read: later readers wait
}

// recentLeaves is how many leaves a Reader keeps: a read that straddles a
// leaf boundary, and concurrent ReadAt calls on neighbouring ranges (a
// server reading ahead of its writes), get a leaf another read has just
// fetched (and the store has just verified) instead of reading it again.
const recentLeaves = 4

type cachedLeaf struct {
	c      cid.Cid
	data   []byte
	pooled bool // data is a leafBufs buffer
}

const maxCachedNodes = 4096

// NewReader opens the file DAG at root (a raw leaf or a UnixFS file node).
func NewReader(ctx context.Context, get Getter, root cid.Cid) (*Reader, error) {
	r := &Reader{ctx: ctx, get: get, root: root, nodes: map[cid.Cid]*inode{}}
	switch root.Type() {
	case cid.Raw:
		b, err := get.Get(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", root, err)
		}
		r.size = int64(len(b.RawData()))
		r.keep(root, b.RawData(), false)
	case cid.DagProtobuf:
		b, err := get.Get(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", root, err)
		}
		n, err := decodeFileNode(b)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", root, err)
		}
		r.nodes[root] = n
		r.size = n.size()
	default:
		return nil, fmt.Errorf("open %s: codec %#x is not a file", root, root.Type())
	}
	return r, nil
}

// Size is the file size.
func (r *Reader) Size() int64 { return r.size }

func (r *Reader) node(c cid.Cid) (*inode, error) {
	r.mu.Lock()
	n, ok := r.nodes[c]
	r.mu.Unlock()
	if ok {
		return n, nil
	}
	b, err := r.get.Get(r.ctx, c)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", c, err)
	}
	if n, err = decodeFileNode(b); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.nodes) >= maxCachedNodes {
		clear(r.nodes)
	}
	r.nodes[c] = n
	r.mu.Unlock()
	return n, nil
}

// copyLeaf copies the bytes of leaf c (of want bytes, as its parent
// states) from off into p, from the leaves kept or read now and kept.
func (r *Reader) copyLeaf(c cid.Cid, want int64, p []byte, off int64) (int, error) {
	for {
		r.mu.Lock()
		if d, ok := r.recent(c); ok {
			// Copied under the lock: the slot's buffer is reused once the
			// leaf is pushed out.
			n := copyFrom(p, d, off)
			r.mu.Unlock()
			return n, nil
		}
		wait, busy := r.inflight[c]
		if !busy {
			if r.inflight == nil {
				r.inflight = map[cid.Cid]chan struct{}{}
			}
			done := make(chan struct{})
			r.inflight[c] = done
			r.mu.Unlock()
			d, pooled, err := r.fetchLeaf(c, want)
			r.mu.Lock()
			delete(r.inflight, c)
			n := 0
			if err == nil {
				r.keep(c, d, pooled)
				n = copyFrom(p, d, off)
			}
			r.mu.Unlock()
			close(done)
			return n, err
		}
		r.mu.Unlock()
		// Another read fetches c: take its result (or, if it failed or was
		// pushed out already, fetch it ourselves on the next turn).
		select {
		case <-wait:
		case <-r.ctx.Done():
			return 0, fmt.Errorf("get %s: %w", c, r.ctx.Err())
		}
	}
}

func copyFrom(p, d []byte, off int64) int {
	if off >= int64(len(d)) {
		return 0
	}
	return copy(p, d[off:])
}

// fetchLeaf reads leaf c of want bytes: into a pooled buffer when the
// Getter can read into one (pooled true), else with Get.
func (r *Reader) fetchLeaf(c cid.Cid, want int64) (d []byte, pooled bool, err error) {
	if ig, ok := r.get.(IntoGetter); ok && want >= 0 && want <= MaxBlockSize {
		bp := leafBufs.Get().(*[]byte)
		if err := r.readLeaf(r.ctx, ig, c, (*bp)[:want]); err != nil {
			leafBufs.Put(bp)
			return nil, false, err
		}
		return (*bp)[:want], true, nil
	}
	b, err := r.get.Get(r.ctx, c)
	if err != nil {
		return nil, false, fmt.Errorf("get %s: %w", c, err)
	}
	if want >= 0 && int64(len(b.RawData())) != want {
		return nil, false, fmt.Errorf("%s: leaf of %d bytes, parent says %d", c, len(b.RawData()), want)
	}
	return b.RawData(), false, nil
}

// leafBufs holds the buffers of kept leaves read with an IntoGetter.
var leafBufs = sync.Pool{New: func() any { b := make([]byte, MaxBlockSize); return &b }}

// kept reports whether leaf c is kept.
func (r *Reader) kept(c cid.Cid) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.recent(c)
	return ok
}

// recent returns a kept leaf; r.mu held.
func (r *Reader) recent(c cid.Cid) ([]byte, bool) {
	for _, l := range r.leaves {
		if l.data != nil && l.c == c {
			return l.data, true
		}
	}
	return nil, false
}

// keep keeps a leaf, pushing out the oldest (its buffer back to the pool
// if it came from there); r.mu held (or r unshared).
func (r *Reader) keep(c cid.Cid, d []byte, pooled bool) {
	if old := r.leaves[r.next]; old.pooled {
		b := old.data[:cap(old.data)]
		leafBufs.Put(&b)
	}
	r.leaves[r.next] = cachedLeaf{c, d, pooled}
	r.next = (r.next + 1) % recentLeaves
}

// readFrom copies the bytes at off of the DAG below c (of expected size
// want, or -1 for the root) into p; it returns how many it copied.
func (r *Reader) readFrom(c cid.Cid, want int64, p []byte, off int64, depth int) (int, error) {
	if depth > 64 {
		return 0, fmt.Errorf("%s: DAG deeper than 64", r.root)
	}
	if c.Type() == cid.Raw {
		if want < 0 {
			want = r.size
		}
		if ig, ok := r.get.(IntoGetter); ok && off == 0 && int64(len(p)) >= want && !r.kept(c) {
			// The whole leaf is wanted: straight into p, kept by no one.
			if err := r.readLeaf(r.ctx, ig, c, p[:want]); err != nil {
				return 0, err
			}
			return int(want), nil
		}
		return r.copyLeaf(c, want, p, off)
	}
	n, err := r.node(c)
	if err != nil {
		return 0, err
	}
	if want >= 0 && n.size() != want {
		return 0, fmt.Errorf("%s: node of %d bytes, parent says %d", c, n.size(), want)
	}
	total := 0
	if off < int64(len(n.data)) {
		total = copy(p, n.data[off:])
	}
	// First child holding off (or the byte right after the inline data).
	i := sort.Search(len(n.links), func(k int) bool { return n.starts[k+1] > off+int64(total) })
	for ; i < len(n.links) && total < len(p); i++ {
		cur := off + int64(total)
		got, err := r.readFrom(n.links[i], n.starts[i+1]-n.starts[i], p[total:], cur-n.starts[i], depth+1)
		if err != nil {
			return total, err
		}
		total += got
	}
	return total, nil
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", r.root, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rest := r.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	n, err := r.readFrom(r.root, -1, want, off, 0)
	if err != nil {
		return n, fmt.Errorf("read %s at %d: %w", r.root, off+int64(n), err)
	}
	if n < len(want) {
		return n, fmt.Errorf("read %s at %d: %w", r.root, off+int64(n), io.ErrUnexpectedEOF)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return r.pos, fmt.Errorf("seek %s: bad whence %d", r.root, whence)
	}
	if abs < 0 {
		return r.pos, fmt.Errorf("seek %s: negative position %d", r.root, abs)
	}
	r.pos = abs
	return abs, nil
}

// Walk calls fn for every distinct block of the DAG at root (file or
// directory), depth first, each parent before its children, children in
// link order. It stops at the first error, fn's included.
func Walk(ctx context.Context, get Getter, root cid.Cid, fn func(c cid.Cid, b blocks.Block) error) error {
	seen := map[cid.Cid]struct{}{}
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[c]; ok {
			continue
		}
		seen[c] = struct{}{}
		if err := context.Cause(ctx); err != nil {
			return err
		}
		b, err := get.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("walk %s: get %s: %w", root, c, err)
		}
		if err := fn(c, b); err != nil {
			return err
		}
		switch c.Type() {
		case cid.Raw:
		case cid.DagProtobuf:
			pn, err := merkledag.DecodeProtobuf(b.RawData())
			if err != nil {
				return fmt.Errorf("walk %s: decode %s: %w", root, c, err)
			}
			links := pn.Links()
			for i := len(links) - 1; i >= 0; i-- {
				stack = append(stack, links[i].Cid)
			}
		default:
			return fmt.Errorf("walk %s: %s: codec %#x is not UnixFS", root, c, c.Type())
		}
	}
	return nil
}

// ReadAll reads the file under root whole, refusing one over limit bytes.
func ReadAll(ctx context.Context, get Getter, root cid.Cid, limit int64) ([]byte, error) {
	r, err := NewReader(ctx, get, root)
	if err != nil {
		return nil, err
	}
	if r.Size() > limit {
		return nil, fmt.Errorf("%d bytes, more than %d", r.Size(), limit)
	}
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}
