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

// dotQ2KRowGo: as ggml's ggml_vec_dot_q2_K_q8_K, per super-block
// xd*yd*Σ scale_i*Σq·y - dmin*yd*Σ min_i*bsum_i.
func dotQ2KRowGo(w []byte, d []float32, qs []int8, bs []int16) float32 {
	var sum float32
	qs = qs[:len(d)*qkK]
	bs = bs[:len(d)*16]
	for b := range d {
		blk := (*[q2KB]byte)(w[b*q2KB:])
		y := (*[qkK]int8)(qs[b*qkK:])
		bsum := (*[16]int16)(bs[b*16:])
		var summs, isum int32
		for i := 0; i < 16; i++ {
			summs += int32(bsum[i]) * int32(blk[i]>>4)
		}
		for n := 0; n < 2; n++ {
			q := (*[32]byte)(blk[16+32*n:])
			for j := 0; j < 4; j++ {
				sh := uint(2 * j)
				yy := (*[32]int8)(y[128*n+32*j:])
				var s0, s1 int32
				for l := 0; l < 16; l++ {
					s0 += int32(q[l]>>sh&3) * int32(yy[l])
					s1 += int32(q[l+16]>>sh&3) * int32(yy[l+16])
				}
				is := 8*n + 2*j
				isum += int32(blk[is]&0xf)*s0 + int32(blk[is+1]&0xf)*s1
			}
		}
		dall := d[b] * half(blk[80:])
		dmin := d[b] * half(blk[82:])
		sum += dall*float32(isum) - dmin*float32(summs)
	}
	return sum
}

// dotQ3KRowGo: per super-block xd*yd*Σ (scale_i-32)*Σ value·y, the sums
// exact in integers.
func dotQ3KRowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qkK]
	for b := range d {
		blk := (*[q3KB]byte)(w[b*q3KB:])
		y := (*[qkK]int8)(qs[b*qkK:])
		hmask := (*[32]byte)(blk[0:])
		sc := blk[96:108]
		var isum int32
		for n := 0; n < 2; n++ {
			q := (*[32]byte)(blk[32+32*n:])
			for j := 0; j < 4; j++ {
				sh, hb := uint(2*j), uint(4*n+j)
				yy := (*[32]int8)(y[128*n+32*j:])
				var s0, s1 int32
				for l := 0; l < 16; l++ {
					v0 := int32(q[l]>>sh&3) - 4 + 4*int32(hmask[l]>>hb&1)
					v1 := int32(q[l+16]>>sh&3) - 4 + 4*int32(hmask[l+16]>>hb&1)
					s0 += v0 * int32(yy[l])
					s1 += v1 * int32(yy[l+16])
				}
				is := 8*n + 2*j
				isum += (q3Scale(sc, is)-32)*s0 + (q3Scale(sc, is+1)-32)*s1
			}
		}
		sum += half(blk[108:]) * d[b] * float32(isum)
	}
	return sum
}

// dotIQ4XSRowGo: per super-block xd*yd*Σ (scale_i-32)*Σ level·y.
func dotIQ4XSRowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qkK]
	for b := range d {
		blk := (*[iq4xsB]byte)(w[b*iq4xsB:])
		y := (*[qkK]int8)(qs[b*qkK:])
		var isum int32
		for i := 0; i < 8; i++ {
			q := (*[16]byte)(blk[8+16*i:])
			yy := (*[32]int8)(y[32*i:])
			var s int32
			for j := 0; j < 16; j++ {
				s += int32(iq4nlValues[q[j]&0xf])*int32(yy[j]) + int32(iq4nlValues[q[j]>>4])*int32(yy[j+16])
			}
			isum += (iq4xsScale(blk[:], i) - 32) * s
		}
		sum += half(blk[0:]) * d[b] * float32(isum)
	}
	return sum
}
