package tensor

import "fmt"

// Kernels for a KV cache kept in IEEE halves (F16), as llama.cpp keeps it by
// default: conversion of new keys and values to halves, the products of a
// query with many cached keys (attention scores) and the sum of cached
// values weighted by the softmax of those scores. A cache row is one
// position: the kernels step from one position to the next by a stride of
// stride halves (KVHeads × HeadDim for the engine's layout), reading
// len(x) or len(dst) consecutive halves of each (one head). Products
// accumulate in float32.

// F32ToF16Slice converts src to halves in dst[:len(src)], rounding to
// nearest even exactly as F32ToF16 (and F16C's vcvtps2ph, which ggml's
// GGML_FP32_TO_FP16 uses) does.
func F32ToF16Slice(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("tensor: F32ToF16Slice of %d values into %d", len(src), len(dst)))
	}
	f32ToF16s(dst[:len(src)], src)
}

// RoundF16Slice sets dst[i] to x[i] rounded to the nearest half
// (len(dst) >= len(x)); dst may be x. It is the conversion ggml applies to an
// activation multiplied with F16 data, such as a query with F16 keys.
func RoundF16Slice(dst, x []float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("tensor: RoundF16Slice of %d values into %d", len(x), len(dst)))
	}
	roundF16Slice(dst[:len(x)], x)
}

// checkRows panics unless rows rows of n halves, stride apart, fit in h.
func checkRows(op string, h []uint16, stride, rows, n int) {
	if rows == 0 || n == 0 {
		return
	}
	if stride < 0 || n > len(h) || (stride > 0 && rows-1 > (len(h)-n)/stride) {
		panic(fmt.Sprintf("tensor: %s: %d rows of %d halves %d apart exceed %d halves", op, rows, n, stride, len(h)))
	}
}

// DotF16Rows sets out[r] to the dot product of x with the halves
// h[r*stride : r*stride+len(x)], for every r < len(out).
func DotF16Rows(out, x []float32, h []uint16, stride int) {
	checkRows("DotF16Rows", h, stride, len(out), len(x))
	if len(x) == 0 {
		clear(out)
		return
	}
	dotF16Rows(out, x, h, stride)
}

// AddScaledF16Rows adds w[r] times the halves h[r*stride : r*stride+len(dst)]
// to dst, for every r < len(w).
func AddScaledF16Rows(dst, w []float32, h []uint16, stride int) {
	checkRows("AddScaledF16Rows", h, stride, len(w), len(dst))
	if len(dst) == 0 || len(w) == 0 {
		return
	}
	addScaledF16Rows(dst, w, h, stride)
}

// Pure-Go versions: the fallback elsewhere and the tests' reference for the
// assembly.

func f32ToF16sGo(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F32ToF16(v)
	}
}

// dotF16Go is the product of x with the halves h[:len(x)].
func dotF16Go(x []float32, h []uint16) float32 {
	h = h[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		hh := (*[4]uint16)(h[i:])
		xx := (*[4]float32)(x[i:])
		s0 += f16Bits(hh[0]) * xx[0]
		s1 += f16Bits(hh[1]) * xx[1]
		s2 += f16Bits(hh[2]) * xx[2]
		s3 += f16Bits(hh[3]) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += f16Table[h[i]] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16RowsGo(out, x []float32, h []uint16, stride int) {
	for r := range out {
		out[r] = dotF16Go(x, h[r*stride:])
	}
}

func addScaledF16RowsGo(dst, w []float32, h []uint16, stride int) {
	for r, a := range w {
		row := h[r*stride:][:len(dst)]
		for i, v := range row {
			dst[i] += a * f16Bits(v)
		}
	}
}
