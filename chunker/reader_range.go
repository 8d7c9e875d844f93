package chunker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	blockstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/internal/sha256x"
)

// IntoGetter is a Getter that also reads a block into the caller's buffer
// (store.Store does), checked against its CID as Get's blocks are: bulk
// reads then allocate nothing per block and copy each byte once.
type IntoGetter interface {
	Getter
	// ReadInto reads the block c into buf and returns its size; it fails
	// (io.ErrShortBuffer) when buf cannot hold it.
	ReadInto(ctx context.Context, c cid.Cid, buf []byte) (int, error)
}

// UncheckedGetter is an IntoGetter that can leave the hash check of what
// it reads into the caller's buffer to the caller (store.Store): a batch
// of leaves is then checked two at a time (sha256x.Sum2), in about the
// time of one, and a leaf that does not match is reported with Corrupt.
type UncheckedGetter interface {
	ReadIntoUnchecked(ctx context.Context, c cid.Cid, buf []byte) (n int, check bool, err error)
	Corrupt(c cid.Cid)
}

// Read-ahead of WriteRange: batches of whole leaves, each read (and so
// verified) by its own goroutine, up to rangeAhead batches ahead of the one
// being written; at most rangeAhead+2 batch buffers per call.
const (
	rangeBatch = 2 << 20
	rangeAhead = 2
)

// maxLeaf bounds the leaf size a parent may state before a buffer of that
// size is made for it: blocks are at most a few MiB (MaxBlockSize here,
// 2 MiB in bitswap), so a larger figure is a broken or hostile DAG.
const maxLeaf = 16 << 20

var rangeBufs = sync.Pool{New: func() any { b := make([]byte, rangeBatch); return &b }}

// span is part of one leaf of the file: a raw block (c) or the inline data
// of a file node (data), of size bytes, of which [lo, hi) are wanted.
type span struct {
	c      cid.Cid
	data   []byte
	size   int64
	lo, hi int64
}

// spans calls fn for the leaves under c holding [off, end) of it (offsets
// within c, whose size its parent states as want, -1 for the root), in
// file order.
func (r *Reader) spans(c cid.Cid, want, off, end int64, depth int, fn func(span) error) error {
	if depth > 64 {
		return fmt.Errorf("%s: DAG deeper than 64", r.root)
	}
	if c.Type() == cid.Raw {
		if want < 0 {
			want = r.size
		}
		return fn(span{c: c, size: want, lo: off, hi: min(end, want)})
	}
	n, err := r.node(c)
	if err != nil {
		return err
	}
	if want >= 0 && n.size() != want {
		return fmt.Errorf("%s: node of %d bytes, parent says %d", c, n.size(), want)
	}
	if d := int64(len(n.data)); off < d {
		if err := fn(span{data: n.data, size: d, lo: off, hi: min(end, d)}); err != nil {
			return err
		}
	}
	i := sort.Search(len(n.links), func(k int) bool { return n.starts[k+1] > off })
	for ; i < len(n.links) && n.starts[i] < end; i++ {
		a, b := n.starts[i], n.starts[i+1]
		if err := r.spans(n.links[i], b-a, max(off, a)-a, min(end, b)-a, depth+1, fn); err != nil {
			return err
		}
	}
	return nil
}

// segment is whole leaves read into one buffer; buf[lo:hi] is its part of
// the range.
type segment struct {
	spans  []span
	buf    *[]byte
	lo, hi int
	err    error
}

// fill reads the batch's leaves into its buffer, one after the other,
// and checks those the getter left unchecked.
func (r *Reader) fill(ctx context.Context, b *segment) {
	ig, _ := r.get.(IntoGetter)
	ug, _ := r.get.(UncheckedGetter)
	var unchecked []leafBytes
	pos := 0
	for i, s := range b.spans {
		n := int(s.size)
		dst := (*b.buf)[pos : pos+n]
		if s.c == cid.Undef {
			copy(dst, s.data)
		} else if ug != nil {
			check, err := readUnchecked(ctx, ug, s.c, dst)
			if err != nil {
				b.err = err
				return
			}
			if check {
				unchecked = append(unchecked, leafBytes{s.c, dst})
			}
		} else if err := r.readLeaf(ctx, ig, s.c, dst); err != nil {
			b.err = err
			return
		}
		if i == 0 {
			b.lo = pos + int(s.lo)
		}
		b.hi = pos + int(s.hi)
		pos += n
	}
	b.err = checkLeaves(ug, unchecked)
}

// leafBytes is a leaf read but not yet checked.
type leafBytes struct {
	c    cid.Cid
	data []byte
}

// readUnchecked reads leaf c, of len(dst) bytes as its parent states, into
// dst without its hash check; check says whether it needs one.
func readUnchecked(ctx context.Context, ug UncheckedGetter, c cid.Cid, dst []byte) (check bool, err error) {
	n, check, err := ug.ReadIntoUnchecked(ctx, c, dst)
	switch {
	case errors.Is(err, io.ErrShortBuffer):
		return false, fmt.Errorf("%s: leaf larger than the %d bytes its parent says", c, len(dst))
	case err != nil:
		return false, fmt.Errorf("get %s: %w", c, err)
	case n != len(dst):
		return false, fmt.Errorf("%s: leaf of %d bytes, parent says %d", c, n, len(dst))
	}
	return check, nil
}

