package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// q5kParts decodes one block_q5_K from its bytes with the test's own
// reading of ggml's layout, independent of dequantQ5KBlock and scaleMinK4:
//
//	0   f16 d
//	2   f16 dmin
//	4   12 bytes: 6-bit scales sc[0..7] and mins mn[0..7]; for j < 4
//	    sc[j] = b[j]&63, mn[j] = b[j+4]&63, and sc[j+4] = b[j+8]&15 |
//	    (b[j]>>6)<<4, mn[j+4] = b[j+8]>>4 | (b[j+4]>>6)<<4
//	16  qh[32]: bit j of qh[l] is the fifth bit of element 32j+l
//	48  qs[128]: element 32j+l's low four bits are the low nibble of
//	    qs[32*(j/2)+l] for even j, the high nibble for odd j
//
// It returns, per element, the 5-bit value q and the sub-block's scaled
// scale d*sc and scaled min dmin*mn: the element is d*sc*q - dmin*mn.
func q5kParts(blk []byte) (q [256]int, ds, dm [8]float64) {
	d := float64(F16ToF32(binary.LittleEndian.Uint16(blk[0:])))
	dmin := float64(F16ToF32(binary.LittleEndian.Uint16(blk[2:])))
	b := blk[4:16]
	for j := 0; j < 8; j++ {
		var sc, mn byte
		if j < 4 {
			sc, mn = b[j]&63, b[j+4]&63
		} else {
			sc, mn = b[j+4]&15|(b[j-4]>>6)<<4, b[j+4]>>4|(b[j]>>6)<<4
		}
		ds[j], dm[j] = d*float64(sc), dmin*float64(mn)
	}
	for e := 0; e < 256; e++ {
		j, l := e/32, e%32
		nib := blk[48+32*(j/2)+l] & 15
		if j%2 == 1 {
			nib = blk[48+32*(j/2)+l] >> 4
		}
		q[e] = int(nib) | int(blk[16+l]>>j&1)<<4
	}
	return q, ds, dm
}

// q5kBlock builds a block from d, dmin (as f16 bits), scales, mins (6 bits
// each), qh and qs, packing the scales as ggml's Q4_K/Q5_K do.
func q5kBlock(d, dmin uint16, sc, mn [8]byte, qh [32]byte, qs [128]byte) []byte {
	blk := make([]byte, 176)
	binary.LittleEndian.PutUint16(blk[0:], d)
	binary.LittleEndian.PutUint16(blk[2:], dmin)
	for j := 0; j < 4; j++ {
		blk[4+j] = sc[j] | (sc[j+4]>>4)<<6
		blk[8+j] = mn[j] | (mn[j+4]>>4)<<6
		blk[12+j] = sc[j+4]&15 | (mn[j+4]&15)<<4
	}
	copy(blk[16:48], qh[:])
	copy(blk[48:176], qs[:])
	return blk
}

