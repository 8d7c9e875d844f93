//go:build amd64 && !purego

package tensor

// useVNNI (arch_amd64.go) picks the VNNI lane kernels.

// Lane kernels in kernels_batch_amd64.s; see laneFunc.

//go:noescape
func q40Lanes8ExactAVX(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)

//go:noescape
func q40Lanes8ExactVNNI(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)

//go:noescape
func q80Lanes8VNNI(w *byte, rb, rows int, x *int8, d *float32, s *int32, nb int, out *float32)

// laneKernel returns the lane kernel of weight type t on this CPU (nil if
// there is none) and the offset it adds to the weights.
func laneKernel(t Type) (laneFunc, int32) {
	switch {
	case !useAsm:
		return nil, 0
	case t == Q4_0 && useVNNI:
		return lanesQ40VNNI, 8
	case t == Q4_0:
		return lanesQ40AVX, 8
	case t == Q8_0 && useVNNI:
		return lanesQ80VNNI, 128
	}
	return nil, 0
}

func lanesQ40AVX(w []byte, rb, rows int, x []int8, d []float32, s []int32, c []float32, nb int, out []float32) {
	laneBounds(Q4_0, w, rb, rows, x, d, s, c, nb, out)
	q40Lanes8ExactAVX(&w[0], rb, rows, &x[0], &d[0], &c[0], nb, &out[0])
}

func lanesQ40VNNI(w []byte, rb, rows int, x []int8, d []float32, s []int32, c []float32, nb int, out []float32) {
	laneBounds(Q4_0, w, rb, rows, x, d, s, c, nb, out)
	q40Lanes8ExactVNNI(&w[0], rb, rows, &x[0], &d[0], &c[0], nb, &out[0])
}

func lanesQ80VNNI(w []byte, rb, rows int, x []int8, d []float32, s []int32, c []float32, nb int, out []float32) {
	laneBounds(Q8_0, w, rb, rows, x, d, s, c, nb, out)
	q80Lanes8VNNI(&w[0], rb, rows, &x[0], &d[0], &s[0], nb, &out[0])
}

// laneBounds checks the bounds the assembly relies on.
func laneBounds(t Type, w []byte, rb, rows int, x []int8, d []float32, s []int32, c []float32, nb int, out []float32) {
	if rows < 1 || nb < 1 {
		panic("tensor: lane kernel of no rows or blocks")
	}
	_ = w[(rows-1)*rb+nb*t.BlockBytes()-1]
	_ = x[nb*laneW*qk-1]
	_ = d[nb*laneW-1]
	_ = s[nb*laneW-1]
	_ = c[nb*laneW-1]
	_ = out[rows*laneW-1]
}
