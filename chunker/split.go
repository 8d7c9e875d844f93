package chunker

import (
	"math/bits"
	"sort"
)

// splitter finds chunk boundaries in a stream read front to back. cut gets
// the bytes from file offset off onward (data) and whether data reaches the
// end of the file; it returns the length of the chunk starting at off, or 0
// when it needs more data to decide. Decisions depend only on the bytes of
// the file, never on how the reads were batched.
type splitter interface {
	cut(off int64, data []byte, final bool) int
}

// gear is the FastCDC gear table: 256 pseudo-random words from a fixed
// seed (splitmix64). Changing it moves every CDC boundary; the golden test
// guards it.
var gear = func() (t [256]uint64) {
	x := uint64(0xca12_4e5d_0b1e_c7a1)
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()

// fastCDC is gear-hash FastCDC with normalized chunking (level 2): below the
// average size a cut needs two more zero bits than the average implies,
// above it two fewer, which narrows the size distribution. The masks test
// the top bits of the hash, which depend on the last 64 bytes.
type fastCDC struct {
	min, avg, max int
	maskS, maskL  uint64
}

func newFastCDC(minSize, avgSize, maxSize int) *fastCDC {
	b := bits.Len(uint(avgSize)) - 1
	top := func(n int) uint64 { return ^uint64(0) << (64 - n) }
	return &fastCDC{min: minSize, avg: avgSize, max: maxSize, maskS: top(b + 2), maskL: top(b - 2)}
}

func (c *fastCDC) cut(_ int64, data []byte, final bool) int {
	n := len(data)
	if n <= c.min {
		if final {
			return n
		}
		return 0
	}
	limit := min(n, c.max)
	data = data[:limit]
	norm := min(limit, c.avg)
	// Warm the hash over the 64 bytes before min, so that a cut depends only
	// on content and not on where hashing started.
	i := max(c.min-64, 0)
	var h uint64
	for ; i < c.min; i++ {
		h = h<<1 + gear[data[i]]
	}
	var found bool
	if i, h, found = scan(data, i, norm, h, c.maskS); found {
		return i
	}
	if i, _, found = scan(data, i, limit, h, c.maskL); found {
		return i
	}
	if limit == c.max || final {
		return limit
	}
	return 0
}

// scan rolls the gear hash over data[i:end] and returns the cut (the
// position after the first byte where h&mask == 0) and true, or end, the
// hash and false.
// Two bytes per step: h<<1+g0 and h<<2+(g0<<1+g1) are both two operations
// away from h, so the dependency chain per byte halves; the cuts are those
// of the one-byte loop.
func scan(data []byte, i, end int, h, mask uint64) (int, uint64, bool) {
	data = data[:end]
	for ; i+1 < len(data); i += 2 {
		g0 := gear[data[i]]
		h1 := h<<1 + g0
		h = h<<2 + (g0<<1 + gear[data[i+1]])
		if h1&mask == 0 {
			return i + 1, h1, true
		}
		if h&mask == 0 {
			return i + 2, h, true
		}
	}
	if i < len(data) {
		h = h<<1 + gear[data[i]]
		if h&mask == 0 {
			return i + 1, h, true
		}
	}
	return end, h, false
}

// fixedSplit cuts every size bytes.
type fixedSplit struct{ size int }

func (f fixedSplit) cut(_ int64, data []byte, final bool) int {
	if len(data) >= f.size {
		return f.size
	}
	if final {
		return len(data)
	}
	return 0
}

// planSplit cuts at precomputed file offsets (tensor-aware chunking).
type planSplit struct {
	bounds []int64 // strictly increasing chunk ends; the last is the file size
	i      int
}

func (p *planSplit) cut(off int64, data []byte, final bool) int {
	if p.i >= len(p.bounds) || p.bounds[p.i] <= off {
		p.i = sort.Search(len(p.bounds), func(k int) bool { return p.bounds[k] > off })
	}
	if p.i >= len(p.bounds) {
		if final {
			return len(data)
		}
		return 0
	}
	n := p.bounds[p.i] - off
	if n > int64(len(data)) {
		if final {
			return len(data)
		}
		return 0
	}
	return int(n)
}

// planBuilder accumulates chunk ends for tensor-aware chunking.
type planBuilder struct {
	piece  int64
	bounds []int64
}

func (b *planBuilder) end() int64 {
	if len(b.bounds) == 0 {
		return 0
	}
	return b.bounds[len(b.bounds)-1]
}

// segment adds [start, end) as chunks of at most piece bytes counted from
// start. Segments must be added in order; a gap before start becomes its
// own chunk(s).
func (b *planBuilder) segment(start, end int64) {
	if start > b.end() {
		b.segment(b.end(), start)
	}
	for off := start; off < end; {
		n := min(end-off, b.piece)
		off += n
		b.bounds = append(b.bounds, off)
	}
}

// finish closes the plan at the file size (trailing bytes as their own chunks).
func (b *planBuilder) finish(size int64) []int64 {
	if size > b.end() {
		b.segment(b.end(), size)
	}
	return b.bounds
}
