package llama

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/cairnhub/cairn/inference/tensor"
)

// DefaultBatch is the number of prompt tokens processed per weight pass when
// NewState is given batch 0.
const DefaultBatch = 64

// State is one sequence's position, KV cache and scratch buffers.
type State struct {
	m        *Model
	ctxLen   int
	maxBatch int
	pos      int

	kvType KVType
	kv     []kvLayer // per layer (kvcache.go)

	x, xb, q, k, v, att, hb, hb2 []float32 // maxBatch rows each
	qkv                          []float32 // FusedQKV: maxBatch × (qDim+2·kvDim)
	cos, sin                     []float32 // maxBatch × RopeDims/2
	cosSWA, sinSWA               []float32 // gemma3's sliding-window layers' RoPE, nil when the same
	freqs                        []float32 // RoPE frequency divisors, nil for none
	scores                       []float32 // workers × ctxLen
	logits                       []float32 // Vocab
	workers                      int
}

// NewState allocates a State able to hold ctxLen positions, processing at
// most batch prompt tokens per pass (DefaultBatch when batch <= 0). Its KV
// cache holds elements of m.KVType (m.KVBytesBatch(ctxLen, batch) bytes);
// NewState panics if that is not a valid KVType.
func (m *Model) NewState(ctxLen, batch int) *State {
	if batch <= 0 {
		batch = DefaultBatch
	}
	c := m.Config
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	s := &State{m: m, ctxLen: ctxLen, maxBatch: batch, kvType: c.KVType, workers: min(runtime.GOMAXPROCS(0), c.Heads)}
	s.allocKV(false)
	s.x = make([]float32, batch*c.Dim)
	s.xb = make([]float32, batch*c.Dim)
	s.q = make([]float32, batch*qDim)
	s.k = make([]float32, batch*kvDim)
	s.v = make([]float32, batch*kvDim)
	s.att = make([]float32, batch*qDim)
	s.hb = make([]float32, batch*c.FFNDim)
	s.hb2 = make([]float32, batch*c.FFNDim)
	if c.FusedGateUp {
		s.hb2 = make([]float32, batch*2*c.FFNDim)
	}
	if c.FusedQKV {
		s.qkv = make([]float32, batch*(qDim+2*kvDim))
	}
	s.freqs = m.ropeFreqs
	if s.freqs == nil {
		// llama.cpp picks the long factors when a sequence may run past
		// the context they were trained for.
		s.freqs = m.ropeShort
		if ctxLen > c.RopeOrigContext && m.ropeLong != nil {
			s.freqs = m.ropeLong
		}
	}
	s.cos = make([]float32, batch*c.RopeDims/2)
	s.sin = make([]float32, batch*c.RopeDims/2)
	if g := c.Gemma; g.SWAPattern > 0 && (g.RopeBaseSWA != c.RopeBase || g.RopeFreqScaleSWA != c.RopeFreqScale) {
		s.cosSWA = make([]float32, batch*c.RopeDims/2)
		s.sinSWA = make([]float32, batch*c.RopeDims/2)
	}
	s.scores = make([]float32, s.workers*ctxLen)
	s.logits = make([]float32, c.Vocab)
	return s
}

// Model returns the model s runs.
func (s *State) Model() *Model { return s.m }

// Pos is the number of positions already in the KV cache.
func (s *State) Pos() int { return s.pos }

// ContextLength is the number of positions s can hold.
func (s *State) ContextLength() int { return s.ctxLen }

// KVType is the element type of s's KV cache.
func (s *State) KVType() KVType { return s.kvType }

// Reset empties the KV cache.
func (s *State) Reset() { s.pos = 0 }

// Truncate drops cached positions past n, so a new sequence sharing the first
// n tokens reuses their keys and values, and returns Pos. It keeps fewer
// (none) when a sliding-window layer's ring no longer holds the window
// before position n.
func (s *State) Truncate(n int) int {
	if n < s.pos {
		s.pos = s.keep(max(n, 0))
	}
	return s.pos
}

