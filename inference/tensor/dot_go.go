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
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * x[i]
		s1 += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i+4:])) * x[i+1]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * x[i]
	}
	return s0 + s1
}

func dotF16RowGo(w []byte, x []float32) float32 {
	w = w[:2*len(x)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += f16Table[binary.LittleEndian.Uint16(w[2*i:])] * x[i]
		s1 += f16Table[binary.LittleEndian.Uint16(w[2*i+2:])] * x[i+1]
	}
	for ; i < len(x); i++ {
		s0 += f16Table[binary.LittleEndian.Uint16(w[2*i:])] * x[i]
	}
	return s0 + s1
}

func dotBF16RowGo(w []byte, x []float32) float32 {
	w = w[:2*len(x)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * x[i]
		s1 += BF16ToF32(binary.LittleEndian.Uint16(w[2*i+2:])) * x[i+1]
	}
	for ; i < len(x); i++ {
		s0 += BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * x[i]
	}
	return s0 + s1
}

// dotQ80RowGo: w holds len(d) Q8_0 blocks; (d, qs) the Q8_0 activation.
func dotQ80RowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	for b := range d {
		blk := w[b*q80B : (b+1)*q80B]
		y := qs[b*qk : (b+1)*qk]
		var s int32
		for j := 0; j < qk; j++ {
			s += int32(int8(blk[2+j])) * int32(y[j])
		}
		sum += float32(s) * (f16Table[binary.LittleEndian.Uint16(blk)] * d[b])
	}
	return sum
}

func dotQ40RowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	for b := range d {
		blk := w[b*q40B : (b+1)*q40B]
		y := qs[b*qk : (b+1)*qk]
		var s int32
		for j := 0; j < qk/2; j++ {
			s += (int32(blk[2+j]&0xf) - 8) * int32(y[j])
			s += (int32(blk[2+j]>>4) - 8) * int32(y[j+qk/2])
		}
		sum += float32(s) * (f16Table[binary.LittleEndian.Uint16(blk)] * d[b])
	}
	return sum
}

// dotQ4KRowGo: w holds len(d) Q4_K super-blocks; (d, qs, bs) the Q8_K activation.
func dotQ4KRowGo(w []byte, d []float32, qs []int8, bs []int16) float32 {
	var sum float32
	for b := range d {
		blk := w[b*q4KB : (b+1)*q4KB]
		y := qs[b*qkK : (b+1)*qkK]
		bsum := bs[b*16 : b*16+16]
		scales := blk[4:16]
		q := blk[16:144]
		var sumi, summ int32
		for j := 0; j < 8; j++ {
			sc, m := scaleMinK4(j, scales)
			summ += int32(m) * (int32(bsum[2*j]) + int32(bsum[2*j+1]))
			qq := q[32*(j/2) : 32*(j/2)+32]
			yy := y[32*j : 32*j+32]
			shift := uint(4 * (j & 1))
			var s int32
			for l := 0; l < 32; l++ {
				s += int32((qq[l]>>shift)&0xf) * int32(yy[l])
			}
			sumi += int32(sc) * s
		}
		dd := f16Table[binary.LittleEndian.Uint16(blk[0:])] * d[b]
		dm := f16Table[binary.LittleEndian.Uint16(blk[2:])] * d[b]
		sum += dd*float32(sumi) - dm*float32(summ)
	}
	return sum
}

func dotQ6KRowGo(w []byte, d []float32, qs []int8) float32 {
	var sum float32
	for b := range d {
		blk := w[b*q6KB : (b+1)*q6KB]
		y := qs[b*qkK : (b+1)*qkK]
		var sumi int32
		for n := 0; n < 2; n++ {
			ql := blk[64*n : 64*n+64]
			qh := blk[128+32*n : 128+32*n+32]
			sc := blk[192+8*n : 192+8*n+8]
			yy := y[128*n : 128*n+128]
			var s [8]int32 // per 16-element sub-block
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int32(ql[l]&0xf|(qh[l]&3)<<4) - 32
				q2 := int32(ql[l+32]&0xf|((qh[l]>>2)&3)<<4) - 32
				q3 := int32(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
				q4 := int32(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
				s[is] += q1 * int32(yy[l])
				s[is+2] += q2 * int32(yy[l+32])
				s[is+4] += q3 * int32(yy[l+64])
				s[is+6] += q4 * int32(yy[l+96])
			}
			for k := 0; k < 8; k++ {
				sumi += int32(int8(sc[k])) * s[k]
			}
		}
		sum += f16Table[binary.LittleEndian.Uint16(blk[208:])] * d[b] * float32(sumi)
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
	case Q6_K:
		return dotQ6KRowGo(w, a.d, a.qs)
	}
	panic("tensor: unsupported type " + t.String())
}
