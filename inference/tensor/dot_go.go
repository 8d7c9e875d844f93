package tensor

import (
	"encoding/binary"
	"math"
)

// Pure-Go kernels. They are the reference the assembly is tested against and
// the implementation on every platform without it.

func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * x[i]
	}
}

func roundF16SliceGo(dst, x []float32) {
	for i, v := range x {
		dst[i] = roundF16(v)
	}
}

// dotF32RowGo: w holds len(x) little-endian float32.
func dotF32RowGo(w []byte, x []float32) float32 {
	w = w[:4*len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		ww := (*[16]byte)(w[4*i:])
		xx := (*[4]float32)(x[i:])
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(ww[0:])) * xx[0]
		s1 += math.Float32frombits(binary.LittleEndian.Uint32(ww[4:])) * xx[1]
		s2 += math.Float32frombits(binary.LittleEndian.Uint32(ww[8:])) * xx[2]
		s3 += math.Float32frombits(binary.LittleEndian.Uint32(ww[12:])) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// f16Bits converts a half to float32 bits arithmetically for normal
// numbers, through the table otherwise.
func f16Bits(h uint16) float32 {
	if e := h & 0x7c00; e != 0 && e != 0x7c00 {
		return math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + (127-15)<<23))
	}
	return f16Table[h]
}

func dotF16RowGo(w []byte, x []float32) float32 {
	w = w[:2*len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		ww := (*[8]byte)(w[2*i:])
		xx := (*[4]float32)(x[i:])
		s0 += f16Bits(uint16(ww[0])|uint16(ww[1])<<8) * xx[0]
		s1 += f16Bits(uint16(ww[2])|uint16(ww[3])<<8) * xx[1]
		s2 += f16Bits(uint16(ww[4])|uint16(ww[5])<<8) * xx[2]
		s3 += f16Bits(uint16(ww[6])|uint16(ww[7])<<8) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += f16Table[binary.LittleEndian.Uint16(w[2*i:])] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16RowGo(w []byte, x []float32) float32 {
	w = w[:2*len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		ww := (*[8]byte)(w[2*i:])
		xx := (*[4]float32)(x[i:])
		s0 += math.Float32frombits(uint32(ww[0])<<16|uint32(ww[1])<<24) * xx[0]
		s1 += math.Float32frombits(uint32(ww[2])<<16|uint32(ww[3])<<24) * xx[1]
		s2 += math.Float32frombits(uint32(ww[4])<<16|uint32(ww[5])<<24) * xx[2]
		s3 += math.Float32frombits(uint32(ww[6])<<16|uint32(ww[7])<<24) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotQ80RowGo: w holds len(d) Q8_0 blocks; (d, qs) the Q8_0 activation.
func dotQ80RowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qk]
	for b := range d {
		blk := (*[q80B]byte)(w[b*q80B:])
		y := (*[qk]int8)(qs[b*qk:])
		var s0, s1, s2, s3 int32
		for j := 0; j < qk; j += 4 {
			s0 += int32(int8(blk[2+j])) * int32(y[j])
			s1 += int32(int8(blk[3+j])) * int32(y[j+1])
			s2 += int32(int8(blk[4+j])) * int32(y[j+2])
			s3 += int32(int8(blk[5+j])) * int32(y[j+3])
		}
		sum += float32((s0+s1)+(s2+s3)) * (f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b])
	}
	return sum
}

func dotQ40RowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qk]
	for b := range d {
		blk := (*[q40B]byte)(w[b*q40B:])
		y := (*[qk]int8)(qs[b*qk:])
		var s0, s1, ys int32
		for j := 0; j < qk/2; j++ {
			v := blk[2+j]
			s0 += int32(v&0xf) * int32(y[j])
			s1 += int32(v>>4) * int32(y[j+qk/2])
			ys += int32(y[j]) + int32(y[j+qk/2])
		}
		sum += float32(s0+s1-8*ys) * (f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b])
	}
	return sum
}

