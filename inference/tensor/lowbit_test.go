package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// newTypes are the types llama-quantize writes besides the original ones.
var newTypes = []Type{Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, IQ4_XS}

// testIQ4Levels is ggml's published kvalues_iq4nl table, kept here apart
// from the implementation's copy.
var testIQ4Levels = [16]float64{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func f16At(blk []byte, off int) float64 {
	return float64(F16ToF32(binary.LittleEndian.Uint16(blk[off:])))
}

// refBlock decodes one block of a new type with the test's own reading of
// ggml's layouts (ggml-common.h, dequantize_row_* of ggml-quants.c),
// written independently of the package's decoders:
//
//	Q4_1   d@0 m@2 qs[16]@4: e<16 low nibble of qs[e], else high nibble of qs[e-16]; d*q+m
//	Q5_0   d@0 qh[4]@2 qs[16]@6: q = nibble | bit e of the qh word <<4; d*(q-16)
//	Q5_1   d@0 m@2 qh[4]@4 qs[16]@8: d*q+m
//	IQ4_NL d@0 qs[16]@2: d*levels[nibble]
//	Q2_K   scales[16]@0 qs[64]@16 d@80 dmin@82: q = bits 2*((e%128)/32) of
//	       qs[32*(e/128)+e%32]; sub-block e/16: d*(sc&15)*q - dmin*(sc>>4)
//	Q3_K   hmask[32]@0 qs[64]@32 scales[12]@96 d@108: q as Q2_K, minus 4 when
//	       bit e/32 of hmask[e%32] is clear; scales unpacked with ggml's
//	       kmask words; d*(scale-32)*q
//	IQ4_XS d@0 scales_h@2 scales_l[4]@4 qs[128]@8: sub-block e/32 as IQ4_NL with
//	       d*(scale-32), scale = nibble of scales_l | two bits of scales_h <<4
//
// Each element is returned as a float64 of the values the block holds; the
// additive part (the min terms) separately in add, so tests can bound
// rounding by magnitudes.
func refBlock(t Type, blk []byte) (mul, add []float64) {
	n := t.BlockElems()
	mul, add = make([]float64, n), make([]float64, n)
	nib := func(qs []byte, e int) int {
		if e < 16 {
			return int(qs[e] & 15)
		}
		return int(qs[e-16] >> 4)
	}
	switch t {
	case Q4_1:
		for e := 0; e < n; e++ {
			mul[e], add[e] = f16At(blk, 0)*float64(nib(blk[4:], e)), f16At(blk, 2)
		}
	case Q5_0, Q5_1:
		off, qhOff := 6, 2
		if t == Q5_1 {
			off, qhOff = 8, 4
		}
		qh := binary.LittleEndian.Uint32(blk[qhOff:])
		for e := 0; e < n; e++ {
			q := nib(blk[off:], e) | int(qh>>e&1)<<4
			if t == Q5_0 {
				mul[e] = f16At(blk, 0) * float64(q-16)
			} else {
				mul[e], add[e] = f16At(blk, 0)*float64(q), f16At(blk, 2)
			}
		}
	case IQ4_NL:
		for e := 0; e < n; e++ {
			mul[e] = f16At(blk, 0) * testIQ4Levels[nib(blk[2:], e)]
		}
	case Q2_K, Q3_K:
		qsOff := 16
		if t == Q3_K {
			qsOff = 32
		}
		var sc [16]int
		if t == Q3_K {
			var aux [4]uint32
			for i := range 3 {
				aux[i] = binary.LittleEndian.Uint32(blk[96+4*i:])
			}
			const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
			tmp := aux[2]
			aux[2] = aux[0]>>4&kmask2 | (tmp>>4&kmask1)<<4
			aux[3] = aux[1]>>4&kmask2 | (tmp>>6&kmask1)<<4
			aux[0] = aux[0]&kmask2 | (tmp&kmask1)<<4
			aux[1] = aux[1]&kmask2 | (tmp>>2&kmask1)<<4
			for i := range sc {
				sc[i] = int(aux[i/4]>>(8*(i%4))&0xff) - 32
			}
		}
		for e := 0; e < n; e++ {
			q := int(blk[qsOff+32*(e/128)+e%32]>>(2*((e%128)/32))) & 3
			s := e / 16
			if t == Q2_K {
				mul[e] = f16At(blk, 80) * float64(blk[s]&15) * float64(q)
				add[e] = -f16At(blk, 82) * float64(blk[s]>>4)
				continue
			}
			if blk[e%32]>>(e/32)&1 == 0 {
				q -= 4
			}
			mul[e] = f16At(blk, 108) * float64(sc[s]) * float64(q)
		}
	case IQ4_XS:
		h := binary.LittleEndian.Uint16(blk[2:])
		for e := 0; e < n; e++ {
			ib := e / 32
			ls := int(blk[4+ib/2]>>(4*(ib%2)))&15 | int(h>>(2*ib)&3)<<4
			mul[e] = f16At(blk, 0) * float64(ls-32) * testIQ4Levels[nib(blk[8+16*ib:], e%32)]
		}
	}
	return mul, add
}

// TestNewTypesGolden dequantizes hand-built blocks whose values were worked
// out by hand from ggml's layouts, then checks every element of random
// blocks against refBlock.
func TestNewTypesGolden(t *testing.T) {
	type golden struct {
		e    int
		want float32
	}
	seq := func(n int, f func(i int) byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = f(i)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	le16 := func(v uint16) []byte { return []byte{byte(v), byte(v >> 8)} }
	le32 := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	const one, half2, two = 0x3c00, 0x3800, 0x4000 // f16 1, 0.5, 2
	nibbles := seq(16, func(i int) byte { return byte(i) | byte(15-i)<<4 })
	tests := []struct {
		typ    Type
		blk    []byte
		golden []golden
	}{
		// d=2, m=0.5; element j = 2*j+0.5, element 16+j = 2*(15-j)+0.5
		{Q4_1, cat(le16(two), le16(half2), nibbles), []golden{{0, 0.5}, {3, 6.5}, {15, 30.5}, {16, 30.5}, {31, 0.5}}},
		// d=2, qh=0x80000001: bits 0 and 31; e0: (0|16)-16=0, e1: 1-16, e31: (0|16)-16=0, e16: 15-16
		{Q5_0, cat(le16(two), le32(0x80000001), nibbles), []golden{{0, 0}, {1, -30}, {15, -2}, {16, -2}, {31, 0}}},
		// d=1, m=-1, qh bit 17 (element 17): e17 = (14|16)-1 = 29
		{Q5_1, cat(le16(one), le16(0xbc00), le32(1<<17), nibbles), []golden{{0, -1}, {1, 0}, {17, 29}, {16, 14}, {31, -1}}},
		// d=0.5: element j = levels[j]/2, element 16+j = levels[15-j]/2
		{IQ4_NL, cat(le16(half2), nibbles), []golden{{0, -63.5}, {7, -5}, {8, 0.5}, {15, 56.5}, {16, 56.5}, {31, -63.5}}},
		// scales[i] = i | (15-i)<<4, qs[k] = k (two-bit fields of k), d=1, dmin=0.5.
		// e=0: qs[0]=0 -> q=0, sub 0: 0*0 - 0.5*15 = -7.5
		// e=33: n=0 j=1 l=1: qs[1]>>2&3 = 0, sub 2: -0.5*13 = -6.5
		// e=3: qs[3]=3 -> q=3, sub 0: 0*3 - 7.5 = -7.5
		// e=19: qs[19]=0b10011 -> q=3, sub 1: 1*3 - 7 = -4
		// e=200: n=1 j=2 l=8: qs[40]=0b101000 >>4 &3 = 2, sub 12: 12*2 - 0.5*3 = 22.5
		{Q2_K, cat(seq(16, func(i int) byte { return byte(i) | byte(15-i)<<4 }), seq(64, func(i int) byte { return byte(i) }), le16(one), le16(half2)),
			[]golden{{0, -7.5}, {33, -6.5}, {3, -7.5}, {19, -4}, {200, 22.5}}},
		// hmask all set except hmask[1] (bit 0 clear), qs[k] = k, scales:
		// bytes 0..7 low/high nibbles, bytes 8..11 high bits; all zero but
		// byte 0 = 0x21 (sub 0 low 1, sub 8 low 2) and byte 8 = 0x02 (sub 0
		// high 2 -> 33): sub 0 scale 33-32 = 1, sub 8 scale 2-32 = -30,
		// others -32. d = 1.
		// e=3: q=3, hmask set -> 3*1 = 3; e=1: q=1, hmask[1] bit0 clear -> (1-4)*1 = -3
		// e=128+5 (sub 8): n=1 j=0 l=5: qs[32+5]=37&3=1, hmask[5] bit 4 set -> 1*-30 = -30
		// e=16 (sub 1): qs[16]&3 = 0 -> 0
		// e=50 (sub 3): j=1 l=18: qs[18]>>2&3 = 0 ... qs[18]=18=0b10010 >>2 = 4 &3 = 0 -> 0; e=51: qs[19]>>2&3 = 0
		// e=60 (sub 3): l=28: qs[28]=0b11100 >>2&3 = 3 -> 3*-32 = -96
		{Q3_K, cat(seq(32, func(i int) byte {
			if i == 1 {
				return 0xfe
			}
			return 0xff
		}), seq(64, func(i int) byte { return byte(i) }), seq(12, func(i int) byte {
			switch i {
			case 0:
				return 0x21
			case 8:
				return 0x02
			}
			return 0
		}), le16(one)), []golden{{3, 3}, {1, -3}, {133, -30}, {16, 0}, {60, -96}}},
		// d=1, scales_h=0x8001 (sub 0 high bits 1, sub 7 high bits 2),
		// scales_l = 0x21, 0, 0, 0x40 (sub 0 low 1, sub 1 low 2, sub 7 low 4):
		// sub 0: 17-32 = -15, sub 1: 2-32 = -30, sub 7: 36-32 = 4, others -32.
		// qs of sub i = nibbles: element 32i+j = level[j], 32i+16+j = level[15-j]
		{IQ4_XS, cat(le16(one), le16(0x8001), []byte{0x21, 0, 0, 0x40}, nibbles, nibbles, nibbles, nibbles, nibbles, nibbles, nibbles, nibbles),
			[]golden{{0, 1905}, {8, -15}, {32, 3810}, {47, -3390}, {64, 4064}, {224, -508}, {255, -508}}},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			if len(tt.blk) != tt.typ.BlockBytes() {
				t.Fatalf("test block is %d bytes, want %d", len(tt.blk), tt.typ.BlockBytes())
			}
			got, err := Dequantize(tt.typ, tt.blk)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range tt.golden {
				if got[g.e] != g.want {
					t.Errorf("Dequantize(%v)[%d] = %g, want %g", tt.typ, g.e, got[g.e], g.want)
				}
			}
			mul, add := refBlock(tt.typ, tt.blk)
			for e := range got {
				if want := float32(mul[e] + add[e]); got[e] != want {
					t.Errorf("Dequantize(%v)[%d] = %g, refBlock %g", tt.typ, e, got[e], want)
				}
			}
		})
	}
	r := rand.New(rand.NewPCG(31, 32))
	for _, typ := range newTypes {
		m := rawMatrixOf(r, typ, 3, 4*typ.BlockElems())
		got, err := Dequantize(typ, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		bb, be := typ.BlockBytes(), typ.BlockElems()
		for b := 0; b < len(m.Data)/bb; b++ {
			mul, add := refBlock(typ, m.Data[b*bb:])
			for e := 0; e < be; e++ {
				// ggml rounds the product to float32 before adding the min.
				want := float32(float32(mul[e]) + float32(add[e]))
				if got[b*be+e] != want {
					t.Fatalf("%v: block %d element %d = %g, refBlock %g", typ, b, e, got[b*be+e], want)
				}
			}
		}
	}
}

// rawMatrixOf fills a rows×cols matrix of type t with random bytes, then
// sets each block's f16 scales to small finite values (everything else,
// including the packed sub-block scales and high bits, stays random).
func rawMatrixOf(r *rand.Rand, t Type, rows, cols int) *Matrix {
	bb := t.BlockBytes()
	data := make([]byte, rows*cols/t.BlockElems()*bb)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	put := func(b, off int, v float64) {
		binary.LittleEndian.PutUint16(data[b+off:], F32ToF16(float32(v)))
	}
	for b := 0; b < len(data); b += bb {
		switch t {
		case Q4_1, Q5_1:
			put(b, 0, r.Float64()*0.01)
			put(b, 2, -r.Float64()*0.1)
		case Q5_0, IQ4_NL, IQ4_XS:
			put(b, 0, r.Float64()*0.01)
		case Q2_K:
			put(b, 80, r.Float64()*0.01)
			put(b, 82, r.Float64()*0.01)
		case Q3_K:
			put(b, 108, r.Float64()*0.01)
		}
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

// refDot is the float64 product of a row with a prepared activation: Σ
// w_e·a_e with the weights refBlock reads and the activation values d*q,
// except that the min terms of Q4_1 and Q5_1 use the activation's stored
// s = d*Σq (f16), as ggml's Q8_1 does. mag sums the magnitudes of the
// terms, which bounds the float32 rounding.
func refDot(t Type, row []byte, a *act) (ref, mag float64) {
	bb, be := t.BlockBytes(), t.BlockElems()
	for b := 0; b < len(row)/bb; b++ {
		mul, add := refBlock(t, row[b*bb:])
		var ab float64
		if be == qkK {
			ab = float64(a.d[b])
		}
		for e := 0; e < be; e++ {
			i := b*be + e
			if be == qk {
				ab = float64(a.d[i/qk])
			}
			av := ab * float64(a.qs[i])
			ref += mul[e] * av
			mag += math.Abs(mul[e] * av)
			if t != Q4_1 && t != Q5_1 {
				ref += add[e] * av
				mag += math.Abs(add[e] * av)
			}
		}
		if t == Q4_1 || t == Q5_1 {
			ref += add[0] * float64(a.s[b])
			mag += math.Abs(add[0] * float64(a.s[b]))
		}
	}
	return ref, mag
}

// TestNewTypesDot holds the pure-Go row kernel, the kernel in use (assembly
// where there is one), MatVec and MatMul of each new type to refDot on raw
// random blocks, for several (and odd) shapes and batch sizes.
func TestNewTypesDot(t *testing.T) {
	t.Logf("assembly kernels: %v", HasAsm())
	r := rand.New(rand.NewPCG(33, 34))
	for _, typ := range newTypes {
		be := typ.BlockElems()
		for _, sh := range []shape{{1, be}, {3, 2 * be}, {17, 3 * be}, {9, 8 * be}, {5, 22 * be}} {
			for _, n := range []int{1, 4, 5} {
				t.Run(fmt.Sprintf("%v/%dx%d/n=%d", typ, sh.rows, sh.cols, n), func(t *testing.T) {
					m := rawMatrixOf(r, typ, sh.rows, sh.cols)
					xs := randVec(r, n*sh.cols, 1)
					mm := make([]float32, n*sh.rows)
					MatMul(mm, m, xs, n)
					goOut := make([]float32, sh.rows)
					kOut := make([]float32, sh.rows)
					mvOut := make([]float32, sh.rows)
					tol0 := float64(sh.cols/be+8) * 0x1p-24
					for j := 0; j < n; j++ {
						x := xs[j*sh.cols : (j+1)*sh.cols]
						var a act
						a.prepare(typ, x)
						matVecRowsGo(goOut, m, &a, 0, sh.rows)
						matVecRows(kOut, m, &a, 0, sh.rows)
						MatVec(mvOut, m, x)
						for i := 0; i < sh.rows; i++ {
							ref, mag := refDot(typ, m.RowData(i), &a)
							tol := tol0 * mag
							for _, k := range []struct {
								name string
								got  float32
							}{{"pure Go", goOut[i]}, {"row kernel", kOut[i]}, {"MatVec", mvOut[i]}, {"MatMul", mm[j*sh.rows+i]}} {
								if d := math.Abs(float64(k.got) - ref); d > tol {
									t.Fatalf("%s(row %d, vector %d) = %g, want %g (diff %g > %g)", k.name, i, j, k.got, ref, d, tol)
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestQ81Activation checks the Q8_1 activation of Q4_1/Q5_1 weights
// against ggml's quantize_row_q8_1 on a worked block: x = 0..31 scaled so
// amax = 127/64: d = amax/127 = 1/64, q_i = round(i*127/31), s = d*Σq.
func TestQ81Activation(t *testing.T) {
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i) * (127.0 / 64) / 31
	}
	var a act
	a.prepare(Q4_1, x)
	sum := 0
	for i, q := range a.qs {
		want := int8(math.RoundToEven(float64(float32(x[i]) * (127 / (127.0 / 64)))))
		if q != want {
			t.Fatalf("q[%d] = %d, want %d", i, q, want)
		}
		sum += int(q)
	}
	if a.d[0] != 1.0/64 {
		t.Errorf("d = %g, want 1/64", a.d[0])
	}
	if want := F16ToF32(F32ToF16(float32(sum) / 64)); a.s[0] != want {
		t.Errorf("s = %g, want %g (Σq = %d)", a.s[0], want, sum)
	}
}

// TestNewTypesKernelsBitExact holds the kernel in use (the assembly on
// amd64 with AVX2) to the pure-Go kernel bit for bit: both follow the same
// lane order (that of ggml's AVX2 kernels for the 32-element types), so
// every platform computes what llama.cpp computes on x86.
func TestNewTypesKernelsBitExact(t *testing.T) {
	t.Logf("assembly kernels: %v", HasAsm())
	r := rand.New(rand.NewPCG(35, 36))
	for _, typ := range newTypes {
		be := typ.BlockElems()
		for _, nbk := range []int{1, 2, 3, 7, 8, 28} {
			m := rawMatrixOf(r, typ, 9, nbk*be)
			for rep := 0; rep < 3; rep++ {
				var a act
				a.prepare(typ, randVec(r, nbk*be, math.Pow(10, float64(rep-1))))
				got := make([]float32, m.Rows)
				want := make([]float32, m.Rows)
				matVecRows(got, m, &a, 0, m.Rows)
				matVecRowsGo(want, m, &a, 0, m.Rows)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v, %d blocks, row %d: kernel %g (%#x), pure Go %g (%#x)", typ, nbk, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}
