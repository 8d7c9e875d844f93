package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

var allTypes = []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q5_K}

func TestTypeInfo(t *testing.T) {
	tests := []struct {
		t            Type
		name         string
		elems, bytes int
	}{
		{F32, "F32", 1, 4}, {F16, "F16", 1, 2}, {BF16, "BF16", 1, 2},
		{Q4_0, "Q4_0", 32, 18}, {Q8_0, "Q8_0", 32, 34}, {Q4_K, "Q4_K", 256, 144}, {Q5_K, "Q5_K", 256, 176}, {Q6_K, "Q6_K", 256, 210},
		{Q4_1, "Q4_1", 32, 20}, {Q5_0, "Q5_0", 32, 22}, {Q5_1, "Q5_1", 32, 24}, {IQ4_NL, "IQ4_NL", 32, 18},
		{Q2_K, "Q2_K", 256, 84}, {Q3_K, "Q3_K", 256, 110}, {IQ4_XS, "IQ4_XS", 256, 136},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.t.BlockElems(); got != tt.elems {
				t.Errorf("BlockElems() = %d, want %d", got, tt.elems)
			}
			if got := tt.t.BlockBytes(); got != tt.bytes {
				t.Errorf("BlockBytes() = %d, want %d", got, tt.bytes)
			}
			if !tt.t.Supported() {
				t.Errorf("Supported() = false, want true")
			}
			if got, err := RowBytes(tt.t, 4*tt.elems); err != nil || got != 4*tt.bytes {
				t.Errorf("RowBytes(%v, %d) = %d, %v, want %d", tt.t, 4*tt.elems, got, err, 4*tt.bytes)
			}
			if tt.elems > 1 {
				if _, err := RowBytes(tt.t, tt.elems+1); err == nil {
					t.Errorf("RowBytes(%v, %d) = nil error, want error", tt.t, tt.elems+1)
				}
			}
		})
	}
	for _, u := range []Type{9, 15, 16, 99} {
		if u.Supported() {
			t.Errorf("%v.Supported() = true, want false", u)
		}
		if _, err := RowBytes(u, 256); err == nil {
			t.Errorf("RowBytes(%v, 256) = nil error, want error", u)
		}
	}
	if got := Type(99).String(); got != "type(99)" {
		t.Errorf("Type(99).String() = %q, want type(99)", got)
	}
}

func TestNewMatrix(t *testing.T) {
	tests := []struct {
		name       string
		t          Type
		rows, cols int
		n          int
		ok         bool
	}{
		{"f32 exact", F32, 3, 5, 60, true},
		{"f32 short", F32, 3, 5, 59, false},
		{"f32 long", F32, 3, 5, 61, false},
		{"q8 exact", Q8_0, 2, 64, 2 * 2 * 34, true},
		{"q8 cols not multiple", Q8_0, 2, 48, 2 * 2 * 34, false},
		{"q4k exact", Q4_K, 3, 256, 3 * 144, true},
		{"q6k short", Q6_K, 3, 256, 3*210 - 1, false},
		{"negative rows", F16, -1, 4, 0, false},
		{"unsupported", Type(16), 1, 256, 66, false},
		{"q4_1 exact", Q4_1, 1, 32, 20, true},
		{"iq4xs short", IQ4_XS, 2, 256, 2*136 - 1, false},
		{"empty", Q4_0, 0, 32, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMatrix(tt.t, tt.rows, tt.cols, make([]byte, tt.n))
			if (err == nil) != tt.ok {
				t.Errorf("NewMatrix(%v, %d, %d, %d bytes) error = %v, want ok=%v", tt.t, tt.rows, tt.cols, tt.n, err, tt.ok)
			}
		})
	}
}

func TestHalf(t *testing.T) {
	// Every finite half survives f16 -> f32 -> f16.
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f { // NaN
			if g := F32ToF16(f); F16ToF32(g) == F16ToF32(g) {
				t.Fatalf("F32ToF16(NaN %#04x) = %#04x, not a NaN", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != uint16(h) {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)=%g) = %#04x, want %#04x", h, f, g, h)
		}
	}
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {1e-8, 0},
		{5.960464477539063e-08, 0x0001},  // smallest subnormal
		{2.9802322387695312e-08, 0x0000}, // half of it: tie to even (0)
		{8.940696716308594e-08, 0x0002},  // 1.5 ulp: tie to even (2)
		{1 + 1.0/2048, 0x3c00},           // tie, even stays
		{1 + 3.0/2048, 0x3c02},           // tie, odd rounds up
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.f); got != tt.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.want)
		}
	}
	bt := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80}, {-1.5, 0xbfc0}, {math.Float32frombits(0x3f808000), 0x3f80}, {math.Float32frombits(0x3f818000), 0x3f82},
	}
	for _, tt := range bt {
		if got := F32ToBF16(tt.f); got != tt.want {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", tt.f, got, tt.want)
		}
	}
}