// TestQ5KLayout dequantizes a hand-built block: d = 1, dmin = 0.5, sub-block
// j has scale 7j+5 and min 60-7j (values above 15 exercise the packed high
// bits), qh[l] = 29l+3 and qs[i] = i%16 | ((i/3)%16)<<4.
func TestQ5KLayout(t *testing.T) {
	var sc, mn [8]byte
	for j := range sc {
		sc[j], mn[j] = byte(7*j+5), byte(60-7*j)
	}
	var qh [32]byte
	for l := range qh {
		qh[l] = byte(29*l + 3)
	}
	var qs [128]byte
	for i := range qs {
		qs[i] = byte(i%16) | byte((i/3)%16)<<4
	}
	blk := q5kBlock(0x3c00, 0x3800, sc, mn, qh, qs)
	got, err := Dequantize(Q5_K, blk)
	if err != nil {
		t.Fatalf("Dequantize(Q5_K, 176 bytes): %v", err)
	}
	if len(got) != 256 {
		t.Fatalf("Dequantize(Q5_K, 176 bytes) gave %d values, want 256", len(got))
	}
	// Worked by hand from the layout: element e = 32j+l.
	golden := []struct {
		e    int
		want float32
	}{
		// j=0, l=0: qs[0]=0x00 low 0, qh[0]=3 bit 0 set: q=16; 5*16 - 0.5*60
		{0, 50},
		// j=0, l=1: qs[1]=0x01 low 1, qh[1]=32 bit 0 clear: q=1; 5 - 30
		{1, -25},
		// j=1, l=0: qs[0] high 0, qh[0]=3 bit 1 set: q=16; 12*16 - 0.5*53
		{32, 165.5},
		// j=1, l=5: qs[5]=0x15 high 1, qh[5]=148 bit 1 clear: q=1; 12 - 26.5
		{37, -14.5},
		// j=2, l=3: qs[35]=0xb3 low 3, qh[3]=90 bit 2 clear: q=3; 19*3 - 0.5*46
		{67, 34},
		// j=4, l=31: qs[95]=0xff low 15, qh[31]=134 bit 4 clear: q=15; 33*15 - 0.5*32
		{159, 479},
		// j=5, l=4: qs[68]=0x64 high 6, qh[4]=119 bit 5 set: q=22; 40*22 - 0.5*25
		{164, 867.5},
		// j=7, l=31: qs[127]=0xaf high 10, qh[31]=134 bit 7 set: q=26; 54*26 - 0.5*11
		{255, 1398.5},
	}
	for _, g := range golden {
		if got[g.e] != g.want {
			t.Errorf("Dequantize(Q5_K)[%d] = %g, want %g", g.e, got[g.e], g.want)
		}
	}
	q, ds, dm := q5kParts(blk)
	for e := range got {
		if want := float32(ds[e/32]*float64(q[e]) - dm[e/32]); got[e] != want {
			t.Fatalf("Dequantize(Q5_K)[%d] = %g, want %g (q=%d)", e, got[e], want, q[e])
		}
	}

	// The fifth bit is worth 16 steps: with qh all zero a Q5_K block is the
	// Q4_K block with the same d, dmin, scales and nibbles; with qh all ones
	// every element of sub-block j is 16*d*scale_j higher.
	q4 := make([]byte, 144)
	copy(q4[0:16], blk[0:16])
	copy(q4[16:], blk[48:])
	want4, _ := Dequantize(Q4_K, q4)
	for _, tc := range []struct {
		name string
		qh   byte
	}{{"qh=0x00", 0x00}, {"qh=0xff", 0xff}} {
		var h [32]byte
		for l := range h {
			h[l] = tc.qh
		}
		got, _ := Dequantize(Q5_K, q5kBlock(0x3c00, 0x3800, sc, mn, h, qs))
		for e := range got {
			want := want4[e]
			if tc.qh != 0 {
				want += 16 * float32(sc[e/32])
			}
			if got[e] != want {
				t.Fatalf("%s: Dequantize(Q5_K)[%d] = %g, want %g (Q4_K %g)", tc.name, e, got[e], want, want4[e])
			}
		}
	}

	// Each bit of qh[l] belongs to one sub-block: setting only bit j of every
	// qh byte raises exactly sub-block j by 16*scale_j.
	for j := 0; j < 8; j++ {
		var h [32]byte
		for l := range h {
			h[l] = 1 << j
		}
		got, _ := Dequantize(Q5_K, q5kBlock(0x3c00, 0x3800, sc, mn, h, qs))
		for e := range got {
			want := want4[e]
			if e/32 == j {
				want += 16 * float32(sc[j])
			}
			if got[e] != want {
				t.Fatalf("qh bit %d: Dequantize(Q5_K)[%d] = %g, want %g", j, e, got[e], want)
			}
		}
	}
}

