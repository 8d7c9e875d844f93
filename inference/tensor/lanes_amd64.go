//go:build amd64 && !purego

package tensor

// useVNNI (arch_amd64.go) picks the VNNI lane kernels.

// Lane kernels in kernels_batch_amd64.s; see laneFunc.

//go:noescape
func q40Lanes8ExactAVX(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)

// laneKernel returns the lane kernel of weight type t on this CPU, nil if
// there is none. Only kernels whose results are MatVec's bit for bit are
// here: a batched sequence must compute what it would alone.
func laneKernel(t Type) laneFunc {
	switch {
	case !useAsm || t != Q4_0:
		return nil
	case useInter:
		return lanesQ40Seq
	}
	return lanesQ40AVX
}

func lanesQ40AVX(w []byte, rb, rows int, p *lanePack, g, nb int, out []float32) {
	x, d, c, _ := p.group(g, nb)
	laneBounds(Q4_0, w, rb, rows, x, d, c, nb, out)
	q40Lanes8ExactAVX(&w[0], rb, rows, &x[0], &d[0], &c[0], nb, &out[0])
}

// lanesQ40Seq is the lane kernel in the tile kernels' order (useInter).
func lanesQ40Seq(w []byte, rb, rows int, p *lanePack, g, nb int, out []float32) {
	x, d, c, o := p.group(g, nb)
	laneBounds(Q4_0, w, rb, rows, x, d, c, nb, out)
	_ = o[nb*laneW-1]
	q40SeqLanes(&w[0], rb, rows, &x[0], &d[0], &o[0], nb, &out[0])
}

// laneBounds checks the bounds the assembly relies on.
func laneBounds(t Type, w []byte, rb, rows int, x []int8, d []float32, c []float32, nb int, out []float32) {
	if rows < 1 || nb < 1 {
		panic("tensor: lane kernel of no rows or blocks")
	}
	_ = w[(rows-1)*rb+nb*t.BlockBytes()-1]
	_ = x[nb*laneW*qk-1]
	_ = d[nb*laneW-1]
	_ = c[nb*laneW-1]
	_ = out[rows*laneW-1]
}

//go:noescape
func transpose8(dst *float32, stride int, src *float32, sstride int)

// transposeBlock sets dst[l*stride+r] = src[r*sstride+l] for r, l < 8.
func transposeBlock(dst []float32, stride int, src []float32, sstride int) {
	_ = dst[7*stride+7]
	_ = src[7*sstride+7]
	transpose8(&dst[0], stride, &src[0], sstride)
}
