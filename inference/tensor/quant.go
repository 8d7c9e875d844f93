package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize converts src to type t (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K,
// Q6_K). len(src) must be a multiple of t.BlockElems(). F16/BF16 round to
// nearest even; Q8_0 and Q4_0 follow ggml's reference quantizers
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref) bit for bit. Q4_K, Q5_K and
// Q6_K produce valid ggml blocks with a simpler (min/max) choice of scales
// than ggml's iterative search, so their error is somewhat larger; they are
// meant for tests and generated models, not for publishing quantized weights.
func Quantize(t Type, src []float32) ([]byte, error) {
	n, err := RowBytes(t, len(src))
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	out := make([]byte, n)
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case Q8_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ80Block(out[b*q80B:(b+1)*q80B], src[b*qk:(b+1)*qk])
		}
	case Q4_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ40Block(out[b*q40B:(b+1)*q40B], src[b*qk:(b+1)*qk])
		}
	case Q4_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ4KBlock(out[b*q4KB:(b+1)*q4KB], src[b*qkK:(b+1)*qkK])
		}
	case Q5_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ5KBlock(out[b*q5KB:(b+1)*q5KB], src[b*qkK:(b+1)*qkK])
		}
	case Q6_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ6KBlock(out[b*q6KB:(b+1)*q6KB], src[b*qkK:(b+1)*qkK])
		}
	default:
		return nil, fmt.Errorf("quantize: type %v unsupported", t)
	}
	return out, nil
}

// roundAway rounds half away from zero, as C's roundf.
func roundAway(f float32) float32 { return float32(math.Round(float64(f))) }

// roundEven rounds half to even, as _mm256_round_ps(_MM_ROUND_NEAREST) and
// ggml's nearest_int.
func roundEven(f float32) float32 { return float32(math.RoundToEven(float64(f))) }

func quantQ80Block(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	for j, v := range x {
		dst[2+j] = byte(int8(roundAway(v * id)))
	}
}

func quantQ40Block(dst []byte, x []float32) {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, mx = a, v
		}
	}
	d := mx / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	for j := 0; j < qk/2; j++ {
		x0 := int8(float32(x[j]*id) + 8.5) // C's truncating conversion
		x1 := int8(float32(x[j+qk/2]*id) + 8.5)
		dst[2+j] = byte(min(15, x0)) | byte(min(15, x1))<<4
	}
}

func quantQ4KBlock(dst []byte, x []float32) {
	q := quantKScaleMin(dst, x, 15)
	qs := dst[16:144]
	for c := 0; c < 4; c++ {
		for l := 0; l < 32; l++ {
			qs[32*c+l] = q[64*c+l] | q[64*c+32+l]<<4
		}
	}
}

// quantQ5KBlock fills one block_q5_K (see dequantQ5KBlock) the way
// quantQ4KBlock fills a Q4_K block, with 5-bit values: the low four bits
// as Q4_K's nibbles, the fifth of element 32j+l as bit j of qh[l].
func quantQ5KBlock(dst []byte, x []float32) {
	q := quantKScaleMin(dst, x, 31)
	qh, qs := dst[16:48], dst[48:176]
	clear(qh)
	for j := 0; j < 8; j++ {
		for l := 0; l < 32; l++ {
			qh[l] |= (q[32*j+l] >> 4) << j
		}
	}
	for c := 0; c < 4; c++ {
		for l := 0; l < 32; l++ {
			qs[32*c+l] = q[64*c+l]&0xf | (q[64*c+32+l]&0xf)<<4
		}
	}
}

// quantKScaleMin quantizes one 256-element super-block the Q4_K/Q5_K way:
// each 32-element sub-block gets scale (hi-lo)/top and min -lo (ranges
// include zero, as in ggml), both quantized to 6 bits against the
// super-block's f16 d and dmin, written with the packed scales to
// dst[0:16]; it returns the values round((x+min)/scale) in [0, top].
func quantKScaleMin(dst []byte, x []float32, top float32) (q [qkK]uint8) {
	var scale, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		lo, hi := float32(0), float32(0)
		for _, v := range x[32*j : 32*j+32] {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale[j] = (hi - lo) / top
		mins[j] = -lo
		maxScale, maxMin = max(maxScale, scale[j]), max(maxMin, mins[j])
	}
	dh, mh := F32ToF16(maxScale/63), F32ToF16(maxMin/63)
	d, dmin := f16Table[dh], f16Table[mh]
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		if d > 0 {
			ls[j] = uint8(min(63, max(0, roundAway(scale[j]/d))))
		}
		if dmin > 0 {
			lm[j] = uint8(min(63, max(0, roundAway(mins[j]/dmin))))
		}
	}
	binary.LittleEndian.PutUint16(dst[0:], dh)
	binary.LittleEndian.PutUint16(dst[2:], mh)
	packScalesK4(dst[4:16], &ls, &lm)
	for j := 0; j < 8; j++ {
		s, m := d*float32(ls[j]), dmin*float32(lm[j])
		if s == 0 {
			continue
		}
		for l := 0; l < 32; l++ {
			q[32*j+l] = uint8(min(top, max(0, roundAway((x[32*j+l]+m)/s))))
		}
	}
	return q
}

// packScalesK4 packs eight 6-bit scales and mins into the 12 bytes
// scaleMinK4 unpacks (the layout of Q4_K and Q5_K).
func packScalesK4(sc []byte, ls, lm *[8]uint8) {
	for j := 0; j < 4; j++ {
		sc[j] = ls[j] | (ls[j+4]>>4)<<6
		sc[j+4] = lm[j] | (lm[j+4]>>4)<<6
		sc[j+8] = ls[j+4]&0xf | (lm[j+4]&0xf)<<4
	}
}