// TestQ5KRoundTrip quantizes varied data and checks each element against
// the bound the quantizer guarantees. With s_j = (hi-lo)/31 the sub-block
// step (its range includes 0), d and dmin the block's stored f16 scales:
// an element inside the 5-bit range is off by at most half the quantized
// step, s_j/2 + d/4 (6-bit scale rounding moves the step by d/2 at most);
// one clamped at 0 or 31, or in a sub-block whose scale rounds to 0, by at
// most 31*d/2 + dmin/2. The values must also be exactly what the block
// bytes say (q5kParts), and Q5_K must beat Q4_K on the same data.
func TestQ5KRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	gauss := func(n int, scale float64) []float32 { return randVec(r, n, scale) }
	uniform := func(n int, lo, hi float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*r.Float64())
		}
		return v
	}
	mixed := func() []float32 {
		// sub-blocks of very different ranges in one super-block
		v := gauss(1024, 1)
		for j := 0; j < 32; j++ {
			s := float32(math.Pow(10, float64(j%8)-4))
			for i := 32 * j; i < 32*j+32; i++ {
				v[i] *= s
			}
		}
		return v
	}
	tests := []struct {
		name   string
		x      []float32
		maxRMS float64 // relative RMS error, 0: not checked
	}{
		{"gaussian", gauss(8192, 1), 0.06},
		{"gaussian-small", gauss(2048, 1e-3), 0.06},
		{"uniform-positive", uniform(2048, 0.5, 2), 0},
		{"uniform-negative", uniform(2048, -3, -1), 0},
		{"mixed-ranges", mixed(), 0},
		{"zeros", make([]float32, 512), 0},
		{"constant", uniform(256, 1, 1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Quantize(Q5_K, tt.x)
			if err != nil {
				t.Fatalf("Quantize(Q5_K, %d values): %v", len(tt.x), err)
			}
			if want := len(tt.x) / 256 * 176; len(data) != want {
				t.Fatalf("Quantize(Q5_K, %d values) = %d bytes, want %d", len(tt.x), len(data), want)
			}
			y, err := Dequantize(Q5_K, data)
			if err != nil {
				t.Fatalf("Dequantize: %v", err)
			}
			var se, sx float64
			for b := 0; b < len(tt.x)/256; b++ {
				blk := data[176*b : 176*b+176]
				d := float64(F16ToF32(binary.LittleEndian.Uint16(blk[0:])))
				dmin := float64(F16ToF32(binary.LittleEndian.Uint16(blk[2:])))
				q, ds, dm := q5kParts(blk)
				for j := 0; j < 8; j++ {
					xs := tt.x[256*b+32*j : 256*b+32*j+32]
					lo, hi := 0.0, 0.0
					for _, v := range xs {
						lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
					}
					s := (hi - lo) / 31
					bound := math.Max(s/2+d/4, 31*d/2+dmin/2)
					bound += 1e-6 * math.Max(hi, -lo) // float32 arithmetic
					for l, v := range xs {
						e := 256*b + 32*j + l
						if want := float32(ds[j]*float64(q[32*j+l]) - dm[j]); y[e] != want {
							t.Fatalf("Dequantize(Q5_K)[%d] = %g, but the block says %g", e, y[e], want)
						}
						err := math.Abs(float64(y[e]) - float64(v))
						if err > bound {
							t.Fatalf("element %d: Q5_K(%g) = %g, error %g > bound %g (s=%g d=%g dmin=%g)", e, v, y[e], err, bound, s, d, dmin)
						}
						se += err * err
						sx += float64(v) * float64(v)
					}
				}
			}
			if sx == 0 {
				if se != 0 {
					t.Fatalf("zeros: RMS error %g, want 0", math.Sqrt(se))
				}
				return
			}
			rms := math.Sqrt(se / sx)
			d4, _ := Quantize(Q4_K, tt.x)
			y4, _ := Dequantize(Q4_K, d4)
			var se4 float64
			for i := range y4 {
				se4 += (float64(y4[i]) - float64(tt.x[i])) * (float64(y4[i]) - float64(tt.x[i]))
			}
			rms4 := math.Sqrt(se4 / sx)
			t.Logf("relative RMS error: Q5_K %.3g, Q4_K %.3g", rms, rms4)
			if tt.maxRMS != 0 && rms > tt.maxRMS {
				t.Errorf("Q5_K relative RMS error %.3g, want <= %.3g", rms, tt.maxRMS)
			}
			// One more bit halves the step; allow for the shared scale error.
			if rms4 > 0 && rms > 0.7*rms4 {
				t.Errorf("Q5_K relative RMS error %.3g, want < 0.7 * Q4_K's %.3g", rms, rms4)
			}
		})
	}
}

// q5kRefDot is the float64 product of Q5_K rows with a prepared Q8_K
// activation: Σ w_i * a_i over the weights the bytes encode (q5kParts) and
// the activation values d*q. mag bounds the magnitude of the float32
// intermediate terms (positive and min parts separately, as the kernels
// accumulate them), which scales their rounding error.
func q5kRefDot(row []byte, a *act) (ref, mag float64) {
	for b := 0; b < len(row)/176; b++ {
		q, ds, dm := q5kParts(row[176*b:])
		for e := 0; e < 256; e++ {
			av := float64(a.d[b]) * float64(a.qs[256*b+e])
			ref += (ds[e/32]*float64(q[e]) - dm[e/32]) * av
			mag += (ds[e/32]*float64(q[e]) + dm[e/32]) * math.Abs(av)
		}
	}
	return ref, mag
}

// q5kTol is the float32 rounding allowance of a product over nb super-blocks:
// a few roundings per block (scales, conversion of the integer sums, the
// difference) plus the running sum.
func q5kTol(nb int, mag float64) float64 { return float64(nb+8) * 0x1p-24 * mag }

