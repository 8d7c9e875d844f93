package fetch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// A test binary started with CAIRN_FETCH_SOURCE_DIR set is a source
// process: it imports CAIRN_FETCH_SOURCE_SIZE synthetic bytes into a
// store in that directory, serves them on 127.0.0.1 over TCP, prints
// "READY peer addr root" and serves until its stdin closes. The memory
// benchmark uses it so that the receiving process holds only the receiver.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CAIRN_FETCH_SOURCE_DIR"); dir != "" {
		if err := runSourceProcess(dir); err != nil {
			fmt.Fprintln(os.Stderr, "source process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runSourceProcess(dir string) error {
	size, err := strconv.ParseInt(os.Getenv("CAIRN_FETCH_SOURCE_SIZE"), 10, 64)
	if err != nil {
		return fmt.Errorf("CAIRN_FETCH_SOURCE_SIZE: %w", err)
	}
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := chunker.ImportFile(context.Background(), st, newSynth(size), size, "data.bin",
		chunker.Options{Strategy: chunker.Fixed, FixedSize: benchLeaf})
	if err != nil {
		return err
	}
	tb := &procTB{}
	defer tb.cleanup()
	src := newSource(tb, nil, st, allowAll, "tcp")
	if tb.err != nil {
		return tb.err
	}
	fmt.Printf("READY %s %s %s\n", src.h.ID(), tcpAddr(tb, src.h), res.CID)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// procTB lets test helpers run outside a test, in the source process.
type procTB struct {
	testing.TB
	err      error
	cleanups []func()
}

func (p *procTB) Helper()                        {}
func (p *procTB) Cleanup(f func())               { p.cleanups = append(p.cleanups, f) }
func (p *procTB) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (p *procTB) Fatal(a ...any)                 { panic(fmt.Sprint(a...)) }
func (p *procTB) cleanup() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
}

// startSourceProcess starts a source process holding size bytes.
func startSourceProcess(b *testing.B, size int64) (peer.ID, ma.Multiaddr, cid.Cid) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CAIRN_FETCH_SOURCE_DIR="+b.TempDir(),
		"CAIRN_FETCH_SOURCE_SIZE="+strconv.FormatInt(size, 10))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("source process: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "READY" {
		b.Fatalf("source process said %q", line)
	}
	id, err := peer.Decode(f[1])
	if err != nil {
		b.Fatal(err)
	}
	addr, err := ma.NewMultiaddr(f[2])
	if err != nil {
		b.Fatal(err)
	}
	root, err := cid.Decode(f[3])
	if err != nil {
		b.Fatal(err)
	}
	return id, addr, root
}

// BenchmarkFetchMemory is the receiver-memory figure: the source runs in
// its own process, so this process's peak heap and RSS are the receiver's
// (host, fetch client and badger store). Run with CAIRN_BENCH_SIZE=4GiB.
func BenchmarkFetchMemory(b *testing.B) {
	size := benchSize(b)
	id, addr, root := startSourceProcess(b, size)
	h := newHost(b, "tcp")
	ctx := context.Background()
	if err := h.Connect(ctx, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}}); err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	var pm *peakMem
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		pm = startPeak()
		b.StartTimer()
		t0 := time.Now()
		stats, err := NewClient(h, st).Fetch(ctx, root, []peer.ID{id}, Options{})
		elapsed += time.Since(t0)
		b.StopTimer()
		pm.done()
		st.Close()
		if err != nil {
			b.Fatalf("Fetch: %v", err)
		}
		if stats.Bytes < size {
			b.Fatalf("Fetch moved %d bytes, want %d", stats.Bytes, size)
		}
		os.RemoveAll(dir)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(size)*float64(b.N)/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(float64(pm.heap.Load())/(1<<20), "recv_peak_heap_MiB")
	b.ReportMetric(float64(pm.rss.Load())/(1<<20), "recv_peak_rss_MiB")
}
