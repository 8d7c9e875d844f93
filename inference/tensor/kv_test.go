package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// f32 builds a float32 from its bits.
func f32(b uint32) float32 { return math.Float32frombits(b) }

// halfGolden are conversions checked by hand against IEEE 754 binary16 with
// round-to-nearest-even (what vcvtps2ph with immediate 0 and ggml's
// GGML_FP32_TO_FP16 produce).
var halfGolden = []struct {
	name string
	f    float32
	want uint16
}{
	{"zero", 0, 0x0000},
	{"negative zero", f32(0x80000000), 0x8000},
	{"one", 1, 0x3c00},
	{"minus two", -2, 0xc000},
	{"third", 1.0 / 3, 0x3555},
	{"max half", 65504, 0x7bff},
	{"below max half tie", 65519.996, 0x7bff},
	{"overflow tie to inf", 65520, 0x7c00},
	{"overflow", 1e6, 0x7c00},
	{"negative overflow", -1e30, 0xfc00},
	{"float32 max", math.MaxFloat32, 0x7c00},
	{"inf", float32(math.Inf(1)), 0x7c00},
	{"minus inf", float32(math.Inf(-1)), 0xfc00},
	{"quiet NaN", f32(0x7fc00000), 0x7e00},
	{"negative NaN", f32(0xffc00000), 0xfe00},
	{"signalling NaN is quieted", f32(0x7f800001), 0x7e00},
	{"NaN payload kept", f32(0x7fffe000), 0x7fff},
	{"tie, even stays", 1 + 1.0/2048, 0x3c00},
	{"tie, odd rounds up", 1 + 3.0/2048, 0x3c02},
	{"above tie rounds up", f32(0x3f801001), 0x3c01},
	{"below tie rounds down", f32(0x3f800fff), 0x3c00},
	{"carry into exponent", f32(0x3fffffff), 0x4000},
	{"smallest normal", 6.103515625e-05, 0x0400},
	{"largest subnormal", 6.097555160522461e-05, 0x03ff},
	{"subnormal near normal rounds down", 6.1e-05, 0x03ff},
	{"subnormal tie rounds up to normal", f32(0x387fe000), 0x0400},
	{"below subnormal tie", f32(0x387fdfff), 0x03ff},
	{"smallest subnormal", 5.960464477539063e-08, 0x0001},
	{"half smallest subnormal ties to zero", 2.9802322387695312e-08, 0x0000},
	{"above half smallest subnormal", f32(0x33000001), 0x0001},
	{"1.5 smallest subnormal ties to even", 8.940696716308594e-08, 0x0002},
	{"2.5 smallest subnormal ties to even", 1.4901161193847656e-07, 0x0002},
	{"negative subnormal", -5.960464477539063e-08, 0x8001},
	{"underflow", 1e-8, 0x0000},
	{"negative underflow", -1e-10, 0x8000},
	{"float32 subnormal", f32(0x00000001), 0x0000},
}

func TestF32ToF16Golden(t *testing.T) {
	for _, tt := range halfGolden {
		t.Run(tt.name, func(t *testing.T) {
			if got := F32ToF16(tt.f); got != tt.want {
				t.Errorf("F32ToF16(%g [%#08x]) = %#04x, want %#04x", tt.f, math.Float32bits(tt.f), got, tt.want)
			}
			// The slice converter, at every position of a vector long
			// enough for the assembly and with a tail.
			for _, n := range []int{1, 8, 19} {
				src := make([]float32, n)
				for i := range src {
					src[i] = tt.f
				}
				dst := make([]uint16, n)
				F32ToF16Slice(dst, src)
				for i, got := range dst {
					if got != tt.want {
						t.Fatalf("F32ToF16Slice(%d × %g)[%d] = %#04x, want %#04x", n, tt.f, i, got, tt.want)
					}
				}
			}
		})
	}
}