// TestQ5KDot holds the Q5_K row kernels, pure Go and the one in use (AVX2 on
// amd64), and MatVec to the float64 product over the dequantized weights and
// the dequantized Q8_K activation, for several (and odd) row counts.
func TestQ5KDot(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, sh := range []shape{{1, 256}, {3, 512}, {7, 768}, {17, 2048}, {33, 4096}, {5, 5632}} {
		t.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(t *testing.T) {
			m, _ := randMatrix(t, r, Q5_K, sh.rows, sh.cols)
			x := randVec(r, sh.cols, 1)
			var a act
			a.prepare(Q5_K, x)
			goOut := make([]float32, sh.rows)
			kOut := make([]float32, sh.rows)
			mvOut := make([]float32, sh.rows)
			matVecRowsGo(goOut, m, &a, 0, sh.rows)
			matVecRows(kOut, m, &a, 0, sh.rows)
			MatVec(mvOut, m, x)
			nb := sh.cols / 256
			for i := 0; i < sh.rows; i++ {
				ref, mag := q5kRefDot(m.RowData(i), &a)
				tol := q5kTol(nb, mag)
				for _, k := range []struct {
					name string
					got  float32
				}{{"dotQ5KRowGo", goOut[i]}, {"row kernel", kOut[i]}, {"MatVec", mvOut[i]}} {
					if d := math.Abs(float64(k.got) - ref); d > tol {
						t.Errorf("%s(row %d) = %g, want %g (diff %g > %g)", k.name, i, k.got, ref, d, tol)
					}
				}
			}
		})
	}
}

// TestQ5KKernelsMatchGo compares the kernels in use (on amd64 with AVX2:
// dotQ5KAVX for MatVec, dotQ5Kx4AVX for MatMul's groups of four vectors)
// with the pure-Go kernel on random data: quantized random weights, and raw
// random bytes (any scales, mins, qh and qs, all 5-bit values) under finite
// f16 d and dmin.
func TestQ5KKernelsMatchGo(t *testing.T) {
	t.Logf("assembly kernels: %v", HasAsm())
	r := rand.New(rand.NewPCG(25, 26))
	rawMatrix := func(rows, cols int) *Matrix {
		data := make([]byte, rows*cols/256*176)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		for b := 0; b < len(data); b += 176 {
			binary.LittleEndian.PutUint16(data[b:], F32ToF16(float32(r.Float64()*0.01)))
			binary.LittleEndian.PutUint16(data[b+2:], F32ToF16(float32(r.Float64()*0.05)))
		}
		m, err := NewMatrix(Q5_K, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, src := range []string{"quantized", "raw"} {
		for _, sh := range []shape{{1, 256}, {3, 512}, {9, 1024}, {31, 2048}} {
			for _, n := range []int{1, 4, 5, 8, 11} {
				t.Run(fmt.Sprintf("%s/%dx%d/n=%d", src, sh.rows, sh.cols, n), func(t *testing.T) {
					var m *Matrix
					if src == "raw" {
						m = rawMatrix(sh.rows, sh.cols)
					} else {
						m, _ = randMatrix(t, r, Q5_K, sh.rows, sh.cols)
					}
					xs := randVec(r, n*sh.cols, 1)
					var bt actBatch
					acts := bt.setup(Q5_K, n, sh.cols)
					for j := range acts {
						acts[j].prepare(Q5_K, xs[j*sh.cols:(j+1)*sh.cols])
					}
					bt.interleave(Q5_K, n, sh.cols)
					got := make([]float32, n*sh.rows)
					want := make([]float32, n*sh.rows)
					matMulRows(got, m, &bt, 0, n, 0, sh.rows)
					matMulRowsGo(want, m, &bt, 0, n, 0, sh.rows)
					vgot := make([]float32, sh.rows)
					vwant := make([]float32, sh.rows)
					nb := sh.cols / 256
					for j := 0; j < n; j++ {
						matVecRows(vgot, m, &acts[j], 0, sh.rows)
						matVecRowsGo(vwant, m, &acts[j], 0, sh.rows)
						for i := 0; i < sh.rows; i++ {
							_, mag := q5kRefDot(m.RowData(i), &acts[j])
							tol := 2 * q5kTol(nb, mag)
							if d := math.Abs(float64(vgot[i] - vwant[i])); d > tol {
								t.Fatalf("MatVec kernel(row %d, vector %d) = %g, pure Go %g (diff %g > %g)", i, j, vgot[i], vwant[i], d, tol)
							}
							g, w := got[j*sh.rows+i], want[j*sh.rows+i]
							if d := math.Abs(float64(g - w)); d > tol {
								t.Fatalf("MatMul kernel(row %d, vector %d) = %g, pure Go %g (diff %g > %g)", i, j, g, w, d, tol)
							}
						}
					}
				})
			}
		}
	}
}