// checkLeaves checks each leaf against its CID, sha2-256 ones two at a
// time; the first that does not match is reported to ug and returned as
// an error wrapping ipld's hash mismatch (as the store's own check's).
func checkLeaves(ug UncheckedGetter, ls []leafBytes) error {
	for len(ls) > 0 {
		bad, n, err := firstBad(ls)
		if err != nil {
			return err
		}
		if bad.Defined() {
			ug.Corrupt(bad)
			return fmt.Errorf("get %s: block %s: %w", bad, bad, blockstore.ErrHashMismatch)
		}
		ls = ls[n:]
	}
	return nil
}

// firstBad checks the first leaf of ls, together with the second when
// both are sha2-256 (sha256x.Check2), and returns the one that does not
// match its CID (cid.Undef if none) and how many leaves it checked.
func firstBad(ls []leafBytes) (bad cid.Cid, n int, err error) {
	if len(ls) >= 2 {
		da, okA := sha256x.MultihashDigest(ls[0].c.Hash())
		db, okB := sha256x.MultihashDigest(ls[1].c.Hash())
		if okA && okB {
			switch goodA, goodB := sha256x.Check2(ls[0].data, da, ls[1].data, db); {
			case !goodA:
				return ls[0].c, 2, nil
			case !goodB:
				return ls[1].c, 2, nil
			}
			return cid.Undef, 2, nil
		}
	}
	got, err := ls[0].c.Prefix().Sum(ls[0].data)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("hash %s: %w", ls[0].c, err)
	}
	if !got.Equals(ls[0].c) {
		return ls[0].c, 1, nil
	}
	return cid.Undef, 1, nil
}

// readLeaf reads leaf c, of len(dst) bytes as its parent states, into dst.
func (r *Reader) readLeaf(ctx context.Context, ig IntoGetter, c cid.Cid, dst []byte) error {
	var got int
	if ig != nil {
		n, err := ig.ReadInto(ctx, c, dst)
		if errors.Is(err, io.ErrShortBuffer) {
			return fmt.Errorf("%s: leaf larger than the %d bytes its parent says", c, len(dst))
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", c, err)
		}
		got = n
	} else {
		b, err := r.get.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("get %s: %w", c, err)
		}
		got = copy(dst, b.RawData())
		if len(b.RawData()) > len(dst) {
			got = len(b.RawData())
		}
	}
	if got != len(dst) {
		return fmt.Errorf("%s: leaf of %d bytes, parent says %d", c, got, len(dst))
	}
	return nil
}

// WriteRange writes the n bytes of the file from off to w. Leaves are read
// (and checked against their CIDs by the Getter, as a store with
// verification on does) a few batches ahead of the writes on other
// goroutines, so checking costs no wall-clock time where a core is free;
// no byte of a batch is written before every leaf of it has been read.
// It returns the bytes written and the first error, of a read or of w.
func (r *Reader) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	if off < 0 || n < 0 || off > r.size || n > r.size-off {
		return 0, fmt.Errorf("read %s: range %d+%d outside its %d bytes", r.root, off, n, r.size)
	}
	if n == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	futures := make(chan chan *segment, rangeAhead)
	go r.plan(ctx, off, off+n, futures)
	var written int64
	var err error
	for f := range futures {
		b := <-f
		if err == nil {
			err = b.err
			if err == nil {
				var k int
				k, err = w.Write((*b.buf)[b.lo:b.hi])
				written += int64(k)
			}
			if err != nil {
				cancel() // the planner stops; the batches under way are drained
			}
		}
		putRangeBuf(b.buf)
	}
	if err == nil && written != n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return written, fmt.Errorf("read %s at %d: %w", r.root, off+written, err)
	}
	return written, nil
}

// plan cuts [off, end) into batches and starts a goroutine filling each,
// queueing their results in order on futures, which it closes.
func (r *Reader) plan(ctx context.Context, off, end int64, futures chan<- chan *segment) {
	defer close(futures)
	var cur []span
	var size int64
	send := func() bool {
		f := make(chan *segment, 1)
		b := &segment{spans: cur, buf: getRangeBuf(size)}
		cur, size = nil, 0
		select {
		case futures <- f:
		case <-ctx.Done():
			putRangeBuf(b.buf)
			return false
		}
		go func() {
			r.fill(ctx, b)
			f <- b
		}()
		return true
	}
	err := r.spans(r.root, -1, off, end, 0, func(s span) error {
		if s.size > maxLeaf {
			return fmt.Errorf("%s: leaf of %d bytes, larger than any block", s.c, s.size)
		}
		if len(cur) > 0 && size+s.size > rangeBatch && !send() {
			return context.Cause(ctx)
		}
		cur = append(cur, s)
		size += s.size
		return nil
	})
	if err == nil && len(cur) > 0 {
		send()
		return
	}
	if err != nil {
		// The writer reads futures until they are closed, whatever fails.
		f := make(chan *segment, 1)
		f <- &segment{buf: getRangeBuf(0), err: err}
		futures <- f
	}
}

func getRangeBuf(n int64) *[]byte {
	if n > rangeBatch {
		b := make([]byte, n)
		return &b
	}
	return rangeBufs.Get().(*[]byte)
}

func putRangeBuf(b *[]byte) {
	if len(*b) == rangeBatch {
		rangeBufs.Put(b)
	}
}