// Forward appends tokens to the sequence and returns the logits predicting
// the token after the last one. The returned slice is owned by s and is
// overwritten by the next call.
func (s *State) Forward(tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("llama: forward of no tokens")
	}
	if s.pos+len(tokens) > s.ctxLen {
		return nil, fmt.Errorf("llama: %d positions exceed the context length %d", s.pos+len(tokens), s.ctxLen)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= s.m.Vocab {
			return nil, fmt.Errorf("llama: token id %d outside vocabulary of %d", t, s.m.Vocab)
		}
	}
	for len(tokens) > 0 {
		n := min(len(tokens), s.maxBatch)
		s.batch(tokens[:n], len(tokens) == n, nil)
		tokens = tokens[n:]
	}
	return s.logits, nil
}

// ForwardAll is Forward that also writes the logits of every token into
// all (len(tokens) × Vocab); it exists for tests and perplexity-style use.
func (s *State) ForwardAll(tokens []int32, all []float32) error {
	if len(all) != len(tokens)*s.m.Vocab {
		return fmt.Errorf("llama: ForwardAll needs %d logits, got %d", len(tokens)*s.m.Vocab, len(all))
	}
	if s.pos+len(tokens) > s.ctxLen {
		return fmt.Errorf("llama: %d positions exceed the context length %d", s.pos+len(tokens), s.ctxLen)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= s.m.Vocab {
			return fmt.Errorf("llama: token id %d outside vocabulary of %d", t, s.m.Vocab)
		}
	}
	for i := 0; i < len(tokens); {
		n := min(len(tokens)-i, s.maxBatch)
		s.batch(tokens[i:i+n], true, all[i*s.m.Vocab:(i+n)*s.m.Vocab])
		i += n
	}
	return nil
}

func rmsNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	scale := float32(1 / math.Sqrt(float64(float32(sum/float64(len(x)))+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// matmul multiplies m by n rows of x into out, using the decode kernel for a
// single row.
func matmul(out []float32, m *tensor.Matrix, x []float32, n int) {
	if n == 1 {
		tensor.MatVec(out[:m.Rows], m, x[:m.Cols])
		return
	}
	tensor.MatMul(out[:n*m.Rows], m, x[:n*m.Cols], n)
}

// ropeTables fills cos/sin for positions pos..pos+n-1 with RoPE base and
// frequency scale the way ggml computes them: theta advanced by repeated
// float32 multiplication.
func (s *State) ropeTables(cos, sin []float32, base, freqScale float32, pos, n int) {
	c := s.m.Config
	half := c.RopeDims / 2
	thetaScale := float32(math.Pow(float64(base), -2.0/float64(c.RopeDims)))
	mscale := c.RopeAttnFactor
	var low, high float32
	if c.RopeYarn {
		low, high = yarnCorrDims(c.RopeDims, c.RopeOrigContext, base)
		mscale *= 1 + 0.1*float32(math.Log(float64(1/freqScale)))
	}
	for i := 0; i < n; i++ {
		theta := float32(pos + i)
		cs, sn := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
		for j := 0; j < half; j++ {
			extrap := theta
			if s.freqs != nil {
				extrap /= s.freqs[j]
			}
			t := freqScale * extrap
			if c.RopeYarn {
				mix := yarnRamp(low, high, j)
				t = t*(1-mix) + extrap*mix
			}
			cs[j] = float32(math.Cos(float64(t)))
			sn[j] = float32(math.Sin(float64(t)))
			if mscale != 1 {
				cs[j] *= mscale
				sn[j] *= mscale
			}
			theta *= thetaScale
		}
	}
}

// yarnCorrDims are ggml's YaRN correction dimensions: the pairs below low
// keep their unscaled angle, those above high take the scaled one.
func yarnCorrDims(dims, origCtx int, base float32) (low, high float32) {
	const betaFast, betaSlow = 32, 1
	corr := func(beta float32) float32 {
		return float32(dims) * float32(math.Log(float64(float32(origCtx)/(beta*2*math.Pi)))) / (2 * float32(math.Log(float64(base))))
	}
	low = max(0, float32(math.Floor(float64(corr(betaFast)))))
	high = min(float32(dims-1), float32(math.Ceil(float64(corr(betaSlow)))))
	return low, high
}

// yarnRamp is the share of pair j's unscaled angle.
func yarnRamp(low, high float32, j int) float32 {
	y := (float32(j) - low) / max(0.001, high-low)
	return 1 - min(1, max(0, y))
}

// rope rotates each head of vec (heads × HeadDim) for the position whose
// tables are cs/sn.
func (s *State) rope(vec []float32, heads int, cs, sn []float32) {
	c := s.m.Config
	half := c.RopeDims / 2
	for h := 0; h < heads; h++ {
		v := vec[h*c.HeadDim : (h+1)*c.HeadDim]
		if c.RopeNeox {
			for j := 0; j < half; j++ {
				x0, x1 := v[j], v[j+half]
				v[j] = x0*cs[j] - x1*sn[j]
				v[j+half] = x0*sn[j] + x1*cs[j]
			}
		} else {
			for j := 0; j < half; j++ {
				x0, x1 := v[2*j], v[2*j+1]
				v[2*j] = x0*cs[j] - x1*sn[j]
				v[2*j+1] = x0*sn[j] + x1*cs[j]
			}
		}
	}
}

// batch runs tokens (at most maxBatch) through the model. When all is nil
// only the last token's logits are computed (into s.logits) and only when
// wantLogits is set; otherwise every token's logits go to all.
func (s *State) batch(tokens []int32, wantLogits bool, all []float32) {
	m := s.m
	c := m.Config
	n := len(tokens)
	dim := c.Dim
	for i, t := range tokens {
		m.tokEmbd.Row(s.x[i*dim:(i+1)*dim], int(t))
	}
	if c.Gemma.On {
		// ggml_scale by sqrtf(n_embd), in float32.
		scale(s.x[:n*dim], float32(math.Sqrt(float64(float32(dim)))))
	}
	s.ropeTables(s.cos, s.sin, c.RopeBase, c.RopeFreqScale, s.pos, n)
	if s.cosSWA != nil {
		s.ropeTables(s.cosSWA, s.sinSWA, c.Gemma.RopeBaseSWA, c.Gemma.RopeFreqScaleSWA, s.pos, n)
	}
	for li := range m.layers {
		l := &m.layers[li]
		s.attentionBlock(li, n)
		matmul(s.xb, l.wo, s.att, n)
		s.postNorm(l.postAttnNorm, n)
		addTo(s.x[:n*dim], s.xb[:n*dim])

		for i := 0; i < n; i++ {
			rmsNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], l.ffnNorm, c.RMSEps)
		}
		s.gatedFFN(l, n)
		matmul(s.xb, l.wDown, s.hb, n)
		s.postNorm(l.postFFNNorm, n)
		addTo(s.x[:n*dim], s.xb[:n*dim])
	}
	s.pos += n
	if all != nil {
		for i := 0; i < n; i++ {
			rmsNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], m.outNorm, c.RMSEps)
		}
		matmul(all, m.output, s.xb, n)
		softCap(all, c.Gemma.FinalSoftCap)
		copy(s.logits, all[(n-1)*c.Vocab:])
		return
	}
	if wantLogits {
		last := s.x[(n-1)*dim : n*dim]
		rmsNorm(s.xb[:dim], last, m.outNorm, c.RMSEps)
		tensor.MatVec(s.logits, m.output, s.xb[:dim])
		softCap(s.logits, c.Gemma.FinalSoftCap)
	}
}

// attentionBlock normalises the n rows of s.x, projects them to Q, K and V,
// rotates and caches K and V, and leaves the attention output in s.att.
func (s *State) attentionBlock(li, n int) {
	c := s.m.Config
	l := &s.m.layers[li]
	dim, qDim, kvDim := c.Dim, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	half := c.RopeDims / 2
	for i := 0; i < n; i++ {
		rmsNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], l.attnNorm, c.RMSEps)
	}
	s.projectQKV(l, n)
	cos, sin := s.cos, s.sin
	if s.cosSWA != nil && c.Sliding(li) {
		cos, sin = s.cosSWA, s.sinSWA
	}
	for i := 0; i < n; i++ {
		q, k, v := s.q[i*qDim:(i+1)*qDim], s.k[i*kvDim:(i+1)*kvDim], s.v[i*kvDim:(i+1)*kvDim]
		if l.bq != nil {
			addTo(q, l.bq)
			addTo(k, l.bk)
			addTo(v, l.bv)
		}
		if l.qNorm != nil {
			headNorm(q, l.qNorm, c.RMSEps)
			headNorm(k, l.kNorm, c.RMSEps)
		}
		cs, sn := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
		s.rope(q, c.Heads, cs, sn)
		s.rope(k, c.KVHeads, cs, sn)
		if c.QPreScale != 0 {
			scale(q, c.QPreScale)
		}
		s.storeKV(li, s.pos+i, q, k, v)
	}
	s.attention(li, n)
}

