//go:build (amd64 || arm64) && !purego

package tensor

// F16 KV cache kernels in assembly, four cache rows per pass for the scores
// so each query load serves four keys: kv_amd64.s (vcvtps2ph/vcvtph2ps and
// FMA, 64 columns held in registers for the weighted sum of values) and
// kv_arm64.s (FCVTN/FCVTL and FMLA, 32 columns).

//go:noescape
func f32ToF16Asm(dst *uint16, src *float32, n int)

//go:noescape
func dotF16RowsAsm(out, x *float32, h *uint16, stride, n, rows int)

//go:noescape
func addScaledF16RowsAsm(dst, w *float32, h *uint16, stride, n, rows int)

func f32ToF16s(dst []uint16, src []float32) {
	n := len(src) &^ 7
	if !useAsm || n == 0 {
		f32ToF16sGo(dst, src)
		return
	}
	_ = dst[len(src)-1]
	f32ToF16Asm(&dst[0], &src[0], n)
	f32ToF16sGo(dst[n:], src[n:])
}

// dotF16Rows and addScaledF16Rows rely on the bounds DotF16Rows and
// AddScaledF16Rows check: rows-1 strides plus one row fit in h.
func dotF16Rows(out, x []float32, h []uint16, stride int) {
	n := len(x) &^ 7
	if !useAsm || n == 0 || len(out) == 0 {
		dotF16RowsGo(out, x, h, stride)
		return
	}
	dotF16RowsAsm(&out[0], &x[0], &h[0], stride, n, len(out))
	if n < len(x) {
		for r := range out {
			out[r] += dotF16Go(x[n:], h[r*stride+n:])
		}
	}
}

func addScaledF16Rows(dst, w []float32, h []uint16, stride int) {
	n := len(dst) &^ 7
	if !useAsm || n == 0 || len(w) == 0 {
		addScaledF16RowsGo(dst, w, h, stride)
		return
	}
	addScaledF16RowsAsm(&dst[0], &w[0], &h[0], stride, n, len(w))
	if n < len(dst) {
		addScaledF16RowsGo(dst[n:], w, h[n:], stride)
	}
}
