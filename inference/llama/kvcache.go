package llama

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cairnhub/cairn/inference/tensor"
)

// kvLayer is one layer's cached keys and values: rows positions of kvDim
// elements each, position p in row p % rows. A layer that attends to every
// position keeps the whole context (rows = ctxLen, so p % rows = p); a
// sliding-window layer keeps a ring of its window plus one batch (kvRows),
// so the oldest rows are overwritten once the sequence outgrows it.
type kvLayer struct {
	rows     int
	k16, v16 []uint16 // KVF16
	k, v     []float32
}

// kvRows is the number of positions layer li keeps in a State of ctxLen
// positions taking batch tokens per pass. A sliding layer's ring must hold,
// when a batch's keys and values are stored before its attention runs, the
// window of the batch's first token and the batch itself: window+batch-1
// rows (llama.cpp sizes its sliding-window cache the same way).
func (c *Config) kvRows(li, ctxLen, batch int) int {
	if !c.Sliding(li) {
		return ctxLen
	}
	return min(ctxLen, c.Gemma.SlidingWindow+max(batch, 1)-1)
}

// KVBytesBatch is the size of the KV cache of a State of ctxLen positions
// taking batch tokens per pass (DefaultBatch when batch <= 0): keys and
// values of every layer, KVHeads × HeadDim elements of KVType per position
// kept. A layer keeps every position, or a sliding-window layer its window
// plus one batch. It is the one formula for the engine's KV memory;
// estimates made from a GGUF header (ConfigFromGGUF) use it too.
func (c *Config) KVBytesBatch(ctxLen, batch int) int64 {
	if batch <= 0 {
		batch = DefaultBatch
	}
	var rows int64
	for li := range c.Layers {
		rows += int64(c.kvRows(li, ctxLen, batch))
	}
	return 2 * rows * int64(c.KVHeads*c.HeadDim) * int64(c.KVType.Bytes())
}

// KVBytes is KVBytesBatch(ctxLen, DefaultBatch): the KV cache of
// NewState(ctxLen, 0).
func (c *Config) KVBytes(ctxLen int) int64 { return c.KVBytesBatch(ctxLen, DefaultBatch) }

// allocKV gives s its KV cache in memory outside the Go heap (kvAlloc),
// released by a cleanup when s becomes unreachable. Outside the heap the
// cache does not raise the garbage collector's target (GOGC 100 lets the
// heap grow to twice what is live, and the cache is most of what is), and
// a fresh mapping is resident only as far as positions are written. Every
// method reading or writing the cache keeps s alive until it is done.
// With full every layer keeps the whole context, sliding ones too (the
// tests' reference for the rings).
func (s *State) allocKV(full bool) {
	c := s.m.Config
	kvDim := c.KVHeads * c.HeadDim
	eb := c.KVType.Bytes()
	if eb == 0 {
		panic(fmt.Sprintf("llama: NewState with KV cache type %v", c.KVType))
	}
	s.kv = make([]kvLayer, c.Layers)
	total := 0
	for li := range s.kv {
		s.kv[li].rows = s.ctxLen
		if !full {
			s.kv[li].rows = c.kvRows(li, s.ctxLen, s.maxBatch)
		}
		total += 2 * alignKV(s.kv[li].rows*kvDim*eb)
	}
	mem, release := kvAlloc(total)
	if release != nil {
		runtime.AddCleanup(s, func(f func()) { f() }, release)
	}
	off := 0
	next := func(n int) unsafe.Pointer {
		if n == 0 {
			return nil
		}
		p := unsafe.Pointer(&mem[off])
		off += alignKV(n * eb)
		return p
	}
	for li := range s.kv {
		l := &s.kv[li]
		n := l.rows * kvDim
		if c.KVType == KVF16 {
			l.k16 = unsafe.Slice((*uint16)(next(n)), n)
			l.v16 = unsafe.Slice((*uint16)(next(n)), n)
		} else {
			l.k = unsafe.Slice((*float32)(next(n)), n)
			l.v = unsafe.Slice((*float32)(next(n)), n)
		}
	}
}