// postNorm RMS-normalises the n rows of s.xb in place with w (gemma's
// post-attention and post-FFN norms); nil w does nothing.
func (s *State) postNorm(w []float32, n int) {
	if w == nil {
		return
	}
	dim := s.m.Dim
	for i := 0; i < n; i++ {
		rmsNorm(s.xb[i*dim:(i+1)*dim], s.xb[i*dim:(i+1)*dim], w, s.m.RMSEps)
	}
}

// softCap maps each v to c·tanh(v/c) as ggml does (scale by 1/c, tanh,
// scale by c); c == 0 leaves v alone.
func softCap(v []float32, c float32) {
	if c == 0 {
		return
	}
	inv := 1 / c
	for i, x := range v {
		v[i] = float32(math.Tanh(float64(x*inv))) * c
	}
}

// headNorm RMS-normalises each len(w)-wide head of vec in place.
func headNorm(vec, w []float32, eps float32) {
	hd := len(w)
	for h := 0; h+hd <= len(vec); h += hd {
		rmsNorm(vec[h:h+hd], vec[h:h+hd], w, eps)
	}
}

// projectQKV computes s.q, s.k and s.v of n rows from s.xb.
func (s *State) projectQKV(l *layer, n int) {
	c := s.m.Config
	if l.wqkv == nil && n == 1 {
		// One pool pass for the three projections of one token.
		qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
		tensor.MatVecs([][]float32{s.q[:qDim], s.k[:kvDim], s.v[:kvDim]}, []*tensor.Matrix{l.wq, l.wk, l.wv}, s.xb[:c.Dim])
		return
	}
	if l.wqkv == nil {
		matmul(s.q, l.wq, s.xb, n)
		matmul(s.k, l.wk, s.xb, n)
		matmul(s.v, l.wv, s.xb, n)
		return
	}
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	w := qDim + 2*kvDim
	matmul(s.qkv, l.wqkv, s.xb, n)
	for i := 0; i < n; i++ {
		row := s.qkv[i*w : (i+1)*w]
		copy(s.q[i*qDim:(i+1)*qDim], row[:qDim])
		copy(s.k[i*kvDim:(i+1)*kvDim], row[qDim:qDim+kvDim])
		copy(s.v[i*kvDim:(i+1)*kvDim], row[qDim+kvDim:])
	}
}

// gatedFFN puts silu(gate)·up of n rows of s.xb into s.hb.
func (s *State) gatedFFN(l *layer, n int) {
	ffn := s.m.FFNDim
	h := s.hb[:n*ffn]
	if l.wGate == nil {
		// Fused: each row of ffn_up's output is the gate, then the up half.
		matmul(s.hb2, l.wUp, s.xb, n)
		for i := 0; i < n; i++ {
			row, hi := s.hb2[i*2*ffn:(i+1)*2*ffn], h[i*ffn:(i+1)*ffn]
			copy(hi, row[:ffn])
			tensor.SiLUMul(hi, row[ffn:])
		}
		return
	}
	if n == 1 {
		tensor.MatVecs([][]float32{s.hb[:ffn], s.hb2[:ffn]}, []*tensor.Matrix{l.wGate, l.wUp}, s.xb[:s.m.Dim])
	} else {
		matmul(s.hb, l.wGate, s.xb, n)
		matmul(s.hb2, l.wUp, s.xb, n)
	}
	gateActivate(h, s.hb2[:n*ffn], s.m.Gemma.On)
}

// gateChunk is the elements per ParallelFor chunk of GeGLU's gate: a
// TinyLlama FFN row (5632) in three, where one core took 3% of a decode
// step (with SiLU's scalar form, before its vector kernel).
const gateChunk = 2048

// siluChunk is gateActivate's chunk for SwiGLU, whose vector kernel takes
// about half a nanosecond an element (tensor.SiLUMul): a lone step's row
// is done by the caller alone, a batched step's rows split over the pool.
const siluChunk = 16384

