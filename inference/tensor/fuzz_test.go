package tensor

import (
	"math"
	"testing"
)

// FuzzKernels feeds arbitrary bytes as weights of every type: dequantizing
// and multiplying must not panic, and the kernels in use (assembly where
// present) must agree with the pure-Go ones whenever the result is finite.
func FuzzKernels(f *testing.F) {
	f.Add([]byte{0x00, 0x3c, 1, 2, 3, 0xff, 0x80, 0x7f}, uint8(0), uint8(1))
	f.Add(make([]byte, 512), uint8(3), uint8(2))
	seed := make([]byte, 700)
	for i := range seed {
		seed[i] = byte(i * 151)
	}
	f.Add(seed, uint8(5), uint8(3))
	f.Add(seed, uint8(6), uint8(1))
	f.Add(seed, uint8(7), uint8(2)) // Q5_K
	for i := range newTypes {
		f.Add(seed, uint8(len(allTypes)+i), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, ti, rows uint8) {
		types := append(append([]Type(nil), allTypes...), newTypes...)
		typ := types[int(ti)%len(types)]
		r := int(rows%4) + 1
		be, bb := typ.BlockElems(), typ.BlockBytes()
		blocks := len(data) / bb / r
		if blocks == 0 {
			return
		}
		cols := blocks * be
		rb, _ := RowBytes(typ, cols)
		m, err := NewMatrix(typ, r, cols, data[:r*rb])
		if err != nil {
			t.Fatalf("NewMatrix(%v, %d, %d, %d bytes): %v", typ, r, cols, r*rb, err)
		}
		if _, err := NewMatrix(typ, r, cols, data[:r*rb-1]); err == nil {
			t.Fatalf("NewMatrix accepted %d bytes for %d", r*rb-1, r*rb)
		}
		row := make([]float32, cols)
		for i := 0; i < r; i++ {
			m.Row(row, i)
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		var a act
		a.prepare(typ, x)
		got := make([]float32, r)
		want := make([]float32, r)
		matVecRows(got, m, &a, 0, r)
		matVecRowsGo(want, m, &a, 0, r)
		for i := 0; i < r; i++ {
			m.Row(row, i)
			var mag float64
			for j := range row {
				mag += math.Abs(float64(row[j]) * float64(x[j]))
			}
			if math.IsInf(mag, 0) || math.IsNaN(mag) || mag > 1e30 {
				continue // non-finite weights: summation order decides the result
			}
			if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5*mag+1e-30) {
				t.Fatalf("%v row %d of %d cols: kernel %g, pure Go %g", typ, i, cols, got[i], want[i])
			}
		}
		out := make([]float32, r)
		MatVec(out, m, x)

		// MatMul's kernels (four vectors per weight row, two rows at a
		// time for float types) against the pure-Go product.
		const n = 5
		xs := make([]float32, n*cols)
		for i := range xs {
			xs[i] = float32(i%11) - 5
		}
		var bt actBatch
		acts := bt.setup(typ, n, cols)
		for j := range acts {
			acts[j].prepare(typ, xs[j*cols:(j+1)*cols])
		}
		bt.interleave(typ, n, cols)
		gotM := make([]float32, n*r)
		wantM := make([]float32, n*r)
		matMulRows(gotM, m, &bt, 0, n, 0, r)
		matMulRowsGo(wantM, m, &bt, 0, n, 0, r)
		for i := 0; i < r; i++ {
			m.Row(row, i)
			for j := 0; j < n; j++ {
				var mag float64
				for k := range row {
					mag += math.Abs(float64(row[k]) * float64(xs[j*cols+k]))
				}
				if math.IsInf(mag, 0) || math.IsNaN(mag) || mag > 1e30 {
					continue
				}
				g, w := gotM[j*r+i], wantM[j*r+i]
				if d := math.Abs(float64(g - w)); !(d <= 1e-5*mag+1e-30) {
					t.Fatalf("%v MatMul row %d vector %d of %d cols: kernel %g, pure Go %g", typ, i, j, cols, g, w)
				}
			}
		}
	})
}