// dotQ4KRowGo: w holds len(d) Q4_K super-blocks; (d, qs, bs) the Q8_K activation.
func dotQ4KRowGo(w []byte, d []float32, qs []int8, bs []int16) float32 {
	var sum float32
	qs = qs[:len(d)*qkK]
	bs = bs[:len(d)*16]
	for b := range d {
		blk := (*[q4KB]byte)(w[b*q4KB:])
		y := (*[qkK]int8)(qs[b*qkK:])
		bsum := (*[16]int16)(bs[b*16:])
		scales := blk[4:16]
		var sumi, summ int32
		for c := 0; c < 4; c++ {
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			summ += int32(m1)*(int32(bsum[4*c])+int32(bsum[4*c+1])) + int32(m2)*(int32(bsum[4*c+2])+int32(bsum[4*c+3]))
			q := (*[32]byte)(blk[16+32*c:])
			lo := (*[32]int8)(y[64*c:])
			hi := (*[32]int8)(y[64*c+32:])
			var s1, s2 int32
			for l := 0; l < 32; l++ {
				s1 += int32(q[l]&0xf) * int32(lo[l])
				s2 += int32(q[l]>>4) * int32(hi[l])
			}
			sumi += int32(sc1)*s1 + int32(sc2)*s2
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(sumi) - dm*float32(summ)
	}
	return sum
}

// dotQ5KRowGo: w holds len(d) Q5_K super-blocks; (d, qs, bs) the Q8_K
// activation. As ggml's ggml_vec_dot_q5_K_q8_K: integer sums of the 5-bit
// values times the activation per 32-element sub-block, weighted by the
// sub-block scales; the mins through the activation's sums of 16:
// d*xd*Σ scale_j*Σq·a - dmin*xd*Σ min_j*bsum_j.
func dotQ5KRowGo(w []byte, d []float32, qs []int8, bs []int16) float32 {
	var sum float32
	qs = qs[:len(d)*qkK]
	bs = bs[:len(d)*16]
	for b := range d {
		blk := (*[q5KB]byte)(w[b*q5KB:])
		y := (*[qkK]int8)(qs[b*qkK:])
		bsum := (*[16]int16)(bs[b*16:])
		scales := blk[4:16]
		qh := (*[32]byte)(blk[16:])
		var sumi, summ int32
		for c := 0; c < 4; c++ {
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			summ += int32(m1)*(int32(bsum[4*c])+int32(bsum[4*c+1])) + int32(m2)*(int32(bsum[4*c+2])+int32(bsum[4*c+3]))
			q := (*[32]byte)(blk[48+32*c:])
			lo := (*[32]int8)(y[64*c:])
			hi := (*[32]int8)(y[64*c+32:])
			sh := uint(2 * c)
			var s1, s2 int32
			for l := 0; l < 32; l++ {
				h := qh[l] >> sh
				s1 += int32(q[l]&0xf|(h&1)<<4) * int32(lo[l])
				s2 += int32(q[l]>>4|(h&2)<<3) * int32(hi[l])
			}
			sumi += int32(sc1)*s1 + int32(sc2)*s2
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(sumi) - dm*float32(summ)
	}
	return sum
}

func dotQ6KRowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	qs = qs[:len(d)*qkK]
	for b := range d {
		blk := (*[q6KB]byte)(w[b*q6KB:])
		y := (*[qkK]int8)(qs[b*qkK:])
		var sumi int32
		for n := 0; n < 2; n++ {
			ql := (*[64]byte)(blk[64*n:])
			qh := (*[32]byte)(blk[128+32*n:])
			sc := (*[8]byte)(blk[192+8*n:])
			yy := (*[128]int8)(y[128*n:])
			for h := 0; h < 2; h++ { // 16-element halves of each 32
				var s1, s2, s3, s4 int32
				for l := 16 * h; l < 16*h+16; l++ {
					a, c, hb := ql[l], ql[l+32], qh[l]
					s1 += (int32(a&0xf|(hb&3)<<4) - 32) * int32(yy[l])
					s2 += (int32(c&0xf|(hb>>2&3)<<4) - 32) * int32(yy[l+32])
					s3 += (int32(a>>4|(hb>>4&3)<<4) - 32) * int32(yy[l+64])
					s4 += (int32(c>>4|(hb>>6)<<4) - 32) * int32(yy[l+96])
				}
				sumi += int32(int8(sc[h]))*s1 + int32(int8(sc[h+2]))*s2 + int32(int8(sc[h+4]))*s3 + int32(int8(sc[h+6]))*s4
			}
		}
		sum += f16Table[uint16(blk[208])|uint16(blk[209])<<8] * d[b] * float32(sumi)
	}
	return sum
}

// dotRowGo is the pure-Go product of one weight row of type t with a
// prepared activation.
func dotRowGo(t Type, w []byte, a *act) float32 {
	switch t {
	case F32:
		return dotF32RowGo(w, a.f)
	case F16:
		return dotF16RowGo(w, a.f)
	case BF16:
		return dotBF16RowGo(w, a.f)
	case Q8_0:
		return dotQ80RowGo(w, a.d, a.qs)
	case Q4_0:
		return dotQ40RowGo(w, a.d, a.qs)
	case Q4_K:
		return dotQ4KRowGo(w, a.d, a.qs, a.bs)
	case Q5_K:
		return dotQ5KRowGo(w, a.d, a.qs, a.bs)
	case Q6_K:
		return dotQ6KRowGo(w, a.d, a.qs)
	case Q4_1:
		return dotQ41RowGo(w, a.d, a.s, a.qs)
	case Q5_0:
		return dotQ50RowGo(w, a.d, a.qs)
	case Q5_1:
		return dotQ51RowGo(w, a.d, a.s, a.qs)
	case IQ4_NL:
		return dotIQ4NLRowGo(w, a.d, a.qs)
	case Q2_K:
		return dotQ2KRowGo(w, a.d, a.qs, a.bs)
	case Q3_K:
		return dotQ3KRowGo(w, a.d, a.qs, a.bs)
	case IQ4_XS:
		return dotIQ4XSRowGo(w, a.d, a.qs)
	}
	panic("tensor: unsupported type " + t.String())
}