func TestF16ToF32Golden(t *testing.T) {
	tests := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.333251953125},
		{0x7bff, 65504}, {0x0400, 6.103515625e-05}, {0x03ff, 6.097555160522461e-05},
		{0x0001, 5.960464477539063e-08}, {0x8001, -5.960464477539063e-08},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		if got := F16ToF32(tt.h); got != tt.want {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", tt.h, got, tt.want)
		}
	}
	if got := F16ToF32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("F16ToF32(0x8000) = %g, want -0", got)
	}
	for _, h := range []uint16{0x7e00, 0x7c01, 0xfe00, 0x7fff} {
		if got := F16ToF32(h); got == got {
			t.Errorf("F16ToF32(%#04x) = %g, want NaN", h, got)
		}
	}
}

// TestF32ToF16SliceMatchesScalar holds the slice converter (assembly where
// present) to F32ToF16 on random bit patterns of every exponent, NaNs and
// float32 subnormals included.
func TestF32ToF16SliceMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 1<<16 + 5
	src := make([]float32, n)
	for i := range src {
		src[i] = f32(r.Uint32())
		if i%4 == 0 { // concentrate on the exponents halves can hold
			src[i] = f32(r.Uint32()&0x807fffff | uint32(127-26+r.IntN(44))<<23)
		}
	}
	dst := make([]uint16, n)
	F32ToF16Slice(dst, src)
	for i, v := range src {
		if want := F32ToF16(v); dst[i] != want {
			t.Fatalf("F32ToF16Slice(...)[%d] of %g [%#08x] = %#04x, want %#04x", i, v, math.Float32bits(v), dst[i], want)
		}
	}
	x := randVec(r, 37, 4)
	got := make([]float32, len(x))
	RoundF16Slice(got, x)
	for i, v := range x {
		if want := F16ToF32(F32ToF16(v)); got[i] != want {
			t.Fatalf("RoundF16Slice(...)[%d] of %g = %g, want %g", i, v, got[i], want)
		}
	}
}

// randHalves returns n halves of normally distributed values with some
// zeros and subnormals, as cached keys and values (never inf or NaN).
func randHalves(r *rand.Rand, n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		switch r.IntN(40) {
		case 0:
			h[i] = uint16(r.IntN(0x400)) | uint16(r.IntN(2))<<15 // subnormal or zero
		default:
			h[i] = F32ToF16(float32(r.NormFloat64() * 2))
		}
	}
	return h
}

// TestF16RowKernels holds DotF16Rows and AddScaledF16Rows (assembly where
// present) to a naive float64 reference, on lengths with and without tails
// and row counts around the four-row blocks.
func TestF16RowKernels(t *testing.T) {
	t.Logf("assembly kernels: %v", HasAsm())
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40, 63, 64, 65, 96, 127, 128, 129, 200} {
		for _, rows := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33} {
			for _, pad := range []int{0, 5} {
				stride := n + pad
				name := fmt.Sprintf("n=%d,rows=%d,stride=%d", n, rows, stride)
				h := randHalves(r, (rows-1)*stride+n) // the last row ends the slice
				x := randVec(r, n, 1)
				out := make([]float32, rows)
				DotF16Rows(out, x, h, stride)
				for j := range out {
					var want, mag float64
					for i := range x {
						p := float64(x[i]) * float64(F16ToF32(h[j*stride+i]))
						want += p
						mag += math.Abs(p)
					}
					if math.Abs(float64(out[j])-want) > 2e-6*mag+1e-30 {
						t.Fatalf("%s: DotF16Rows(...)[%d] = %g, want %g", name, j, out[j], want)
					}
				}

				w := randVec(r, rows, 0.5)
				dst := randVec(r, n, 1)
				want := make([]float64, n)
				mag := make([]float64, n)
				for i := range dst {
					want[i], mag[i] = float64(dst[i]), math.Abs(float64(dst[i]))
					for j := range w {
						p := float64(w[j]) * float64(F16ToF32(h[j*stride+i]))
						want[i] += p
						mag[i] += math.Abs(p)
					}
				}
				AddScaledF16Rows(dst, w, h, stride)
				for i := range dst {
					if math.Abs(float64(dst[i])-want[i]) > 2e-6*mag[i]+1e-30 {
						t.Fatalf("%s: AddScaledF16Rows(...)[%d] = %g, want %g", name, i, dst[i], want[i])
					}
				}
			}
		}
	}
}