// alignKV rounds n up to a cache line, so every layer's rows start on one.
func alignKV(n int) int { return (n + 63) &^ 63 }

// storeKV writes position p's key and value of layer li into the cache.
// With halves it rounds q to a half too: ggml multiplies F16 keys with the
// query converted to F16 (their vec-dot type), with and without flash
// attention, and so does this engine.
func (s *State) storeKV(li, p int, q, k, v []float32) {
	l := &s.kv[li]
	kvDim := len(k)
	r := p % l.rows
	if l.k16 != nil {
		tensor.F32ToF16Slice(l.k16[r*kvDim:(r+1)*kvDim], k)
		tensor.F32ToF16Slice(l.v16[r*kvDim:(r+1)*kvDim], v)
		tensor.RoundF16Slice(q, q)
	} else {
		copy(l.k[r*kvDim:(r+1)*kvDim], k)
		copy(l.v[r*kvDim:(r+1)*kvDim], v)
	}
	runtime.KeepAlive(s)
}

// span splits the len(sc) positions from first on into the rows that hold
// them: n0 rows from row r0, then the rest from row 0 when the ring wraps.
func (l *kvLayer) span(first, n int) (r0, n0 int) {
	r0 = first % l.rows
	return r0, min(n, l.rows-r0)
}

// dotKeys sets sc[i] to the product of q with the key of KV head kvh at
// position first+i of layer li, in position order.
func (s *State) dotKeys(sc, q []float32, li, first, kvh int) {
	l := &s.kv[li]
	hd := len(q)
	kvDim := s.m.KVHeads * hd
	off := kvh * hd
	r0, n0 := l.span(first, len(sc))
	if l.k16 != nil {
		tensor.DotF16Rows(sc[:n0], q, l.k16[r0*kvDim+off:], kvDim)
		if n0 < len(sc) {
			tensor.DotF16Rows(sc[n0:], q, l.k16[off:], kvDim)
		}
	} else {
		for i := range sc {
			r := (r0 + i) % l.rows
			sc[i] = tensor.Dot(q, l.k[r*kvDim+off:r*kvDim+off+hd])
		}
	}
	runtime.KeepAlive(s)
}

// addValues adds to out the values of KV head kvh at positions first on
// of layer li, weighted by w (one weight per position), in position order:
// a wrapped ring's two runs accumulate into out one after the other, which
// is the same float32 sum as one run over a full-context cache. With
// halves the weights are rounded to halves first, as ggml multiplies F16
// values with weights converted to F16 (its F16 vec-dot type).
func (s *State) addValues(out, w []float32, li, first, kvh int) {
	l := &s.kv[li]
	hd := len(out)
	kvDim := s.m.KVHeads * hd
	off := kvh * hd
	r0, n0 := l.span(first, len(w))
	if l.v16 != nil {
		tensor.RoundF16Slice(w, w)
		tensor.AddScaledF16Rows(out, w[:n0], l.v16[r0*kvDim+off:], kvDim)
		if n0 < len(w) {
			tensor.AddScaledF16Rows(out, w[n0:], l.v16[off:], kvDim)
		}
	} else {
		for i, a := range w {
			r := (r0 + i) % l.rows
			tensor.AddScaled(out, a, l.v[r*kvDim+off:r*kvDim+off+hd])
		}
	}
	runtime.KeepAlive(s)
}

// keep is how many of the first n positions (n < s.pos) stay usable when
// the later ones are dropped: n when every sliding layer's ring still holds
// the window before position n, else 0, as positions overwritten in a ring
// are gone and only a fresh sequence can refill them.
func (s *State) keep(n int) int {
	w := s.m.Gemma.SlidingWindow
	for li := range s.kv {
		l := &s.kv[li]
		if l.rows < s.ctxLen && max(0, n-w+1) < s.pos-l.rows {
			return 0
		}
	}
	return n
}