// randVec returns n values with varied magnitudes, as activations have.
func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
		if r.IntN(50) == 0 {
			v[i] *= 8 // outliers
		}
	}
	return v
}

func TestQuantizeLayout(t *testing.T) {
	// Hand-built blocks, independent of the quantizers.
	q4 := make([]byte, 18)
	binary.LittleEndian.PutUint16(q4, 0x4000) // d = 2
	for j := 0; j < 16; j++ {
		q4[2+j] = byte(j) | byte(15-j)<<4
	}
	got, _ := Dequantize(Q4_0, q4)
	for j := 0; j < 16; j++ {
		if w := float32(2 * (j - 8)); got[j] != w {
			t.Errorf("Q4_0 element %d = %g, want %g", j, got[j], w)
		}
		if w := float32(2 * (15 - j - 8)); got[j+16] != w {
			t.Errorf("Q4_0 element %d = %g, want %g", j+16, got[j+16], w)
		}
	}
	q8 := make([]byte, 34)
	binary.LittleEndian.PutUint16(q8, 0x3800) // d = 0.5
	for j := 0; j < 32; j++ {
		q8[2+j] = byte(int8(j*8 - 128))
	}
	got, _ = Dequantize(Q8_0, q8)
	for j := 0; j < 32; j++ {
		if w := float32(j*8-128) * 0.5; got[j] != w {
			t.Errorf("Q8_0 element %d = %g, want %g", j, got[j], w)
		}
	}
	// Q4_K: scales 6-bit packed; sub-block j has scale 7j+5 and min 60-7j.
	k4 := make([]byte, 144)
	binary.LittleEndian.PutUint16(k4[0:], 0x3c00) // d = 1
	binary.LittleEndian.PutUint16(k4[2:], 0x3800) // dmin = 0.5
	var sc, mn [8]byte
	for j := range sc {
		sc[j], mn[j] = byte(7*j+5), byte(60-7*j)
	}
	for j := 0; j < 4; j++ {
		k4[4+j] = sc[j] | (sc[j+4]>>4)<<6
		k4[8+j] = mn[j] | (mn[j+4]>>4)<<6
		k4[12+j] = sc[j+4]&15 | (mn[j+4]&15)<<4
	}
	for i := 0; i < 128; i++ {
		k4[16+i] = byte(i%16) | byte((i/3)%16)<<4
	}
	got, _ = Dequantize(Q4_K, k4)
	for e := 0; e < 256; e++ {
		j := e / 32           // sub-block
		b := 32*(e/64) + e%32 // byte
		q := k4[16+b] & 15
		if j%2 == 1 {
			q = k4[16+b] >> 4
		}
		if w := float32(sc[j])*float32(q) - 0.5*float32(mn[j]); got[e] != w {
			t.Fatalf("Q4_K element %d = %g, want %g", e, got[e], w)
		}
	}
	// Q6_K: element e = d * scales[e/16] * (6-bit q - 32).
	k6 := make([]byte, 210)
	for i := 0; i < 192; i++ {
		k6[i] = byte(i * 37)
	}
	for k := 0; k < 16; k++ {
		k6[192+k] = byte(int8(k*9 - 70))
	}
	binary.LittleEndian.PutUint16(k6[208:], 0x3400) // d = 0.25
	got, _ = Dequantize(Q6_K, k6)
	for e := 0; e < 256; e++ {
		n, l := e/128, e%128 // half, position in half
		var lo, hi byte
		switch quarter, ll := l/32, l%32; quarter {
		case 0:
			lo, hi = k6[64*n+ll]&15, k6[128+32*n+ll]&3
		case 1:
			lo, hi = k6[64*n+32+ll]&15, (k6[128+32*n+ll]>>2)&3
		case 2:
			lo, hi = k6[64*n+ll]>>4, (k6[128+32*n+ll]>>4)&3
		case 3:
			lo, hi = k6[64*n+32+ll]>>4, (k6[128+32*n+ll]>>6)&3
		}
		q := int(lo|hi<<4) - 32
		if w := 0.25 * float32(int8(k6[192+e/16])) * float32(q); got[e] != w {
			t.Fatalf("Q6_K element %d = %g, want %g", e, got[e], w)
		}
	}
}

