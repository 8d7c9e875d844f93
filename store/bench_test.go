package store_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/internal/cpu"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// blockSource makes distinct blocks cheaply: the bytes come from one random
// buffer with a counter stamped in, the CID is the sha256 of the counter
// alone. The store never hashes on Put, so this measures the store, not
// sha256 (the chunker hashes once, before Put).
type blockSource struct {
	buf  []byte
	size int
	n    uint64
}

func newBlockSource(size int) *blockSource {
	return &blockSource{buf: storetest.Bytes(42, size+4096), size: size}
}

func (s *blockSource) next() blocks.Block {
	s.n++
	off := int(s.n*8) % 4096
	data := s.buf[off : off+s.size]
	binary.LittleEndian.PutUint64(data, s.n) // distinct content (reused buffer: the store copies)
	var k [8]byte
	binary.LittleEndian.PutUint64(k[:], s.n)
	mh, _ := multihash.Sum(k[:], multihash.SHA2_256, -1)
	b, _ := blocks.NewBlockWithCid(data, cid.NewCidV1(cid.Raw, mh))
	return b
}

// batchBytes is what one PutMany carries: what a chunker worker hands over.
const batchBytes = 16 << 20

// BenchmarkPutMany writes distinct blocks in 16 MiB PutMany batches and
// reports MB/s beside two references over the same number of bytes in the
// same run: a plain file written with os.File.Write (file-MB/s) and one
// crypto/sha256 pass (sha256-MB/s), plus the store's speed as a multiple
// of each, and the CPU time the process spent per GB stored (cpu-s/GB; on
// a shared machine the steadier figure: it is what an import leaves for
// hashing).
func BenchmarkPutMany(b *testing.B) {
	for _, size := range []int{1 << 20, 256 << 10} {
		b.Run(fmt.Sprintf("block=%dKiB", size>>10), func(b *testing.B) {
			s, err := store.Open(store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			src := newBlockSource(size)
			per := batchBytes / size
			batch := make([]blocks.Block, per)
			ctx := context.Background()
			b.SetBytes(int64(per * size))
			syncDisks() // start from a clean page cache, like the references
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				for i := range batch {
					batch[i] = src.next()
				}
				if err := s.PutMany(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := s.Close(); err != nil { // waits for badger's flushes
				b.Fatal(err)
			}
			cpu := (cpuTime() - cpu0).Seconds()
			storeMBs := float64(b.N*per*size) / b.Elapsed().Seconds() / 1e6
			syncDisks()
			fileCPU0 := cpuTime()
			fileMBs := fileWriteMBs(b, src.buf[:size], b.N*per)
			fileCPU := (cpuTime() - fileCPU0).Seconds()
			shaMBs := sha256MBs(src.buf[:size], b.N*per)
			b.ReportMetric(cpu/(float64(b.N*per*size)/1e9), "cpu-s/GB")
			b.ReportMetric(fileCPU/(float64(b.N*per*size)/1e9), "file-cpu-s/GB")
			b.ReportMetric(fileMBs, "file-MB/s")
			b.ReportMetric(shaMBs, "sha256-MB/s")
			b.ReportMetric(storeMBs/fileMBs, "x-file")
			b.ReportMetric(storeMBs/shaMBs, "x-sha256")
		})
	}
}

// fileWriteMBs writes n copies of block to a new file in one process'
// temp dir, the reference for what the disk path can take.
func fileWriteMBs(b *testing.B, block []byte, n int) float64 {
	f, err := os.Create(filepath.Join(b.TempDir(), "ref"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	for range n {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return float64(n*len(block)) / time.Since(start).Seconds() / 1e6
}

func sha256MBs(block []byte, n int) float64 {
	start := time.Now()
	for range n {
		sum := sha256.Sum256(block)
		block[0] ^= sum[0] // keep the compiler from dropping the work
	}
	return float64(n*len(block)) / time.Since(start).Seconds() / 1e6
}

// BenchmarkImportRSS writes 4 GiB (CAIRN_BENCH_IMPORT_MIB overrides) of
// 1 MiB blocks into a new store in one run and reports the process's peak
// resident set (VmHWM) and its resident set at the end, split into
// anonymous memory and mapped files (badger keeps its value log mmapped),
// with the write speed without and with the final Close (which waits for
// the disk). CAIRN_BENCH_VLOG_MIB sets ValueLogFileSize, for comparison.
func BenchmarkImportRSS(b *testing.B) {
	total := 4 << 10 // MiB
	if v := os.Getenv("CAIRN_BENCH_IMPORT_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("CAIRN_BENCH_IMPORT_MIB=%q: %v", v, err)
		}
		total = n
	}
	var vlog int64
	if v := os.Getenv("CAIRN_BENCH_VLOG_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("CAIRN_BENCH_VLOG_MIB=%q: %v", v, err)
		}
		vlog = int64(n) << 20
	}
	for range b.N {
		s, err := store.Open(store.Options{Dir: b.TempDir(), ValueLogFileSize: vlog})
		if err != nil {
			b.Fatal(err)
		}
		src := newBlockSource(1 << 20)
		batch := make([]blocks.Block, 16)
		start := time.Now()
		for written := 0; written < total; written += len(batch) {
			for i := range batch {
				batch[i] = src.next()
			}
			if err := s.PutMany(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		put := time.Since(start)
		st := procStatus(b)
		b.ReportMetric(float64(st["VmHWM"])/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(st["RssAnon"])/1024, "anon-MiB")
		b.ReportMetric(float64(st["RssFile"]+st["RssShmem"])/1024, "file-MiB")
		if err := s.Close(); err != nil { // syncs what is still dirty
			b.Fatal(err)
		}
		b.ReportMetric(float64(total<<20)/put.Seconds()/1e6, "put-MB/s")
		b.ReportMetric(float64(total<<20)/time.Since(start).Seconds()/1e6, "put+close-MB/s")
	}
}

// procStatus reads the kB figures of /proc/self/status.
func procStatus(b *testing.B) map[string]int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// BenchmarkStat measures Stat's key-only scan over 50k value-log blocks
// and reports its cost per block (a 1 TB store of 1 MiB blocks has ~1M).
func BenchmarkStat(b *testing.B) {
	const n = 50_000
	s, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	src := newBlockSource(2 << 10)
	ctx := context.Background()
	batch := make([]blocks.Block, 1000)
	for range n / len(batch) {
		for i := range batch {
			batch[i] = src.next()
		}
		if err := s.PutMany(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		st, err := s.Stat(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Blocks != n {
			b.Fatalf("Stat.Blocks = %d, want %d", st.Blocks, n)
		}
	}
	perBlock := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / n
	b.ReportMetric(perBlock, "ns/block") // = ms per million blocks
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	u, s := cpu.Used()
	return u + s
}
