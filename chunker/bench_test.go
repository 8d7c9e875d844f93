package chunker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// discardStore drops blocks: BenchmarkImport measures the chunker itself
// (`go run ./bench import` measures it with the badger store).
type discardStore struct{}

func (discardStore) Has(context.Context, cid.Cid) (bool, error)    { return false, nil }
func (discardStore) PutMany(context.Context, []blocks.Block) error { return nil }

func vmHWM() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkImport imports an in-memory safetensors file and reports, beside
// MB/s, crypto/sha256's MB/s over the same bytes measured in the same run,
// the ratio, and the process's peak RSS. Sizes: 16 MiB and 64 MiB; set
// CAIRN_BENCH_LARGE=1 to add 1 GiB.
func BenchmarkImport(b *testing.B) {
	sizes := []int{16 << 20, 64 << 20}
	if os.Getenv("CAIRN_BENCH_LARGE") != "" {
		sizes = append(sizes, 1<<30)
	}
	for _, size := range sizes {
		ts := modelTensors(9, 1, 1)
		ts[0].shape = []uint64{uint64(size / 4096), 1024}
		ts[0].data = randBytes(9, size/4096*4096)
		file := buildSafetensors(b, ts, nil)
		for _, strat := range []Strategy{Auto, CDC} {
			b.Run(fmt.Sprintf("%s/%dMiB", strat, size>>20), func(b *testing.B) {
				var shaTime, impTime time.Duration
				for b.Loop() {
					t0 := time.Now()
					sha256.Sum256(file)
					t1 := time.Now()
					if _, err := ImportFile(b.Context(), discardStore{}, bytes.NewReader(file), int64(len(file)), "m.safetensors", Options{Strategy: strat}); err != nil {
						b.Fatal(err)
					}
					shaTime += t1.Sub(t0)
					impTime += time.Since(t1)
				}
				b.ReportMetric(float64(len(file))*float64(b.N)/1e6/impTime.Seconds(), "import-MB/s")
				b.ReportMetric(float64(len(file))*float64(b.N)/1e6/shaTime.Seconds(), "sha256-MB/s")
				b.ReportMetric(shaTime.Seconds()/impTime.Seconds(), "ratio")
				b.ReportMetric(vmHWM(), "peak-RSS-MiB")
			})
		}
	}
}

// BenchmarkDedup prints the new bytes of a fine-tuned copy for the three
// strategies (TestDedupTensorAware asserts the tensor-aware bound).
func BenchmarkDedup(b *testing.B) {
	a, c := dedupPair(b, 30, 700)
	for _, tc := range []struct {
		name string
		opts Options
	}{{"tensor-aware", Options{}}, {"cdc", Options{Strategy: CDC}}, {"fixed-256k", Options{Strategy: Fixed}}} {
		b.Run(tc.name, func(b *testing.B) {
			var frac float64
			for b.Loop() {
				st := newMemStore()
				ImportFile(b.Context(), st, bytes.NewReader(a), int64(len(a)), "a.safetensors", tc.opts)
				res, err := ImportFile(b.Context(), st, bytes.NewReader(c), int64(len(c)), "b.safetensors", tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				frac = 100 * float64(res.NewBytes) / float64(len(c))
			}
			b.ReportMetric(frac, "new-%")
		})
	}
}
