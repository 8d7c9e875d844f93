package mirror

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/internal/cpu"
	"github.com/cairnhub/cairn/internal/direct"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// benchSize is the repo size of the bundle benchmarks: CAIRN_BENCH_SIZE
// bytes (suffix M or G allowed), default 64 MiB.
func benchSize(b *testing.B) int64 {
	s := os.Getenv("CAIRN_BENCH_SIZE")
	if s == "" {
		return 64 << 20
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'G', 'g':
		mult, s = 1<<30, s[:len(s)-1]
	case 'M', 'm':
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("CAIRN_BENCH_SIZE=%q: want bytes, or a number with M or G", os.Getenv("CAIRN_BENCH_SIZE"))
	}
	return n * mult
}

// benchRepo adds a safetensors model of about size bytes to a new store
// on disk and writes its bundle; it returns the store, the model's
// directory, and the bundle's path and size.
func benchRepo(b *testing.B) (*store.Store, string, string, int64) {
	b.Helper()
	size := benchSize(b)
	mean := int64(1<<20+4096+3<<20+256<<10+96<<10+2<<20+512<<10+1<<20) / 7
	dir := b.TempDir()
	safetensorsFile(b, filepath.Join(dir, "model.safetensors"), tensorSizes(int(size/mean)+1, 2), func(i int) uint64 { return uint64(i) }, nil)
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	addDir(b, st, manifest.Model, "acme/bench", "main", dir)
	path := filepath.Join(b.TempDir(), "bench.car")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	res, err := Export(b.Context(), st, f, []Rev{{manifest.Model, "acme/bench", "main"}}, ExportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	return st, dir, path, res.Bytes
}

// sha256MBps hashes the file once and returns MB/s: the reference.
func sha256MBps(b *testing.B, path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	n, err := io.CopyBuffer(sha256.New(), f, make([]byte, 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / 1e6 / time.Since(start).Seconds()
}

// diskCopyMBps copies the file at path to a new file with direct I/O both
// ways and returns MB/s: what the disk allows a cold export.
func diskCopyMBps(b *testing.B, path string) float64 {
	in, err := direct.Open(path)
	if err != nil {
		b.Skipf("direct I/O: %v", err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(b.TempDir(), "copy"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	syscall.Sync()
	start := time.Now()
	w := direct.NewWriter(out, 0)
	buf := direct.Buf(4 << 20)
	var n int64
	for {
		k, err := in.ReadAt(buf, n)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				b.Fatal(err)
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return float64(n) / 1e6 / time.Since(start).Seconds()
}

func report(b *testing.B, n int64, elapsed time.Duration, ref float64) {
	mbps := float64(n) * float64(b.N) / 1e6 / elapsed.Seconds()
	b.ReportMetric(mbps, "MB/s")
	b.ReportMetric(ref, "sha256-MB/s")
	b.ReportMetric(mbps/ref, "x-sha256")
}

// BenchmarkBundleExport: a bundle of one repo written to a file, beside a
// sha256 pass over the same bytes.
//
// cold: the store just written (block bodies go past the page cache), so
// the export reads the disk while it writes the bundle to the same disk.
// warm: the repo read once through the page cache before (a repo recently
// added, served or verified), as the sha256 reference reads its bytes.
func BenchmarkBundleExport(b *testing.B) {
	st, _, path, n := benchRepo(b)
	ref := sha256MBps(b, path)
	out := filepath.Join(b.TempDir(), "out.car")
	run := func(b *testing.B) {
		var elapsed time.Duration
		b.SetBytes(n)
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			syscall.Sync()
			b.StartTimer()
			start := time.Now()
			if _, err := ExportFile(b.Context(), st, out, []Rev{{manifest.Model, "acme/bench", "main"}}, ExportOptions{}); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.StopTimer()
		report(b, n, elapsed, ref)
	}
	b.Run("cold", func(b *testing.B) {
		run(b)
		// The disk's own figure for the same work: the bundle's bytes read
		// and written past the page cache, on the same disk.
		b.ReportMetric(diskCopyMBps(b, path), "diskcopy-MB/s")
	})
	m, err := st.Resolve(b.Context(), manifest.Model, "acme/bench", "main")
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range m.Files { // through the page cache
		rd, err := chunker.NewReader(b.Context(), st, f.CID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("warm", run)
}

// BenchmarkBundleImport: the bundle imported into an empty store (every
// block verified, every file's sha256 recomputed), beside a sha256 pass
// over the same bytes, and beside cairn add of the same repo into an empty
// store under the same conditions: before each import, untimed for it, an
// add runs the same way (new store, sync(2) first, then timed), so that
// both meet the same page cache, disk and load. System CPU seconds of each
// (getrusage, the whole process) show what the kernel spent placing the
// new bytes in the page cache.
func BenchmarkBundleImport(b *testing.B) {
	_, dir, path, n := benchRepo(b)
	ref := sha256MBps(b, path)
	var elapsed, storeTime, addElapsed time.Duration
	var sys, addSys float64
	var addBytes int64
	b.SetBytes(n)
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		// The add, untimed for the benchmark.
		el, s, m := timedRun(b, func(st *store.Store) *manifest.Manifest {
			return addDir(b, st, manifest.Model, "acme/bench", "main", dir)
		})
		addElapsed += el
		addSys += s
		addBytes += m.TotalSize()

		var res *ImportResult
		el, s, _ = timedRun(b, func(st *store.Store) *manifest.Manifest {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.StartTimer()
			res, err = Import(b.Context(), st, f, ImportOptions{})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			return nil
		})
		elapsed += el
		sys += s
		storeTime += res.StoreTime
		if res.Reread != 0 {
			b.Fatalf("import reread %d files: the streaming digest did not follow", res.Reread)
		}
	}
	report(b, n, elapsed, ref)
	if storeTime > 0 {
		// Store writes, summed over the putters: how much of the import
		// the store's write path took.
		b.ReportMetric(storeTime.Seconds()/elapsed.Seconds(), "store-busy")
	}
	addMBps := float64(addBytes) / 1e6 / addElapsed.Seconds()
	b.ReportMetric(addMBps, "add-MB/s")
	b.ReportMetric(float64(n)*float64(b.N)/1e6/elapsed.Seconds()/addMBps, "x-add")
	b.ReportMetric(sys/float64(b.N), "sys-s/op")
	b.ReportMetric(addSys/float64(b.N), "add-sys-s/op")
}

// timedRun opens a new store, flushes earlier writes (so that their
// writeback does not throttle this run's, as the store's own benchmarks
// do), and times fn on it: wall time and the process's system CPU time.
func timedRun(b *testing.B, fn func(*store.Store) *manifest.Manifest) (time.Duration, float64, *manifest.Manifest) {
	b.Helper()
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	syscall.Sync()
	_, s0 := cpu.Used()
	start := time.Now()
	m := fn(st)
	el := time.Since(start)
	_, s1 := cpu.Used()
	sys := s1 - s0
	return el, sys.Seconds(), m
}