// TestF16RowKernelsMatchGo compares the kernels in use with the pure-Go
// ones on a head-sized case (the assembly sums in another order, so the
// bound is relative to the magnitude).
func TestF16RowKernelsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const n, rows, stride = 64, 300, 256
	h := randHalves(r, rows*stride)
	x := randVec(r, n, 1)
	got, want := make([]float32, rows), make([]float32, rows)
	dotF16Rows(got, x, h, stride)
	dotF16RowsGo(want, x, h, stride)
	for j := range got {
		if d := math.Abs(float64(got[j] - want[j])); d > 1e-5*(math.Abs(float64(want[j]))+1) {
			t.Fatalf("dotF16Rows(...)[%d] = %g, pure Go %g", j, got[j], want[j])
		}
	}
	w := randVec(r, rows, 0.01)
	d1, d2 := make([]float32, n), make([]float32, n)
	addScaledF16Rows(d1, w, h, stride)
	addScaledF16RowsGo(d2, w, h, stride)
	for i := range d1 {
		if d := math.Abs(float64(d1[i] - d2[i])); d > 1e-5*(math.Abs(float64(d2[i]))+1) {
			t.Fatalf("addScaledF16Rows(...)[%d] = %g, pure Go %g", i, d1[i], d2[i])
		}
	}
}

func TestF16RowKernelsBounds(t *testing.T) {
	h := make([]uint16, 2*10+8) // three rows of 8, 10 apart
	x := make([]float32, 8)
	tests := []struct {
		name string
		f    func()
		ok   bool
	}{
		{"dot fits", func() { DotF16Rows(make([]float32, 3), x, h, 10) }, true},
		{"dot one row too many", func() { DotF16Rows(make([]float32, 4), x, h, 10) }, false},
		{"dot row too long", func() { DotF16Rows(make([]float32, 3), make([]float32, 9), h, 10) }, false},
		{"dot negative stride", func() { DotF16Rows(make([]float32, 2), x, h, -1) }, false},
		{"dot no rows", func() { DotF16Rows(nil, x, nil, 10) }, true},
		{"axpy fits", func() { AddScaledF16Rows(x, make([]float32, 3), h, 10) }, true},
		{"axpy one row too many", func() { AddScaledF16Rows(x, make([]float32, 4), h, 10) }, false},
		{"convert short dst", func() { F32ToF16Slice(make([]uint16, 7), x) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if p := recover(); (p == nil) != tt.ok {
					t.Errorf("panic = %v, want panic %v", p, !tt.ok)
				}
			}()
			tt.f()
		})
	}
}

// TestF16RowKernelsSplitExact checks that the products and weighted sums
// do not depend on how the rows are split into calls: a row scored alone
// or in a block of four gives the same bits, and a sum over rows taken in
// two calls equals one call's. Attention over a ring buffer of keys and
// values (a wrapped sliding window) makes two calls where a full cache
// makes one, and must give the same logits.
func TestF16RowKernelsSplitExact(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{8, 24, 64, 72, 128, 130, 256} {
		const rows, stride = 23, 300
		h := randHalves(r, rows*stride)
		x := randVec(r, n, 1)
		whole := make([]float32, rows)
		DotF16Rows(whole, x, h, stride)
		for split := 1; split < rows; split++ {
			part := make([]float32, rows)
			DotF16Rows(part[:split], x, h, stride)
			DotF16Rows(part[split:], x, h[split*stride:], stride)
			for j := range whole {
				if math.Float32bits(part[j]) != math.Float32bits(whole[j]) {
					t.Fatalf("n=%d: row %d scored %g after a split at %d, %g in one call", n, j, part[j], split, whole[j])
				}
			}
		}
		w := randVec(r, rows, 0.1)
		one := make([]float32, n)
		AddScaledF16Rows(one, w, h, stride)
		for split := 1; split < rows; split++ {
			two := make([]float32, n)
			AddScaledF16Rows(two, w[:split], h, stride)
			AddScaledF16Rows(two, w[split:], h[split*stride:], stride)
			for i := range one {
				if math.Float32bits(one[i]) != math.Float32bits(two[i]) {
					t.Fatalf("n=%d: column %d sums to %g in two calls split at %d, %g in one", n, i, two[i], split, one[i])
				}
			}
		}
	}
}