func quantQ6KBlock(dst []byte, x []float32) {
	var scale [16]float32
	var maxScale, maxAbs float32
	for k := 0; k < 16; k++ {
		var amax, mx float32
		for _, v := range x[16*k : 16*k+16] {
			if a := abs32(v); a > amax {
				amax, mx = a, v
			}
		}
		scale[k] = mx / -32
		if a := abs32(scale[k]); a > maxAbs {
			maxAbs, maxScale = a, scale[k]
		}
	}
	dh := F32ToF16(maxScale / -128)
	d := f16Table[dh]
	var sc [16]int8
	for k := range sc {
		if d != 0 {
			sc[k] = int8(min(127, max(-128, roundEven(scale[k]/d))))
		}
	}
	var L [qkK]uint8
	for k := 0; k < 16; k++ {
		s := d * float32(sc[k])
		for l := 0; l < 16; l++ {
			q := 0
			if s != 0 {
				q = int(min(31, max(-32, roundEven(x[16*k+l]/s))))
			}
			L[16*k+l] = uint8(q + 32)
		}
	}
	ql, qh := dst[0:128], dst[128:192]
	for n := 0; n < 2; n++ {
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := L[128*n+l], L[128*n+l+32], L[128*n+l+64], L[128*n+l+96]
			ql[64*n+l] = q1&0xf | (q3&0xf)<<4
			ql[64*n+l+32] = q2&0xf | (q4&0xf)<<4
			qh[32*n+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
	for k := range sc {
		dst[192+k] = byte(sc[k])
	}
	binary.LittleEndian.PutUint16(dst[208:], dh)
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// act is an activation vector converted to the vec-dot type of a weight
// type (see the package comment). Buffers are reused across calls.
type act struct {
	f  []float32 // F32/F16/BF16 weights: x, rounded to the weight precision for F16/BF16
	d  []float32 // Q8_0: per-32 scale (f16-rounded); Q8_K: per-256 scale
	qs []int8    // quantized values
	bs []int16   // Q8_K: sums of each 16 quantized values
	c  []float32 // Q4_0: 8*d*sum(qs) per block, for kernels that apply Q4_0's -8 offset per block
	o  []int32   // Q4_0: 8*sum(qs) per block, for the tile order's kernels
	s  []float32 // Q8_1 (Q4_1, Q5_1 weights): d*sum(qs) per block, rounded to f16
	qp []int8    // Q4_0 on amd64: qs of each group of four blocks in quad layout (see prepareQ40)
	h  []uint16  // F16 with f16Halves: f as halves (exactly: f is rounded to halves)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// prepare converts x for a product with weights of type t.
func (a *act) prepare(t Type, x []float32) {
	switch t {
	case F32:
		a.f = grow(a.f, len(x))
		copy(a.f, x)
	case F16:
		a.f = grow(a.f, len(x))
		roundF16Slice(a.f, x)
		if f16Halves {
			a.h = grow(a.h, len(x))
			F32ToF16Slice(a.h, a.f)
		} else {
			a.h = a.h[:0]
		}
	case BF16:
		a.f = grow(a.f, len(x))
		for i, v := range x {
			a.f[i] = roundBF16(v)
		}
	case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL:
		nb := len(x) / qk
		a.d = grow(a.d, nb)
		a.qs = grow(a.qs, len(x))
		quantizeQ8Act(a.d, a.qs, x)
		if t == Q4_1 || t == Q5_1 {
			prepareQ81(a, x)
		}
		if t == Q4_0 {
			a.c = grow(a.c, nb)
			a.o = grow(a.o, nb)
			for b := range a.c {
				s := sumQ(a.qs[b*qk : (b+1)*qk])
				a.c[b] = 8 * a.d[b] * float32(s)
				a.o[b] = 8 * s
			}
			prepareQ40(a)
		}
	case Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, IQ4_XS:
		nb := len(x) / qkK
		a.d = grow(a.d, nb)
		a.qs = grow(a.qs, len(x))
		a.bs = grow(a.bs, nb*16)
		for b := 0; b < nb; b++ {
			quantQ8KBlock(&a.d[b], a.qs[b*qkK:(b+1)*qkK], a.bs[b*16:(b+1)*16], x[b*qkK:(b+1)*qkK])
		}
	default:
		panic("tensor: unsupported type " + t.String())
	}
}

// quantizeQ8ActGo quantizes x to Q8_0 blocks as ggml's AVX2
// quantize_row_q8_0 does: d = amax/127 stored as f16, q = round-to-even
// (x*127/amax). d receives the f16-rounded scales.
func quantizeQ8ActGo(d []float32, qs []int8, x []float32) {
	for b := range d {
		xb := x[b*qk : (b+1)*qk]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		d[b] = roundF16(amax / 127)
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		q := qs[b*qk : (b+1)*qk]
		for j, v := range xb {
			q[j] = int8(roundEven(v * id))
		}
	}
}

// quantQ8KBlock quantizes 256 values as ggml's quantize_row_q8_K_ref: the
// value of largest magnitude maps to -127, d = 1/iscale, sums of 16.
func quantQ8KBlock(d *float32, qs []int8, bs []int16, x []float32) {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax == 0 {
		*d = 0
		clear(qs)
		clear(bs)
		return
	}
	iscale := -127 / mx
	for j, v := range x {
		qs[j] = int8(min(127, roundEven(iscale*v)))
	}
	for k := 0; k < 16; k++ {
		bs[k] = int16(sumQ(qs[16*k : 16*k+16]))
	}
	*d = 1 / iscale
}

// sumQ is the sum of quantized values (Q4_0's offset term is 8 times a
// block's, Q8_K keeps one per 16).
func sumQ(qs []int8) int32 {
	var s int32
	for _, q := range qs {
		s += int32(q)
	}
	return s
}