func TestQuantizeError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randVec(r, 4096, 1)
	// bound(i, amax) is the allowed |error| of element i whose block's
	// largest magnitude is amax.
	tests := []struct {
		t     Type
		block int
		bound func(v, amax float64) float64
	}{
		{F32, 1, func(v, _ float64) float64 { return 0 }},
		{F16, 1, func(v, _ float64) float64 { return math.Abs(v) * (1.0 / 2048) }},
		{BF16, 1, func(v, _ float64) float64 { return math.Abs(v) * (1.0 / 256) }},
		{Q8_0, 32, func(_, a float64) float64 { return a/254 + a/1024 }},
		{Q4_0, 32, func(_, a float64) float64 { return a/8 + a/1024 }},
		{Q4_K, 32, func(_, a float64) float64 { return 2 * a / 15 }},
		// Q5_K: the larger of half a step (a/31, plus a quarter of d) and
		// the error of a value clamped to 0..31 or of a scale rounded to 0
		// (31*d/2 + dmin/2, at most a/63 + a/126); see TestQ5KRoundTrip.
		{Q5_K, 256, func(_, a float64) float64 { return a/31 + a/63 + a/126 }},
		{Q6_K, 256, func(_, a float64) float64 { return a/64 + a/128 }},
	}
	for _, tt := range tests {
		t.Run(tt.t.String(), func(t *testing.T) {
			data, err := Quantize(tt.t, x)
			if err != nil {
				t.Fatalf("Quantize: %v", err)
			}
			if want, _ := RowBytes(tt.t, len(x)); len(data) != want {
				t.Fatalf("Quantize gave %d bytes, want %d", len(data), want)
			}
			y, err := Dequantize(tt.t, data)
			if err != nil {
				t.Fatalf("Dequantize: %v", err)
			}
			var se, sx float64
			for b := 0; b < len(x); b += tt.block {
				var amax float64
				for _, v := range x[b : b+tt.block] {
					amax = math.Max(amax, math.Abs(float64(v)))
				}
				for i := b; i < b+tt.block; i++ {
					e := math.Abs(float64(y[i]) - float64(x[i]))
					if bd := tt.bound(float64(x[i]), amax); e > bd {
						t.Fatalf("element %d: %g -> %g, error %g > bound %g", i, x[i], y[i], e, bd)
					}
					se += e * e
					sx += float64(x[i]) * float64(x[i])
				}
			}
			t.Logf("%v relative RMS error %.2e", tt.t, math.Sqrt(se/sx))
		})
	}
	if _, err := Quantize(Q8_0, make([]float32, 33)); err == nil {
		t.Errorf("Quantize(Q8_0, 33 values) = nil error, want error")
	}
	if _, err := Quantize(Type(3), make([]float32, 32)); err == nil {
		t.Errorf("Quantize(Q4_1) = nil error, want error")
	}
}

// Q8_0 reference bytes from ggml's quantize_row_q8_0_ref semantics.
func TestQuantizeQ80Exact(t *testing.T) {
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i) - 12.5
	}
	data, _ := Quantize(Q8_0, x)
	d := float32(18.5) / 127
	if got, want := binary.LittleEndian.Uint16(data), F32ToF16(d); got != want {
		t.Errorf("d = %#04x, want %#04x", got, want)
	}
	for i, v := range x {
		if got, want := int8(data[2+i]), int8(math.Round(float64(v*(1/d)))); got != want {
			t.Errorf("q[%d] = %d, want %d", i, got, want)
		}
	}
}

func randMatrix(t testing.TB, r *rand.Rand, typ Type, rows, cols int) (*Matrix, [][]float64) {
	src := randVec(r, rows*cols, 0.5)
	data, err := Quantize(typ, src)
	if err != nil {
		t.Fatalf("Quantize(%v): %v", typ, err)
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatalf("NewMatrix: %v", err)
	}
	w := make([][]float64, rows)
	deq, _ := Dequantize(typ, data)
	for i := range w {
		w[i] = make([]float64, cols)
		for j := range w[i] {
			w[i][j] = float64(deq[i*cols+j])
		}
	}
	return m, w
}

