package llama

import (
	"fmt"

	"github.com/cairnhub/cairn/inference/tensor"
)

// Seq is one sequence's share of a Batch.Forward pass.
type Seq struct {
	// State is the sequence: its position and KV cache. A State appears at
	// most once per pass.
	State *State
	// Tokens are appended to the sequence, at most State's batch size
	// (NewState's batch).
	Tokens []int32
	// Logits, when not nil (Vocab long), receives the logits predicting the
	// token after the last of Tokens.
	Logits []float32
}

// Batch runs several sequences through the model in one pass: every weight
// matrix is multiplied once with the rows of all of them (the pass reads the
// weights once, where separate Forward calls read them once per sequence),
// while RoPE, the KV cache and attention stay per sequence. It holds the
// shared scratch buffers; it is not safe for concurrent use.
type Batch struct {
	m                            *Model
	rows                         int
	x, xb, q, k, v, att, hb, hb2 []float32
	logits                       []float32 // rows × Vocab at most
	segs                         []int     // see segments
	firstRow                     []int     // attend: each sequence's first row
}

// NewBatch returns a Batch for passes of at most rows tokens in total.
func (m *Model) NewBatch(rows int) *Batch {
	c := m.Config
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	return &Batch{
		m: m, rows: rows,
		x: make([]float32, rows*c.Dim), xb: make([]float32, rows*c.Dim),
		q: make([]float32, rows*qDim), k: make([]float32, rows*kvDim), v: make([]float32, rows*kvDim),
		att: make([]float32, rows*qDim), hb: make([]float32, rows*c.FFNDim), hb2: make([]float32, rows*c.FFNDim),
	}
}

// Rows is the most tokens a pass takes.
func (b *Batch) Rows() int { return b.rows }

// MultiSupported reports whether Batch.Forward runs m's architecture; for
// others run each sequence with State.Forward.
func (m *Model) MultiSupported() bool {
	switch m.Arch {
	case "llama", "mistral", "qwen2":
		return true
	}
	return false
}

// check validates seqs before a pass changes anything.
func (b *Batch) check(seqs []Seq) (int, error) {
	if !b.m.MultiSupported() {
		return 0, fmt.Errorf("llama: multi-sequence forward of architecture %q", b.m.Arch)
	}
	n := 0
	for i, sq := range seqs {
		st := sq.State
		switch {
		case st == nil || st.m != b.m:
			return 0, fmt.Errorf("llama: sequence %d has no state of this model", i)
		case len(sq.Tokens) == 0 || len(sq.Tokens) > st.maxBatch:
			return 0, fmt.Errorf("llama: sequence %d has %d tokens (1 to %d allowed)", i, len(sq.Tokens), st.maxBatch)
		case st.pos+len(sq.Tokens) > st.ctxLen:
			return 0, fmt.Errorf("llama: sequence %d: %d positions exceed the context length %d", i, st.pos+len(sq.Tokens), st.ctxLen)
		case sq.Logits != nil && len(sq.Logits) != b.m.Vocab:
			return 0, fmt.Errorf("llama: sequence %d: logits of %d, want %d", i, len(sq.Logits), b.m.Vocab)
		}
		for j := range i {
			if seqs[j].State == st {
				return 0, fmt.Errorf("llama: sequence %d repeats the state of sequence %d", i, j)
			}
		}
		for _, t := range sq.Tokens {
			if t < 0 || int(t) >= b.m.Vocab {
				return 0, fmt.Errorf("llama: token id %d outside vocabulary of %d", t, b.m.Vocab)
			}
		}
		n += len(sq.Tokens)
	}
	if n > b.rows {
		return 0, fmt.Errorf("llama: %d tokens in a batch of %d rows", n, b.rows)
	}
	return n, nil
}