// gateActivate sets h[i] to act(h[i]) * u[i] over the pool: GeGLU's gate
// (gelu) if gelu, else SwiGLU's (silu). Element by element, so the split
// does not change the bits.
func gateActivate(h, u []float32, gelu bool) {
	if !gelu {
		tensor.ParallelFor(len(h), siluChunk, func(lo, hi int) { tensor.SiLUMul(h[lo:hi], u[lo:hi]) })
		return
	}
	tensor.ParallelFor(len(h), gateChunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			h[i] = geluGate(h[i], u[i])
		}
	})
}

// geluF16 is ggml's GELU table: gelu-tanh of every half, rounded to a half.
var geluF16 = sync.OnceValue(func() []float32 {
	const sqrt2OverPi, coefA = float32(0.79788456080286535587989211986876), float32(0.044715)
	t := make([]float32, 1<<16)
	for h := range t {
		x := tensor.F16ToF32(uint16(h))
		y := 0.5 * x * (1 + float32(math.Tanh(float64(sqrt2OverPi*x*(1+coefA*x*x)))))
		t[h] = tensor.F16ToF32(tensor.F32ToF16(y))
	}
	return t
})

// geluGate is ggml's GeGLU of gate x and up g: the GELU of x looked up
// for x rounded to a half, except far out where GELU is 0 or x.
func geluGate(x, g float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x * g
	}
	return geluF16()[tensor.F32ToF16(x)] * g
}

func scale(v []float32, f float32) {
	for i := range v {
		v[i] *= f
	}
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// attention computes s.att for the n newest positions from the KV cache of
// layer li, splitting query heads over workers.
func (s *State) attention(li, n int) {
	c := s.m.Config
	if s.workers <= 1 || (n == 1 && s.pos+1 < 256) {
		s.attendHeads(li, n, 0, c.Heads, s.scores[:s.ctxLen])
		return
	}
	per := (c.Heads + s.workers - 1) / s.workers
	// On the tensor pool, whose helpers are already awake between the
	// layer's products; chunk w uses scratch w.
	tensor.ParallelFor(s.workers, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			if h0, h1 := w*per, min((w+1)*per, c.Heads); h0 < h1 {
				s.attendHeads(li, n, h0, h1, s.scores[w*s.ctxLen:(w+1)*s.ctxLen])
			}
		}
	})
}

// attendHeads computes the attention of query heads [h0,h1) of the n
// newest positions. With the F16 cache the scores of one head over all
// positions are one tensor.DotF16Rows call (keys kvDim halves apart) and its
// output one tensor.AddScaledF16Rows call; the F32 cache goes position by
// position.
func (s *State) attendHeads(li, n, h0, h1 int, scores []float32) {
	c := s.m.Config
	hd := c.HeadDim
	qDim := c.Heads * hd
	group := c.Heads / c.KVHeads
	window := 0
	if c.Sliding(li) {
		window = c.Gemma.SlidingWindow
	}
	for i := 0; i < n; i++ {
		npos := s.pos + i + 1 // causal: this token sees itself and all before it
		first := 0            // and, in a sliding window, only the last window positions
		if window > 0 {
			first = max(0, npos-window)
		}
		for h := h0; h < h1; h++ {
			q := s.q[i*qDim+h*hd : i*qDim+(h+1)*hd]
			sc := scores[:npos-first]
			s.scoreKeys(sc, q, li, first, h/group)
			out := s.att[i*qDim+h*hd : i*qDim+(h+1)*hd]
			clear(out)
			s.addValues(out, sc, li, first, h/group)
		}
	}
}

// scoreKeys puts into sc the softmax of q's scores against the len(sc)
// cached keys of KV head kvh of layer li from position first on.
func (s *State) scoreKeys(sc, q []float32, li, first, kvh int) {
	c := s.m.Config
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
	if c.QPreScale != 0 {
		scale = 1
	}
	s.dotKeys(sc, q, li, first, kvh)
	softCap(sc, c.Gemma.AttnSoftCap)
	maxv := float32(math.Inf(-1))
	for p, v := range sc {
		v *= scale
		sc[p] = v
		maxv = max(maxv, v)
	}
	var sum float64
	for p := range sc {
		e := float32(math.Exp(float64(sc[p] - maxv)))
		sc[p] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for p := range sc {
		sc[p] *= inv
	}
}
