package tensor

import "encoding/binary"

// The 256-element types besides Q4_K, Q5_K and Q6_K: Q2_K, Q3_K and
// IQ4_XS, whose layouts are ggml's block_q2_K, block_q3_K and block_iq4_xs.
// All three multiply Q8_K activations.
//
// Q2_K and Q3_K share an element order: element 128n + 32j + l (n < 2,
// j < 4, l < 32) takes bits 2j and 2j+1 of qs[32n + l], and belongs to
// 16-element sub-block (128n + 32j + l)/16.

// q2Bits returns the two-bit value of element e from the 64 qs bytes of a
// Q2_K or Q3_K super-block.
func q2Bits(qs []byte, e int) int32 {
	n, j, l := e/128, e%128/32, e%32
	return int32(qs[32*n+l] >> (2 * j) & 3)
}

// dequantQ2KBlock: scales[16] at 0 (low nibble: scale, high nibble: min of
// sub-block i), qs[64] at 16, f16 d at 80, f16 dmin at 82; element e is
// d*scale*q - dmin*min of its sub-block.
func dequantQ2KBlock(y []float32, blk []byte) {
	d, dmin := half(blk[80:]), half(blk[82:])
	qs := blk[16:80]
	for i := 0; i < 16; i++ {
		sc := blk[i]
		dl, ml := d*float32(sc&0xf), dmin*float32(sc>>4)
		for e := 16 * i; e < 16*i+16; e++ {
			y[e] = float32(dl*float32(q2Bits(qs, e))) - ml
		}
	}
}

// q3Scale returns the 6-bit scale of Q3_K sub-block i from its 12 packed
// bytes: the low four bits from the low (i < 8) or high nibble of byte
// i%8, the high two bits from bits 2*(i/4) of byte 8 + i%4.
func q3Scale(sc []byte, i int) int32 {
	lo := sc[i%8] >> (4 * (i / 8)) & 0xf
	hi := sc[8+i%4] >> (2 * (i / 4)) & 3
	return int32(lo | hi<<4)
}

// q3Value returns element e of a Q3_K super-block: its two bits from qs,
// less 4 unless its bit in hmask (bit e/32 of hmask[e%32]) is set.
func q3Value(hmask, qs []byte, e int) int32 {
	q := q2Bits(qs, e)
	if hmask[e%32]>>(e/32)&1 == 0 {
		q -= 4
	}
	return q
}

// dequantQ3KBlock: hmask[32] at 0, qs[64] at 32, 12 packed 6-bit scales at
// 96, f16 d at 108; element e is d*(scale-32)*value of its sub-block.
func dequantQ3KBlock(y []float32, blk []byte) {
	d := half(blk[108:])
	hmask, qs, sc := blk[0:32], blk[32:96], blk[96:108]
	for i := 0; i < 16; i++ {
		dl := d * float32(q3Scale(sc, i)-32)
		for e := 16 * i; e < 16*i+16; e++ {
			y[e] = dl * float32(q3Value(hmask, qs, e))
		}
	}
}

// iq4xsScale returns the 6-bit scale of IQ4_XS sub-block i (32 elements):
// the low four bits from nibble i%2 of scales_l[i/2], the high two from
// bits 2i of scales_h.
func iq4xsScale(blk []byte, i int) int32 {
	h := binary.LittleEndian.Uint16(blk[2:])
	return int32(blk[4+i/2]>>(4*(i%2))&0xf) | int32(h>>(2*i)&3)<<4
}

// dequantIQ4XSBlock: f16 d at 0, scales_h at 2, scales_l[4] at 4, qs[128]
// at 8; sub-block i is IQ4_NL's layout over qs[16i:16i+16] with scale
// d*(scale_i-32).
func dequantIQ4XSBlock(y []float32, blk []byte) {
	d := half(blk[0:])
	for i := 0; i < 8; i++ {
		dl := d * float32(iq4xsScale(blk, i)-32)
		q := blk[8+16*i : 8+16*i+16]
		for j := 0; j < 16; j++ {
			y[32*i+j] = dl * float32(iq4nlValues[q[j]&0xf])
			y[32*i+16+j] = dl * float32(iq4nlValues[q[j]>>4])
		}
	}
}

// The products below follow the assembly (kernels_kquant_low_amd64.s)
// operation for operation, so both give the same bits: per super-block,
// eight int32 lanes, lane i holding elements 4i..4i+3 of every 32-element
// chunk (VPMADDUBSW, VPMADDWD against the chunk's sub-block scales),
// converted to float and added to its own float32 accumulator with one
// fused multiply-add under the super-block's scale; one horizontal sum at
// the end (hsum8).