// Forward appends each sequence's tokens to its State and fills the Logits
// asked for. Rows are laid out sequence after sequence; each row's result
// depends only on its own sequence.
func (b *Batch) Forward(seqs []Seq) error {
	n, err := b.check(seqs)
	if err != nil || n == 0 {
		return err
	}
	m := b.m
	c := m.Config
	dim, ffn := c.Dim, c.FFNDim
	b.segments(seqs)
	r := 0
	for _, sq := range seqs {
		for _, t := range sq.Tokens {
			m.tokEmbd.Row(b.x[r*dim:(r+1)*dim], int(t))
			r++
		}
		sq.State.ropeTables(sq.State.cos, sq.State.sin, c.RopeBase, c.RopeFreqScale, sq.State.pos, len(sq.Tokens))
	}
	for li := range m.layers {
		l := &m.layers[li]
		for i := 0; i < n; i++ {
			rmsNorm(b.xb[i*dim:(i+1)*dim], b.x[i*dim:(i+1)*dim], l.attnNorm, c.RMSEps)
		}
		b.matmul(b.q, l.wq, b.xb, n)
		b.matmul(b.k, l.wk, b.xb, n)
		b.matmul(b.v, l.wv, b.xb, n)
		b.attend(li, seqs)
		b.matmul(b.xb, l.wo, b.att, n)
		addTo(b.x[:n*dim], b.xb[:n*dim])

		for i := 0; i < n; i++ {
			rmsNorm(b.xb[i*dim:(i+1)*dim], b.x[i*dim:(i+1)*dim], l.ffnNorm, c.RMSEps)
		}
		b.matmul(b.hb, l.wGate, b.xb, n)
		b.matmul(b.hb2, l.wUp, b.xb, n)
		b.gate(n * ffn)
		b.matmul(b.xb, l.wDown, b.hb, n)
		addTo(b.x[:n*dim], b.xb[:n*dim])
	}
	for _, sq := range seqs {
		sq.State.pos += len(sq.Tokens)
	}
	b.outputs(seqs)
	return nil
}

// gate puts silu(gate)·up of the first n values of b.hb into b.hb, over
// the pool's workers: eight decoding sequences' activations cost as much
// as a small matrix product, too much to leave on one core.
func (b *Batch) gate(n int) { gateActivate(b.hb[:n], b.hb2[:n], false) }

// attend stores each sequence's new keys and values in its cache and runs
// its attention in its State's buffers, rows copied in and out. Sequences
// of one token (decoding) run side by side over the pool's workers, each
// on one; a longer chunk splits its heads over the workers itself
// (State.attention). A head's sums do not depend on the split, so each
// sequence's result is a lone Forward's bit for bit.
func (b *Batch) attend(li int, seqs []Seq) {
	if len(b.firstRow) < len(seqs) {
		b.firstRow = make([]int, len(seqs))
	}
	r, decoding := 0, 0
	for i, sq := range seqs {
		b.firstRow[i] = r
		r += len(sq.Tokens)
		if len(sq.Tokens) == 1 {
			decoding++
		}
	}
	if decoding < 2 {
		for i := range seqs {
			b.attendSeq(li, seqs[i], b.firstRow[i], false)
		}
		return
	}
	tensor.ParallelFor(len(seqs), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			b.attendSeq(li, seqs[i], b.firstRow[i], len(seqs[i].Tokens) == 1)
		}
	})
}

// attendSeq runs attend for one sequence whose rows start at r; alone, it
// keeps the work on the calling goroutine.
func (b *Batch) attendSeq(li int, sq Seq, r int, alone bool) {
	c := b.m.Config
	l := &b.m.layers[li]
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	half := c.RopeDims / 2
	st := sq.State
	ni := len(sq.Tokens)
	for i := 0; i < ni; i++ {
		q, k, v := b.q[(r+i)*qDim:(r+i+1)*qDim], b.k[(r+i)*kvDim:(r+i+1)*kvDim], b.v[(r+i)*kvDim:(r+i+1)*kvDim]
		if l.bq != nil {
			addTo(q, l.bq)
			addTo(k, l.bk)
			addTo(v, l.bv)
		}
		cs, sn := st.cos[i*half:(i+1)*half], st.sin[i*half:(i+1)*half]
		st.rope(q, c.Heads, cs, sn)
		st.rope(k, c.KVHeads, cs, sn)
		st.storeKV(li, st.pos+i, q, k, v)
	}
	copy(st.q[:ni*qDim], b.q[r*qDim:(r+ni)*qDim])
	if alone {
		st.attendHeads(li, ni, 0, c.Heads, st.scores[:st.ctxLen])
	} else {
		st.attention(li, ni)
	}
	copy(b.att[r*qDim:(r+ni)*qDim], st.att[:ni*qDim])
}

