//go:build amd64 && !purego

package tensor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSeqDotRow: where the CPU has the tile kernels, a lone Q4_0 row
// (dotRow) is computed in their order too, whole groups of four blocks, a
// remainder and fewer than four blocks alike.
func TestSeqDotRow(t *testing.T) {
	if !useInter {
		t.Skip("CPU without the tile kernels")
	}
	r := rand.New(rand.NewPCG(27, 28))
	for _, cols := range []int{32, 96, 128, 2080} {
		m, _ := quantMatrix(t, r, Q4_0, 5, cols)
		var a act
		a.prepare(Q4_0, randVec(r, cols, 1))
		for i := range m.Rows {
			got, want := dotRow(Q4_0, m.RowData(i), &a), dotQ40Seq(m.RowData(i), &a, 0, 0)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("cols=%d row %d: dotRow %g, reference %g", cols, i, got, want)
			}
		}
	}
}

// BenchmarkInterLanes measures one core's product of eight vectors with
// weights streamed from memory (TinyLlama's FFN shapes, copies larger than
// the caches) through the tile kernel beside, in the same run, the lane
// kernels of plain rows (tile order "seq" and pair order "pair"), in CPU
// nanoseconds per block and vector.
func BenchmarkInterLanes(b *testing.B) {
	if !useInter {
		b.Skip("CPU without the tile kernels")
	}
	for _, sh := range []shape{{5632, 2048}, {2048, 5632}} {
		ms := benchMatrices(b, Q4_0, sh.rows, sh.cols)
		var is []*Matrix
		for _, m := range ms {
			im := &Matrix{Type: Q4_0, Rows: m.Rows, Cols: m.Cols, Data: bytes.Clone(m.Data)}
			im.Interleave()
			is = append(is, im)
		}
		nb := sh.cols / qk
		x := randVec(rand.New(rand.NewPCG(2, 2)), laneW*sh.cols, 1)
		out := make([]float32, interLaneTiles*laneW*interTile)
		var ip interPack
		ip.pack(x, laneW, sh.cols)
		report := func(b *testing.B, cpu0 time.Duration) {
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*sh.rows*nb*laneW), "cpu-ns/block-vec")
		}
		b.Run(fmt.Sprintf("%dx%d/inter", sh.rows, sh.cols), func(b *testing.B) {
			cpu0, i := processCPU(), 0
			for b.Loop() {
				m := is[i%len(is)]
				i++
				rb := m.rowBytes()
				for t := 0; t < m.Rows/interTile; t += interLaneTiles {
					q40InterLanes(&m.Data[t*interTile*rb], interLaneTiles, &ip.x[0], &ip.d[0], &ip.o[0], nb, &out[0])
				}
			}
			report(b, cpu0)
		})
		for _, ks := range []kernelSet{{true, true}, {true, false}} {
			restore := ks.use()
			kern := laneKernel(Q4_0)
			var p lanePack
			p.pack(x, laneW, sh.cols)
			restore()
			name := map[bool]string{true: "seq", false: "pair"}[ks.inter]
			b.Run(fmt.Sprintf("%dx%d/%s", sh.rows, sh.cols, name), func(b *testing.B) {
				cpu0, i := processCPU(), 0
				for b.Loop() {
					m := ms[i%len(ms)]
					i++
					for r := 0; r < m.Rows; r += laneRows {
						kern(m.Data[r*m.rowBytes():], m.rowBytes(), laneRows, &p, 0, nb, out)
					}
				}
				report(b, cpu0)
			})
		}
	}
}
