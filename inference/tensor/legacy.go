package tensor

import (
	"encoding/binary"
	"math"
)

// The 32-element types besides Q4_0 and Q8_0: Q4_1, Q5_0, Q5_1 and IQ4_NL.
// llama-quantize writes them where a K-quant does not fit (a row length not
// a multiple of 256): Q5_0 in place of Q4_K, Q5_1 in place of Q5_K, IQ4_NL
// in place of Q2_K, Q3_K and IQ4_XS. Their layouts are ggml's block_q4_1,
// block_q5_0, block_q5_1 and block_iq4_nl.
//
// Q5_0 and IQ4_NL multiply Q8_0 activations (as Q4_0); Q4_1 and Q5_1
// multiply Q8_1 activations: Q8_0's values plus s = d*Σq per block, which
// carries the block's min through the product.

// iq4nlValues is ggml's kvalues_iq4nl: the sixteen non-uniformly spaced
// levels an IQ4_NL or IQ4_XS nibble indexes.
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func half(b []byte) float32 { return f16Table[binary.LittleEndian.Uint16(b)] }

// dequantQ41Block: d at 0, m at 2, qs[16] at 4; element j is
// (qs[j]&15)*d + m, element j+16 is (qs[j]>>4)*d + m.
func dequantQ41Block(y []float32, blk []byte) {
	d, m := half(blk[0:]), half(blk[2:])
	for j := 0; j < qk/2; j++ {
		y[j] = float32(float32(blk[4+j]&0xf)*d) + m
		y[j+qk/2] = float32(float32(blk[4+j]>>4)*d) + m
	}
}

// q5High returns the fifth bits of elements j and j+16 of a Q5_0/Q5_1
// block, as 0 or 16: bits j and j+16 of the little-endian qh word.
func q5High(qh uint32, j int) (h0, h1 uint8) {
	return uint8(qh>>j&1) << 4, uint8(qh>>(j+16)&1) << 4
}

// dequantQ50Block: d at 0, qh[4] at 2, qs[16] at 6; element j is
// ((qs[j]&15) | bit j of qh << 4) - 16 times d, element j+16 takes the high
// nibble and bit j+16.
func dequantQ50Block(y []float32, blk []byte) {
	d := half(blk[0:])
	qh := binary.LittleEndian.Uint32(blk[2:])
	for j := 0; j < qk/2; j++ {
		h0, h1 := q5High(qh, j)
		y[j] = float32(int(blk[6+j]&0xf|h0)-16) * d
		y[j+qk/2] = float32(int(blk[6+j]>>4|h1)-16) * d
	}
}

// dequantQ51Block: d at 0, m at 2, qh[4] at 4, qs[16] at 8; the 5-bit
// values as Q5_0's, unsigned, times d plus m.
func dequantQ51Block(y []float32, blk []byte) {
	d, m := half(blk[0:]), half(blk[2:])
	qh := binary.LittleEndian.Uint32(blk[4:])
	for j := 0; j < qk/2; j++ {
		h0, h1 := q5High(qh, j)
		y[j] = float32(float32(blk[8+j]&0xf|h0)*d) + m
		y[j+qk/2] = float32(float32(blk[8+j]>>4|h1)*d) + m
	}
}

// dequantIQ4NLBlock: d at 0, qs[16] at 2; element j is
// d*iq4nlValues[qs[j]&15], element j+16 d*iq4nlValues[qs[j]>>4].
func dequantIQ4NLBlock(y []float32, blk []byte) {
	d := half(blk[0:])
	for j := 0; j < qk/2; j++ {
		y[j] = d * float32(iq4nlValues[blk[2+j]&0xf])
		y[j+qk/2] = d * float32(iq4nlValues[blk[2+j]>>4])
	}
}

// prepareQ81 fills a.s for Q4_1/Q5_1 weights after the Q8_0 quantisation of
// x: s = d*Σq rounded to f16, with d = amax/127 before its own rounding, as
// ggml's quantize_row_q8_1.
func prepareQ81(a *act, x []float32) {
	nb := len(a.d)
	a.s = grow(a.s, nb)
	for b := 0; b < nb; b++ {
		var amax float32
		for _, v := range x[b*qk : (b+1)*qk] {
			amax = max(amax, abs32(v))
		}
		sum := 0
		for _, q := range a.qs[b*qk : (b+1)*qk] {
			sum += int(q)
		}
		a.s[b] = roundF16(amax / 127 * float32(sum))
	}
}

// The products below reproduce ggml's AVX2 kernels operation for
// operation (and so the assembly, bit for bit): per block, eight int32
// lanes of four consecutive products each (VPMADDUBSW, VPMADDWD), each
// converted to float and added to its own float32 accumulator with one
// fused multiply-add under the block's scale; a final horizontal sum in
// hsum_float_8's order. Greedy output on a random-weight model can turn on
// a single activation rounding, so any other order would diverge from
// llama.cpp there.

