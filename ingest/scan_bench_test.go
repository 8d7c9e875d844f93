package ingest

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/scan/scantest"
	"github.com/cairnhub/cairn/store"
)

// addScanSize reads CAIRN_BENCH_SIZE (bytes, or with M/MiB or G/GiB);
// default 256 MiB.
func addScanSize(b *testing.B) int64 {
	s := strings.TrimSuffix(strings.TrimSuffix(os.Getenv("CAIRN_BENCH_SIZE"), "iB"), "B")
	if s == "" {
		return 256 << 20
	}
	mul := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mul, s = 1<<30, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mul, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("CAIRN_BENCH_SIZE=%q: want bytes, or a number with M or G", os.Getenv("CAIRN_BENCH_SIZE"))
	}
	return n * mul
}

// BenchmarkAddScan imports a PyTorch checkpoint of CAIRN_BENCH_SIZE
// (default 256 MiB) into a fresh store with and without the gate, in
// alternating order, and reports the throughput ratio (with / without;
// the target is at least 0.9). The scanner reads the zip's directory and
// data.pkl from the file just imported, not the tensor data.
func BenchmarkAddScan(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "repo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	size := addScanSize(b)
	// Pseudo-random tensor data, so that the store deduplicates nothing.
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], 7)
	scantest.WriteCheckpoint(b, filepath.Join(dir, "pytorch_model.bin"), size, rand.NewChaCha8(key))
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644)
	var plain, scanned time.Duration
	var verdict string
	run := func(withGate bool) time.Duration {
		sdir := b.TempDir()
		st, err := store.Open(store.Options{Dir: sdir})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { st.Close(); os.RemoveAll(sdir) }()
		o := AddOptions{Repo: "acme/ckpt"}
		if withGate {
			o.Gate = &gate.Gate{Records: st, Via: "add"}
		}
		t0 := time.Now()
		res, err := Add(b.Context(), st, dir, o)
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if withGate {
			if res.Check.Quarantined() || len(res.Check.Files) != 2 {
				b.Fatalf("verdict %+v", res.Check.Verdict)
			}
			verdict = res.Check.Summary()
		}
		return d
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			plain += run(false)
			scanned += run(true)
		} else {
			scanned += run(true)
			plain += run(false)
		}
		i++
	}
	// The gate's own work on the file, timed alone: what the import with
	// scan adds at most, whatever the load of the machine.
	ckpt := filepath.Join(dir, "pytorch_model.bin")
	f, err := os.Open(ckpt)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	g := &gate.Gate{Records: openStore(b)}
	t0 := time.Now()
	if err := g.Start("model", "acme/ckpt").Scan(b.Context(), "pytorch_model.bin", f, fi.Size()); err != nil {
		b.Fatal(err)
	}
	scanOnly := time.Since(t0)
	ratio := float64(plain) / float64(scanned)
	mb := float64(size) / (1 << 20)
	b.ReportMetric(ratio, "scan/plain-throughput")
	b.ReportMetric(mb/scanned.Seconds()*float64(i), "MiB/s-scanned")
	b.ReportMetric(mb/plain.Seconds()*float64(i), "MiB/s-plain")
	b.ReportMetric(float64(scanOnly.Microseconds()), "scan-alone-µs")
	b.Logf("%d MiB checkpoint, %d runs each: plain %v, with scan %v (%s); throughput ratio %.3f (target >= 0.9); the scan alone %v, %.5f of the plain import",
		size>>20, i, plain/time.Duration(i), scanned/time.Duration(i), verdict, ratio, scanOnly, float64(scanOnly)*float64(i)/float64(plain))
}