// actValues returns x as the kernels see it after conversion to the
// vec-dot type, in float64.
func actValues(typ Type, x []float32) []float64 {
	var a act
	a.prepare(typ, x)
	out := make([]float64, len(x))
	switch typ {
	case F32, F16, BF16:
		for i := range x {
			out[i] = float64(a.f[i])
		}
	case Q8_0, Q4_0:
		for i := range x {
			out[i] = float64(a.d[i/32]) * float64(a.qs[i])
		}
	default:
		for i := range x {
			out[i] = float64(a.d[i/256]) * float64(a.qs[i])
		}
	}
	return out
}

// actBounds returns, per element, the largest |x - conversion(x)| ggml's
// conversion of x to the vec-dot type of typ may give.
func actBounds(typ Type, x []float32) []float64 {
	blk := map[Type]int{F32: 1, F16: 1, BF16: 1, Q8_0: 32, Q4_0: 32, Q4_K: 256, Q5_K: 256, Q6_K: 256}[typ]
	out := make([]float64, len(x))
	for b := 0; b < len(x); b += blk {
		var amax float64
		for _, v := range x[b : b+blk] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		var bd float64
		switch typ {
		case F32:
		case F16:
			bd = amax / 2048
		case BF16:
			bd = amax / 256
		default:
			bd = amax/254*(1+1.0/1024) + amax/1e6
		}
		for i := b; i < b+blk; i++ {
			out[i] = bd
		}
	}
	return out
}

func checkProduct(t *testing.T, what string, got float32, w []float64, x []float32, xa, xb []float64) {
	t.Helper()
	var ref, mag, exact, qbound float64
	for j := range w {
		ref += w[j] * xa[j]
		mag += math.Abs(w[j] * xa[j])
		exact += w[j] * float64(x[j])
		qbound += math.Abs(w[j]) * xb[j]
	}
	if d := math.Abs(float64(got) - ref); d > 2e-5*mag+1e-30 {
		t.Fatalf("%s = %g, want %g (float64 reference over converted x; diff %g, sum|w*x| %g)", what, got, ref, d, mag)
	}
	if d := math.Abs(float64(got) - exact); d > qbound+2e-5*mag+1e-30 {
		t.Fatalf("%s = %g, exact product %g: diff %g beyond the activation-conversion bound %g", what, got, exact, d, qbound)
	}
}

type shape struct{ rows, cols int }

func shapesFor(typ Type) []shape {
	be := typ.BlockElems()
	if be == 1 {
		return []shape{{1, 1}, {3, 7}, {17, 33}, {67, 130}, {129, 1000}, {5, 2048}}
	}
	if be == 32 {
		return []shape{{1, 32}, {3, 64}, {17, 96}, {67, 160}, {129, 1024}, {5, 2080}}
	}
	return []shape{{1, 256}, {3, 512}, {17, 768}, {67, 256}, {37, 2048}}
}

func TestMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range allTypes {
		for _, sh := range shapesFor(typ) {
			t.Run(fmt.Sprintf("%v/%dx%d", typ, sh.rows, sh.cols), func(t *testing.T) {
				m, w := randMatrix(t, r, typ, sh.rows, sh.cols)
				x := randVec(r, sh.cols, 1)
				xa, xb := actValues(typ, x), actBounds(typ, x)
				out := make([]float32, sh.rows)
				MatVec(out, m, x)
				for i := range out {
					checkProduct(t, fmt.Sprintf("MatVec row %d", i), out[i], w[i], x, xa, xb)
				}
				// Row dequantizes exactly what the product used.
				row := make([]float32, sh.cols+3)
				for _, i := range []int{0, sh.rows / 2, sh.rows - 1} {
					m.Row(row, i)
					for j := 0; j < sh.cols; j++ {
						if float64(row[j]) != w[i][j] {
							t.Fatalf("Row(%d)[%d] = %g, want %g", i, j, row[j], w[i][j])
						}
					}
				}
			})
		}
	}
}

func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range allTypes {
		for _, n := range []int{1, 2, 5, 13, 70} {
			for _, sh := range []shape{shapesFor(typ)[3], {33, 512}} {
				t.Run(fmt.Sprintf("%v/n=%d/%dx%d", typ, n, sh.rows, sh.cols), func(t *testing.T) {
					m, w := randMatrix(t, r, typ, sh.rows, sh.cols)
					x := randVec(r, n*sh.cols, 1)
					out := make([]float32, n*sh.rows)
					MatMul(out, m, x, n)
					for j := 0; j < n; j++ {
						xj := x[j*sh.cols : (j+1)*sh.cols]
						xa, xb := actValues(typ, xj), actBounds(typ, xj)
						for i := 0; i < sh.rows; i++ {
							checkProduct(t, fmt.Sprintf("MatMul vector %d row %d", j, i), out[j*sh.rows+i], w[i], xj, xa, xb)
						}
					}
				})
			}
		}
	}
}