// fma32 is a float32 fused multiply-add: a*b is exact in float64, so only
// the (rare) double rounding of the sum can tell it from the instruction.
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

// hsum8 sums eight lanes as ggml's hsum_float_8: high half plus low half,
// then lanes 0+2 and 1+3, then those two.
func hsum8(acc *[8]float32) float32 {
	var r [4]float32
	for i := range r {
		r[i] = acc[4+i] + acc[i]
	}
	return (r[0] + r[2]) + (r[1] + r[3])
}

// addLanes adds, for each of the eight lanes, scale times the lane's
// integer sum of four products x[e]*y[e].
func addLanes(acc *[8]float32, scale float32, x *[qk]int32, y *[qk]int8) {
	for i := 0; i < 8; i++ {
		l := x[4*i]*int32(y[4*i]) + x[4*i+1]*int32(y[4*i+1]) + x[4*i+2]*int32(y[4*i+2]) + x[4*i+3]*int32(y[4*i+3])
		acc[i] = fma32(scale, float32(l), acc[i])
	}
}

// blockValues decodes the 32 integer values of a 32-element block: the
// nibbles at qs (element j low, j+16 high) plus the fifth bits of qh (bit
// j; 0 for none), offset by off.
func blockValues(v *[qk]int32, qs []byte, qh uint32, off int32) {
	for j := 0; j < qk/2; j++ {
		h0, h1 := q5High(qh, j)
		v[j] = int32(qs[j]&0xf|h0) + off
		v[j+qk/2] = int32(qs[j]>>4|h1) + off
	}
}

// dotQ41RowGo: as ggml's ggml_vec_dot_q4_1_q8_1, the min terms xm*ys
// summed apart (fused) and added after the horizontal sum.
func dotQ41RowGo(w []byte, d, s []float32, qs []int8) float32 {
	var acc [8]float32
	var summ float32
	var v [qk]int32
	qs = qs[:len(d)*qk]
	s = s[:len(d)]
	for b := range d {
		blk := (*[q41B]byte)(w[b*q41B:])
		summ = fma32(half(blk[2:]), s[b], summ)
		blockValues(&v, blk[4:], 0, 0)
		addLanes(&acc, float32(half(blk[0:])*d[b]), &v, (*[qk]int8)(qs[b*qk:]))
	}
	return hsum8(&acc) + summ
}

func dotQ50RowGo(w []byte, d []float32, qs []int8) float32 {
	var acc [8]float32
	var v [qk]int32
	qs = qs[:len(d)*qk]
	for b := range d {
		blk := (*[q50B]byte)(w[b*q50B:])
		blockValues(&v, blk[6:], binary.LittleEndian.Uint32(blk[2:]), -16)
		addLanes(&acc, float32(half(blk[0:])*d[b]), &v, (*[qk]int8)(qs[b*qk:]))
	}
	return hsum8(&acc)
}

func dotQ51RowGo(w []byte, d, s []float32, qs []int8) float32 {
	var acc [8]float32
	var summ float32
	var v [qk]int32
	qs = qs[:len(d)*qk]
	s = s[:len(d)]
	for b := range d {
		blk := (*[q51B]byte)(w[b*q51B:])
		summ = fma32(half(blk[2:]), s[b], summ)
		blockValues(&v, blk[8:], binary.LittleEndian.Uint32(blk[4:]), 0)
		addLanes(&acc, float32(half(blk[0:])*d[b]), &v, (*[qk]int8)(qs[b*qk:]))
	}
	return hsum8(&acc) + summ
}

// dotIQ4NLRowGo: as ggml's AVX2 ggml_vec_dot_iq4_nl_q8_0, even and odd
// blocks in two accumulators summed before the horizontal sum, an odd last
// block added after it.
func dotIQ4NLRowGo(w []byte, d []float32, qs []int8) float32 {
	var acc [2][8]float32
	var v [qk]int32
	qs = qs[:len(d)*qk]
	levels := func(b int) {
		q := w[b*iq4nlB+2 : b*iq4nlB+iq4nlB]
		for j := 0; j < qk/2; j++ {
			v[j], v[j+qk/2] = int32(iq4nlValues[q[j]&0xf]), int32(iq4nlValues[q[j]>>4])
		}
	}
	nb2 := len(d) &^ 1
	for b := 0; b < nb2; b++ {
		levels(b)
		addLanes(&acc[b&1], float32(half(w[b*iq4nlB:])*d[b]), &v, (*[qk]int8)(qs[b*qk:]))
	}
	var sum8 [8]float32
	for i := range sum8 {
		sum8[i] = acc[0][i] + acc[1][i]
	}
	sum := hsum8(&sum8)
	if nb2 < len(d) {
		b := nb2
		levels(b)
		var sumi int32
		for e := 0; e < qk; e++ {
			sumi += v[e] * int32(qs[b*qk+e])
		}
		sum = fma32(float32(half(w[b*iq4nlB:])*d[b]), float32(sumi), sum)
	}
	return sum
}