// outputs computes the logits asked for: the last row of each such
// sequence, all in one product with the output matrix.
func (b *Batch) outputs(seqs []Seq) {
	m := b.m
	c := m.Config
	dim := c.Dim
	k, r := 0, 0
	for _, sq := range seqs {
		r += len(sq.Tokens)
		if sq.Logits != nil {
			rmsNorm(b.xb[k*dim:(k+1)*dim], b.x[(r-1)*dim:r*dim], m.outNorm, c.RMSEps)
			k++
		}
	}
	if k == 0 {
		return
	}
	if len(b.logits) < k*c.Vocab {
		b.logits = make([]float32, k*c.Vocab)
	}
	mulRows(b.logits, m.output, b.xb, k)
	k = 0
	for _, sq := range seqs {
		if sq.Logits != nil {
			copy(sq.Logits, b.logits[k*c.Vocab:(k+1)*c.Vocab])
			k++
		}
	}
}

// matmul multiplies a pass's n rows with w, each sequence's rows as a lone
// State.Forward multiplies them, so that a sequence's results do not
// depend on the others in the pass: a prompt chunk with MatMul, the rows of
// decoding sequences (one each) with mulRows.
func (b *Batch) matmul(out []float32, w *tensor.Matrix, x []float32, n int) {
	if len(b.segs) > 1 && tensor.MatMulExact(w.Type) {
		// Every row gets MatVec's bits whatever shares its call: one pass
		// over the weights, lane groups filled across sequences.
		tensor.MatMul(out[:n*w.Rows], w, x[:n*w.Cols], n)
		return
	}
	r := 0
	for _, k := range b.segs {
		rows := max(k, -k)
		xs, os := x[r*w.Cols:(r+rows)*w.Cols], out[r*w.Rows:(r+rows)*w.Rows]
		switch {
		case k < 0: // -k decoding sequences' rows
			mulRows(os, w, xs, rows)
		case k == 1:
			tensor.MatVec(os, w, xs)
		default:
			tensor.MatMul(os, w, xs, k)
		}
		r += rows
	}
}

// mulRows multiplies k independent rows (one per sequence) with w, each
// row's results a lone decode's bit for bit: tensor.MatMulBatch, whose lane
// kernels expand each weight block once for eight rows, from batchLaneMin
// rows; below, where lanes would cost as much, tensor.MatMulEach, the
// weights still read once.
func mulRows(out []float32, w *tensor.Matrix, x []float32, k int) {
	switch {
	case k >= batchLaneMin:
		tensor.MatMulBatch(out[:k*w.Rows], w, x[:k*w.Cols], k)
	case k == 1:
		tensor.MatVec(out[:w.Rows], w, x[:w.Cols])
	default:
		tensor.MatMulEach(out[:k*w.Rows], w, x[:k*w.Cols], k)
	}
}

// batchLaneMin is the fewest decoding sequences multiplied with
// MatMulBatch.
const batchLaneMin = 4

// segments sets b.segs for seqs: a prompt chunk's row count, or minus the
// count of consecutive decoding sequences (one row each).
func (b *Batch) segments(seqs []Seq) {
	b.segs = b.segs[:0]
	for _, sq := range seqs {
		k := len(sq.Tokens)
		if k == 1 && len(b.segs) > 0 && b.segs[len(b.segs)-1] < 0 {
			b.segs[len(b.segs)-1]--
			continue
		}
		if k == 1 {
			k = -1
		}
		b.segs = append(b.segs, k)
	}
}