// TestKernelsMatchGo compares the kernels in use (assembly where present)
// with the pure-Go ones.
func TestKernelsMatchGo(t *testing.T) {
	t.Logf("assembly kernels: %v", HasAsm())
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range allTypes {
		for _, sh := range shapesFor(typ) {
			t.Run(fmt.Sprintf("%v/%dx%d", typ, sh.rows, sh.cols), func(t *testing.T) {
				m, w := randMatrix(t, r, typ, sh.rows, sh.cols)
				x := randVec(r, sh.cols, 1)
				var a act
				a.prepare(typ, x)
				got := make([]float32, sh.rows)
				want := make([]float32, sh.rows)
				matVecRows(got, m, &a, 0, sh.rows)
				matVecRowsGo(want, m, &a, 0, sh.rows)
				for i := range got {
					var mag float64
					for j := range w[i] {
						mag += math.Abs(w[i][j] * float64(x[j]))
					}
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*mag+1e-30 {
						t.Fatalf("row %d: kernel %g, pure Go %g", i, got[i], want[i])
					}
				}
			})
		}
	}
	t.Run("activation", func(t *testing.T) {
		for _, n := range []int{32, 64, 2048, 4096} {
			x := randVec(r, n, 3)
			x[5] = 0
			if n > 64 {
				clear(x[64:96]) // an all-zero block
			}
			d1, d2 := make([]float32, n/32), make([]float32, n/32)
			q1, q2 := make([]int8, n), make([]int8, n)
			quantizeQ8Act(d1, q1, x)
			quantizeQ8ActGo(d2, q2, x)
			for i := range d1 {
				if d1[i] != d2[i] {
					t.Fatalf("n=%d scale %d: kernel %g, pure Go %g", n, i, d1[i], d2[i])
				}
			}
			for i := range q1 {
				if q1[i] != q2[i] {
					t.Fatalf("n=%d q[%d]: kernel %d, pure Go %d (x=%g)", n, i, q1[i], q2[i], x[i])
				}
			}
			f1, f2 := make([]float32, n), make([]float32, n)
			roundF16Slice(f1, x)
			roundF16SliceGo(f2, x)
			for i := range f1 {
				if f1[i] != f2[i] {
					t.Fatalf("n=%d roundF16 %g: kernel %g, pure Go %g", n, x[i], f1[i], f2[i])
				}
			}
		}
	})
}

func TestDotAddScaled(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= 80; n++ {
		a, b := randVec(r, n, 1), randVec(r, n+2, 1)
		var ref, mag float64
		for i := range a {
			ref += float64(a[i]) * float64(b[i])
			mag += math.Abs(float64(a[i]) * float64(b[i]))
		}
		if got := Dot(a, b); math.Abs(float64(got)-ref) > 1e-6*mag+1e-30 {
			t.Fatalf("Dot(n=%d) = %g, want %g", n, got, ref)
		}
		dst := randVec(r, n, 1)
		want := make([]float64, n)
		for i := range dst {
			want[i] = float64(dst[i]) + 0.75*float64(b[i])
		}
		AddScaled(dst, 0.75, b)
		for i := range dst {
			if math.Abs(float64(dst[i])-want[i]) > 1e-6*(math.Abs(want[i])+1) {
				t.Fatalf("AddScaled(n=%d)[%d] = %g, want %g", n, i, dst[i], want[i])
			}
		}
	}
}

// TestConcurrent runs products from several goroutines at once: the pool
// must keep their jobs apart.
func TestConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, _ := randMatrix(t, r, Q8_0, 301, 512)
	xs := make([][]float32, 8)
	want := make([][]float32, 8)
	for i := range xs {
		xs[i] = randVec(r, 512, 1)
		want[i] = make([]float32, 301)
		var a act
		a.prepare(Q8_0, xs[i])
		matVecRowsGo(want[i], m, &a, 0, 301)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(xs))
	for i := range xs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, 301)
			for rep := 0; rep < 20; rep++ {
				MatVec(out, m, xs[i])
				for k := range out {
					if d := math.Abs(float64(out[k] - want[i][k])); d > 1e-4*math.Abs(float64(want[i][k]))+1e-4 {
						errs <- fmt.Errorf("goroutine %d rep %d row %d: %g, want %g", i, rep, k, out[k], want[i][k])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
