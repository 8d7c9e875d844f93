package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMatVecs checks that one fused call gives each matrix exactly what
// MatVec gives it alone, with shared and distinct weight types.
func TestMatVecs(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const cols = 512
	for _, types := range [][]Type{{Q4_0, Q4_0, Q4_0}, {Q4_K, Q6_K, Q4_K}, {F16, Q8_0}, {Q8_0, F32, Q4_0, Q6_K}} {
		t.Run(fmt.Sprint(types), func(t *testing.T) {
			ms := make([]*Matrix, len(types))
			outs := make([][]float32, len(types))
			for i, typ := range types {
				ms[i], _ = randMatrix(t, r, typ, 37+300*i, cols)
				outs[i] = make([]float32, ms[i].Rows)
			}
			x := randVec(r, cols, 1)
			MatVecs(outs, ms, x)
			for i, m := range ms {
				want := make([]float32, m.Rows)
				MatVec(want, m, x)
				for k := range want {
					if outs[i][k] != want[k] {
						t.Fatalf("matrix %d (%v) row %d: MatVecs %g, MatVec %g", i, m.Type, k, outs[i][k], want[k])
					}
				}
			}
		})
	}
}