// chunkLanes adds to lane i the products of elements 4i..4i+3 of a
// 32-element chunk (values v, activation y), times scaleLo for lanes 0-3
// (elements 0..15) and scaleHi for lanes 4-7.
func chunkLanes(lanes *[8]int32, v *[32]int32, y []int8, scaleLo, scaleHi int32) {
	for i := 0; i < 8; i++ {
		p := v[4*i]*int32(y[4*i]) + v[4*i+1]*int32(y[4*i+1]) + v[4*i+2]*int32(y[4*i+2]) + v[4*i+3]*int32(y[4*i+3])
		if i < 4 {
			lanes[i] += scaleLo * p
		} else {
			lanes[i] += scaleHi * p
		}
	}
}

// dotQ2KRowGo: per super-block xd*yd*Σ scale*Σq·y less dmin*yd*Σ min*bsum,
// the min terms in lanes of two sub-blocks (lane i: sub-blocks 2i, 2i+1).
func dotQ2KRowGo(w []byte, d []float32, qs []int8, bs []int16) float32 {
	var acc [8]float32
	qs = qs[:len(d)*qkK]
	bs = bs[:len(d)*16]
	var v [32]int32
	for b := range d {
		blk := (*[q2KB]byte)(w[b*q2KB:])
		y := qs[b*qkK : (b+1)*qkK]
		bsum := bs[b*16 : b*16+16]
		var isum, summ [8]int32
		for i := 0; i < 8; i++ {
			summ[i] = int32(blk[2*i]>>4)*int32(bsum[2*i]) + int32(blk[2*i+1]>>4)*int32(bsum[2*i+1])
		}
		for c := 0; c < 8; c++ {
			q := blk[16+32*(c/4) : 16+32*(c/4)+32]
			sh := uint(2 * (c % 4))
			for l := range v {
				v[l] = int32(q[l] >> sh & 3)
			}
			chunkLanes(&isum, &v, y[32*c:], int32(blk[2*c]&0xf), int32(blk[2*c+1]&0xf))
		}
		dall := float32(half(blk[80:]) * d[b])
		dmin := float32(half(blk[82:]) * d[b])
		for i := range acc {
			acc[i] = fma32(dall, float32(isum[i]), acc[i])
			acc[i] = fma32(-dmin, float32(summ[i]), acc[i])
		}
	}
	return hsum8(&acc)
}

// dotQ3KRowGo: per super-block xd*yd*Σ (scale-32)*Σ value·y. The values are
// taken as value+4 in [0,7]; lane i takes the 4 back out through the sums
// of sub-blocks 2i and 2i+1.
func dotQ3KRowGo(w []byte, d []float32, qs []int8, bs []int16) float32 {
	var acc [8]float32
	qs = qs[:len(d)*qkK]
	bs = bs[:len(d)*16]
	var v [32]int32
	for b := range d {
		blk := (*[q3KB]byte)(w[b*q3KB:])
		y := qs[b*qkK : (b+1)*qkK]
		bsum := bs[b*16 : b*16+16]
		sc := blk[96:108]
		var lanes [8]int32
		for i := 0; i < 8; i++ {
			lanes[i] = -4 * ((q3Scale(sc, 2*i)-32)*int32(bsum[2*i]) + (q3Scale(sc, 2*i+1)-32)*int32(bsum[2*i+1]))
		}
		for c := 0; c < 8; c++ {
			q := blk[32+32*(c/4) : 32+32*(c/4)+32]
			sh := uint(2 * (c % 4))
			for l := range v {
				v[l] = int32(q[l]>>sh&3) + 4*int32(blk[l]>>c&1)
			}
			chunkLanes(&lanes, &v, y[32*c:], q3Scale(sc, 2*c)-32, q3Scale(sc, 2*c+1)-32)
		}
		dd := float32(half(blk[108:]) * d[b])
		for i := range acc {
			acc[i] = fma32(dd, float32(lanes[i]), acc[i])
		}
	}
	return hsum8(&acc)
}

// dotIQ4XSRowGo: per super-block xd*yd*Σ (scale-32)*Σ level·y.
func dotIQ4XSRowGo(w []byte, d []float32, qs []int8) float32 {
	var acc [8]float32
	qs = qs[:len(d)*qkK]
	var v [32]int32
	for b := range d {
		blk := w[b*iq4xsB : (b+1)*iq4xsB]
		y := qs[b*qkK : (b+1)*qkK]
		var lanes [8]int32
		for i := 0; i < 8; i++ {
			q := blk[8+16*i : 8+16*i+16]
			for j := 0; j < 16; j++ {
				v[j], v[j+16] = int32(iq4nlValues[q[j]&0xf]), int32(iq4nlValues[q[j]>>4])
			}
			ls := iq4xsScale(blk, i) - 32
			chunkLanes(&lanes, &v, y[32*i:], ls, ls)
		}
		dd := float32(half(blk[0:]) * d[b])
		for i := range acc {
			acc[i] = fma32(dd, float32(lanes[i]), acc[i])
		}
	}
	return hsum8(&acc)
}
