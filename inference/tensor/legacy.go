package tensor

import "encoding/binary"

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

// dotQ41RowGo: Σ_b xd*yd*Σ q·y + Σ_b xm*ys (ggml's ggml_vec_dot_q4_1_q8_1,
// the min terms summed apart as its AVX2 kernel does).
func dotQ41RowGo(w []byte, d, s []float32, qs []int8) float32 {
	var sum, summ float32
	qs = qs[:len(d)*qk]
	s = s[:len(d)]
	for b := range d {
		blk := (*[q41B]byte)(w[b*q41B:])
		y := (*[qk]int8)(qs[b*qk:])
		var s0, s1 int32
		for j := 0; j < qk/2; j++ {
			v := blk[4+j]
			s0 += int32(v&0xf) * int32(y[j])
			s1 += int32(v>>4) * int32(y[j+qk/2])
		}
		sum += float32(s0+s1) * (half(blk[0:]) * d[b])
		summ += half(blk[2:]) * s[b]
	}
	return sum + summ
}

func dotQ50RowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qk]
	for b := range d {
		blk := (*[q50B]byte)(w[b*q50B:])
		y := (*[qk]int8)(qs[b*qk:])
		qh := binary.LittleEndian.Uint32(blk[2:])
		var s0, s1 int32
		for j := 0; j < qk/2; j++ {
			h0, h1 := q5High(qh, j)
			v := blk[6+j]
			s0 += (int32(v&0xf|h0) - 16) * int32(y[j])
			s1 += (int32(v>>4|h1) - 16) * int32(y[j+qk/2])
		}
		sum += float32(s0+s1) * (half(blk[0:]) * d[b])
	}
	return sum
}

func dotQ51RowGo(w []byte, d, s []float32, qs []int8) float32 {
	var sum, summ float32
	qs = qs[:len(d)*qk]
	s = s[:len(d)]
	for b := range d {
		blk := (*[q51B]byte)(w[b*q51B:])
		y := (*[qk]int8)(qs[b*qk:])
		qh := binary.LittleEndian.Uint32(blk[4:])
		var s0, s1 int32
		for j := 0; j < qk/2; j++ {
			h0, h1 := q5High(qh, j)
			v := blk[8+j]
			s0 += int32(v&0xf|h0) * int32(y[j])
			s1 += int32(v>>4|h1) * int32(y[j+qk/2])
		}
		sum += float32(s0+s1) * (half(blk[0:]) * d[b])
		summ += half(blk[2:]) * s[b]
	}
	return sum + summ
}

func dotIQ4NLRowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qk]
	for b := range d {
		blk := (*[iq4nlB]byte)(w[b*iq4nlB:])
		y := (*[qk]int8)(qs[b*qk:])
		var s0, s1 int32
		for j := 0; j < qk/2; j++ {
			v := blk[2+j]
			s0 += int32(iq4nlValues[v&0xf]) * int32(y[j])
			s1 += int32(iq4nlValues[v>>4]) * int32(y[j+qk/2])
		}
		sum += float32(s0+s1) * (d[b] * half(blk[0:]))
	}
	return sum
}
