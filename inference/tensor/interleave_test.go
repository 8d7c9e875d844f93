package tensor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// interMatrix is a copy of m, interleaved; the test is skipped where the
// CPU has no tile kernels.
func interMatrix(t *testing.T, m *Matrix) *Matrix {
	t.Helper()
	if !useInter {
		t.Skip("CPU without AVX-512 VNNI and BW: matrices stay plain")
	}
	im := &Matrix{Type: m.Type, Rows: m.Rows, Cols: m.Cols, Data: bytes.Clone(m.Data)}
	if !im.Interleave() {
		t.Fatalf("%dx%d: not interleaved", m.Rows, m.Cols)
	}
	if want := m.Rows / interTile * interTile; im.Interleaved() != want {
		t.Fatalf("%d rows interleaved, want %d", im.Interleaved(), want)
	}
	if im.Interleave() {
		t.Fatal("interleaved twice")
	}
	return im
}

// TestInterleaveRows: after Interleave every row reads back as before,
// through RowData and Row, and the other types stay plain.
func TestInterleaveRows(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, sh := range []shape{{16, 32}, {37, 96}, {64, 2048}} {
		m, _ := quantMatrix(t, r, Q4_0, sh.rows, sh.cols)
		im := interMatrix(t, m)
		if bytes.Equal(im.Data, m.Data) {
			t.Fatal("Interleave left the bytes as they were")
		}
		want, got := make([]float32, sh.cols), make([]float32, sh.cols)
		for i := range sh.rows {
			if !bytes.Equal(im.RowData(i), m.RowData(i)) {
				t.Fatalf("%dx%d row %d: RowData differs after Interleave", sh.rows, sh.cols, i)
			}
			m.Row(want, i)
			im.Row(got, i)
			if !slices.Equal(got, want) {
				t.Fatalf("%dx%d row %d: Row differs after Interleave", sh.rows, sh.cols, i)
			}
		}
	}
	q8, _ := quantMatrix(t, r, Q8_0, 32, 64)
	if q8.Interleave() || q8.Interleaved() != 0 {
		t.Fatal("Q8_0 matrix interleaved")
	}
	small, _ := quantMatrix(t, r, Q4_0, 15, 64)
	if small.Interleave() {
		t.Fatal("matrix of fewer rows than a tile interleaved")
	}
}

// TestInterleaveExact holds the tile kernels and the plain-layout kernels
// of the same order (MatVec of the plain matrix) to the Go
// reference, dotQ40Seq, bit for bit (dotRow too: TestSeqDotRow); every product of an interleaved
// matrix (MatVec, MatMul, MatMulBatch, MatMulEach; rows after the tiles
// included) to MatVec's bits for each vector; and the results close to the
// float64 product of the dequantized weights with the quantized
// activation.
func TestInterleaveExact(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, sh := range []shape{{16, 32}, {37, 64}, {67, 96}, {256, 2048}, {48, 2080}} {
		t.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(t *testing.T) {
			m, w := quantMatrix(t, r, Q4_0, sh.rows, sh.cols)
			im := interMatrix(t, m)
			for _, n := range []int{1, 2, 8, 9, 17} {
				x := randVec(r, n*sh.cols, 1)
				one, plain := make([]float32, sh.rows), make([]float32, sh.rows)
				outs := map[string][]float32{}
				for name, f := range map[string]func([]float32, *Matrix, []float32, int){
					"MatMul": MatMul, "MatMulBatch": MatMulBatch, "MatMulEach": MatMulEach,
				} {
					outs[name] = make([]float32, n*sh.rows)
					f(outs[name], im, x, n)
				}
				for j := range n {
					xj := x[j*sh.cols : (j+1)*sh.cols]
					MatVec(one, im, xj)
					MatVec(plain, m, xj)
					var a act
					a.prepare(Q4_0, xj)
					xr := q8Ref(xj)
					for i := range sh.rows {
						// Tiles and plain rows alike: the tile order.
						want := dotQ40Seq(m.RowData(i), &a, 0, 0)
						if math.Float32bits(one[i]) != math.Float32bits(want) || math.Float32bits(plain[i]) != math.Float32bits(want) {
							t.Fatalf("n=%d vector %d row %d: MatVec %g, plain %g, reference %g", n, j, i, one[i], plain[i], want)
						}
						for name, out := range outs {
							if g := out[j*sh.rows+i]; math.Float32bits(g) != math.Float32bits(one[i]) {
								t.Fatalf("%s n=%d vector %d row %d: %g, MatVec %g", name, n, j, i, g, one[i])
							}
						}
						var ref, mag float64
						for k := range sh.cols {
							ref += float64(w[i*sh.cols+k]) * xr[k]
							mag += math.Abs(float64(w[i*sh.cols+k]) * xr[k])
						}
						if d := math.Abs(float64(one[i]) - ref); d > 1e-5*mag {
							t.Fatalf("n=%d vector %d row %d: %g, float64 reference %g", n, j, i, one[i], ref)
						}
					}
				}
			}
		})
	}
}

// TestInterleaveMatVecs: the fused products of MatVecs split interleaved
// matrices on tiles and give MatVec's bits.
func TestInterleaveMatVecs(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	a, _ := quantMatrix(t, r, Q4_0, 2048+16*3+5, 256)
	b, _ := quantMatrix(t, r, Q4_0, 64, 256)
	ia, ib := interMatrix(t, a), interMatrix(t, b)
	x := randVec(r, 256, 1)
	oa, ob := make([]float32, ia.Rows), make([]float32, ib.Rows)
	MatVecs([][]float32{oa, ob}, []*Matrix{ia, ib}, x)
	wa, wb := make([]float32, ia.Rows), make([]float32, ib.Rows)
	MatVec(wa, ia, x)
	MatVec(wb, ib, x)
	if !slices.Equal(oa, wa) || !slices.Equal(ob, wb) {
		t.Fatal("MatVecs differs from MatVec on interleaved matrices")
	}
}
